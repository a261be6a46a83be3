"""Message-level filters of the layouts with one row per message (`messages`, `threads`).

- `roles: {action: drop}`: the label's lines are not messages (e.g. "Account has been pulled up for …"
  notes). Each one's row is rejected as dropped_role and counted (dropped_role, dropped_role:<label>);
  the conversation around it is converted without it. (Layouts with a whole conversation in one row
  leave such turns out in turns.clean_turns and only count them.)
- `message_where:` an expression in the language of `where:`, on the raw row's columns (and joined
  metadata). A message whose row does not match is left out, its row rejected as message_filtered with
  the values that decided it; in a reply tree its replies go with it (their rows are message_filtered
  too, naming the message they hang from).
"""

from __future__ import annotations

import polars as pl

from pipeline.convert.turns import DROP, RoleMap, dropped_label_key
from pipeline.convert.where_expressions import where_mask
from pipeline.errors import UserError
from pipeline.ingest.readers import ROW
from schemas.where_syntax import columns_of, parse_where

FILTERED = "message_filtered"
POSITION = "__position"


def message_where_misses(frame: pl.DataFrame, inp, index: int, path: str) -> pl.DataFrame:
    """The rows whose message fails inputs[index].message_where, as columns POSITION (in `frame`), ROW and
    detail (the expression and the values that decided it); empty without message_where."""
    if not inp.message_where:
        return pl.DataFrame(schema={POSITION: pl.UInt32, ROW: pl.Int64, "detail": pl.Utf8})
    key = f"inputs[{index}].message_where"

    def resolve(name: str) -> str:
        if name == ROW or name not in frame.columns:
            have = ", ".join(c for c in frame.columns if c != ROW)
            raise UserError(f"{key}: column {name!r} not found in {path}; it has columns: {have}")
        return name

    used = [resolve(c) for c in columns_of(parse_where(inp.message_where))]
    values = [pl.format(f"{c}={{}}", pl.col(c).cast(pl.Utf8).fill_null("(empty)")) for c in used]
    mask = where_mask(frame, inp.message_where, resolve)
    return frame.with_row_index(POSITION).filter(~mask).select(
        POSITION, pl.col(ROW).cast(pl.Int64),
        pl.concat_str([pl.format("row {}: left out by ", pl.col(ROW)), pl.lit(f"{key} ({inp.message_where}): "),
                       pl.concat_str(values, separator=", ")]).alias("detail"))


def filter_message_rows(frame: pl.DataFrame, inp, index: int, sink) -> pl.DataFrame:
    """`messages` layout: reject the rows message_where leaves out and the rows of labels mapped to drop;
    the other rows, for conversion."""
    misses = message_where_misses(frame, inp, index, sink.path)
    if misses.height:
        for row, detail in misses.select(ROW, "detail").iter_rows():
            sink.reject([row], FILTERED, detail)
        sink.counts[FILTERED] += misses.height
        frame = frame.filter(~pl.col(ROW).is_in(misses[ROW].to_list()))
    if DROP not in inp.roles.values():
        return frame
    role, roles = inp.columns.role, RoleMap(inp.roles, index)
    dropped_labels = [label for label in frame[role].unique().to_list() if roles.get(label) == DROP]
    if not dropped_labels:
        return frame
    is_dropped = pl.col(role).is_in(dropped_labels).fill_null(False)
    for row, label in frame.filter(is_dropped).select(ROW, role).iter_rows():
        sink.reject([row], "dropped_role", roles.dropped(label, f"row {row}, column {role!r}"))
        sink.counts["dropped_role"] += 1
        sink.counts[dropped_label_key(roles.name_of(label))] += 1
    return frame.filter(~is_dropped)


def prune_subtrees(roots: list[int], children: dict[int, list[int]], cut: set[int]
                   ) -> tuple[list[int], dict[int, list[int]], dict[int, int]]:
    """A reply forest without the messages in `cut` and everything below them: (roots, children, removed
    node -> the cut message it hangs from (itself for a cut message)). Nodes are row positions."""
    removed: dict[int, int] = {}
    stack = [(n, n) for n in roots if n in cut]
    stack += [(kid, kid) for kids in children.values() for kid in kids if kid in cut]
    while stack:
        node, top = stack.pop()
        if node in removed:
            continue
        removed[node] = top
        stack += [(kid, top) for kid in children.get(node, ()) if kid not in cut]
    if not removed:
        return roots, children, removed
    kept_children = {n: [k for k in kids if k not in removed] for n, kids in children.items() if n not in removed}
    return [n for n in roots if n not in removed], {n: k for n, k in kept_children.items() if k}, removed
