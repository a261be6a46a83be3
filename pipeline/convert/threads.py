"""`threads` layout: one row per message with a message id and a reply-to link (support tweets, forum and
OpenAssistant-style trees). Rebuilds the reply trees and emits root-to-leaf paths as conversations.

Links: columns.parent (the id this message answers; empty for a root) or, when there is no parent
column, columns.children (ids of the replies, several in one cell separated by tree.id_separator,
as twcs' response_tweet_id). Ids are compared as stripped text ("123.0" reads as "123").
- paths: all -> every root-to-leaf path is one example; longest -> one per tree (the most messages, the
  first in file order on a tie); messages on other branches are rejected (not_on_longest_path).
- a message whose parent is not in the file starts its own thread (orphans: own_thread, counted as
  orphan_thread) or is rejected with all its replies (orphans: reject -> missing_parent).
- reply chains that loop are rejected with every message hanging off the loop (reply_cycle).
- duplicate ids: the first row keeps the id, later ones are rejected (duplicate_message_id); an empty
  id is missing_message_id.
- message_where: a message whose row does not match is left out with its replies (message_filtered);
  a message whose label is mapped to drop is left out of every path, its replies kept (dropped_role).
Roles are decided per tree (speaker_roles by position: the root's author is the user). Every path of
a tree has the tree's group id, so paths sharing a prefix never straddle train and validation.
Paths that become the same conversation (the same rows: a dropped message or trailing user turns
trimmed away were all that told them apart) are emitted once, the others counted as collapsed_path.
"""

from __future__ import annotations

import re

import polars as pl

from pipeline.convert.message_filters import FILTERED, POSITION, message_where_misses, prune_subtrees
from pipeline.convert.sink import ConversionSink
from pipeline.convert.speaker_roles import assign_roles, require_column
from pipeline.convert.turns import DROP, RoleMap, Turn, dropped_label_key
from pipeline.ingest.readers import ROW

_INT_FLOAT = re.compile(r"^-?\d+\.0+$")


def norm_id(value) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    if _INT_FLOAT.match(text):
        text = text.split(".")[0]
    return text or None


def build_forest(ids: list[str | None], parents: list[str | None]):
    """Reply trees from (id, parent id) per row, in row order.

    Returns (children: dict[node -> [node]], roots: [node], problems: {node: (reason, detail)}), where a
    node is a row position. Problem reasons: missing_message_id, duplicate_message_id, missing_parent
    (the parent id is not in the data), reply_cycle. Nodes with problems are in no tree; callers decide
    what to do with missing_parent (own thread or reject)."""
    problems: dict[int, tuple[str, str]] = {}
    first: dict[str, int] = {}
    for i, key in enumerate(ids):
        if key is None:
            problems[i] = ("missing_message_id", "the message id is empty")
        elif key in first:
            problems[i] = ("duplicate_message_id", f"message id {key!r} is already used by an earlier row")
        else:
            first[key] = i
    parent_of: dict[int, int | None] = {}
    for i, p in enumerate(parents):
        if i in problems:
            continue
        if p is None:
            parent_of[i] = None
        elif p not in first:
            problems[i] = ("missing_parent", f"replies to message id {p!r}, which is not in the data")
        else:
            parent_of[i] = first[p]
    # walk up from every node: it reaches a root ("ok"), a rejected message, or a loop ("bad")
    state: dict[int, str] = {}
    for start in parent_of:
        chain: dict[int, int] = {}  # node -> position on the walk
        node, outcome = start, "ok"
        while node is not None:
            if node in state or node in problems:
                outcome = state.get(node, "bad")
                break
            if node in chain:
                loop = list(chain)[chain[node]:]
                shown = " -> ".join(repr(ids[n]) for n in loop + [node])
                for n in loop:
                    problems[n], state[n] = ("reply_cycle", f"the reply chain loops: {shown}"), "bad"
                outcome = "bad"
                break
            chain[node] = len(chain)
            node = parent_of[node]
        for n in reversed(list(chain)):  # nearest the end first, so a parent's reason is known
            if n in state:
                continue
            state[n] = outcome
            if outcome == "bad":
                reason = problems[parent_of[n]][0]
                reason = "reply_cycle" if reason == "reply_cycle" else "missing_parent"
                problems[n] = (reason, f"replies to message id {ids[parent_of[n]]!r}, which is rejected ({reason})")
    children: dict[int, list[int]] = {}
    roots = []
    for i in sorted(parent_of):
        if i in problems:
            continue
        if parent_of[i] is None:
            roots.append(i)
        else:
            children.setdefault(parent_of[i], []).append(i)
    return children, roots, problems


def paths_of(root: int, children: dict[int, list[int]]) -> list[list[int]]:
    """Every root-to-leaf path, depth first, children in row order (iterative: deep threads are fine)."""
    out, stack = [], [(root, [root])]
    while stack:
        node, path = stack.pop()
        kids = children.get(node)
        if not kids:
            out.append(path)
            continue
        for kid in reversed(kids):
            stack.append((kid, path + [kid]))
    return out


def _parents(frame: pl.DataFrame, inp, ids: list[str | None]) -> list[str | None]:
    c = inp.columns
    if c.parent:
        return [norm_id(v) for v in frame[c.parent].to_list()]
    parents: list[str | None] = [None] * len(ids)
    position = {k: i for i, k in reversed(list(enumerate(ids))) if k is not None}
    for i, cell in enumerate(frame[c.children].to_list()):
        for kid in (norm_id(x) for x in str(cell or "").split(inp.tree.id_separator)):
            j = position.get(kid) if kid else None
            if j is not None and parents[j] is None and j != i:
                parents[j] = ids[i]
            elif j == i:
                parents[j] = ids[i]  # a message replying to itself is a one-message loop
    return parents


def convert_threads(frame: pl.DataFrame, inp, index: int, sink: ConversionSink) -> None:
    c, opts, options = inp.columns, inp.tree, inp.speaker_roles
    for key, col in (("id", c.id), ("parent", c.parent), ("children", c.children), ("role", c.role),
                     ("content", c.content)):
        if col:
            require_column(frame, col, f"inputs[{index}].columns.{key}", sink.path)
    if options.column:
        require_column(frame, options.column, f"inputs[{index}].speaker_roles.column", sink.path)
    rows = frame[ROW].to_list()
    ids = [norm_id(v) for v in frame[c.id].to_list()]
    parents = _parents(frame, inp, ids)
    if opts.orphans == "own_thread":  # a reply to an absent message is a root
        known = set(ids)
        for i, p in enumerate(parents):
            if p is not None and p not in known:
                parents[i] = None
                sink.counts["orphan_thread"] += 1
    children, roots, problems = build_forest(ids, parents)
    for i, (reason, detail) in sorted(problems.items()):
        sink.counts[reason] += 1
        sink.reject([rows[i]], reason, f"row {rows[i]}, column {c.id!r}: {detail}")
    roots, children = _filter_messages(frame, inp, index, sink, roots, children, ids)
    labels = frame[c.role].to_list()
    texts = frame[c.content].to_list()
    helper = frame[options.column].to_list() if options.column else None
    records = frame.select(inp.metadata).to_dicts() if inp.metadata else None
    roles = RoleMap(inp.roles, index)
    for root in roots:
        paths = paths_of(root, children)
        nodes = list(dict.fromkeys(n for p in paths for n in p))
        where = f"thread {ids[root]!r}"
        value = next((helper[n] for n in nodes if helper[n] is not None and str(helper[n]).strip()), None) \
            if helper else None
        got, reason, detail = assign_roles([labels[n] for n in nodes], roles, options, value,
                                           lambda k, where=where, nodes=nodes: f"{where}, row {rows[nodes[k]]}, column {c.role!r}")
        if got is None:
            sink.counts[reason] += 1
            sink.reject(sorted(rows[n] for n in nodes), reason, detail)
            continue
        role_of = dict(zip(nodes, got))
        paths = _without_dropped_labels(sink, paths, nodes, role_of, labels, roles, rows, c.role)
        if opts.paths == "longest" and len(paths) > 1:
            best = max(paths, key=len)  # max keeps the first of equals: file order
            off = sorted({n for p in paths for n in p} - set(best))
            for n in off:
                sink.counts["not_on_longest_path"] += 1
                sink.reject([rows[n]], "not_on_longest_path",
                            f"row {rows[n]}: message {ids[n]!r} is on a branch of {where} other than its longest "
                            f"path (tree.paths: longest)")
            paths = [best]
        _emit_tree(sink, paths, rows, role_of, texts, records, where, ids[root])


def _filter_messages(frame: pl.DataFrame, inp, index: int, sink: ConversionSink, roots, children, ids):
    """message_where: the messages that do not match leave their trees with every reply below them."""
    misses = message_where_misses(frame, inp, index, sink.path)
    if not misses.height:
        return roots, children
    rows = frame[ROW].to_list()
    detail_of = dict(zip(misses[POSITION].to_list(), misses["detail"].to_list()))
    roots, children, removed = prune_subtrees(roots, children, set(detail_of))
    for n, top in sorted(removed.items()):
        detail = detail_of[n] if n == top else (f"row {rows[n]}: a reply below message {ids[top]!r} (row {rows[top]}), "
                                                f"which inputs[{index}].message_where leaves out")
        sink.counts[FILTERED] += 1
        sink.reject([rows[n]], FILTERED, detail)
    return roots, children


def _without_dropped_labels(sink: ConversionSink, paths, nodes, role_of, labels, roles: RoleMap, rows, column):
    """The paths without the messages whose label is mapped to drop (each rejected once, its replies kept);
    paths that become equal are kept once (collapsed_path)."""
    dropped = [n for n in nodes if role_of[n] == DROP]
    if not dropped:
        return paths
    for n in dropped:
        sink.counts["dropped_role"] += 1
        sink.counts[dropped_label_key(roles.name_of(labels[n]))] += 1
        sink.reject([rows[n]], "dropped_role", roles.dropped(labels[n], f"row {rows[n]}, column {column!r}"))
    kept = [p for p in dict.fromkeys(tuple(n for n in p if role_of[n] != DROP) for p in paths) if p]
    sink.counts["collapsed_path"] += sum(1 for p in paths if any(role_of[n] != DROP for n in p)) - len(kept)
    return [list(p) for p in kept]


def _emit_tree(sink: ConversionSink, paths, rows, role_of, texts, records, where: str, root_id: str) -> None:
    n_examples, n_rejects = len(sink.examples), len(sink.rejects)
    for part, path in enumerate(paths):
        turns = [Turn({"role": role_of[n], "content": texts[n] if texts[n] is not None else ""}, [rows[n]])
                 for n in path]
        meta = records[path[0]] if records else None
        sink.add(turns, [rows[n] for n in path], f"thread={root_id}", where, meta=meta, part=part)
    # paths that differed only in what cleaning removed (trailing user turns) are one example: emit it once
    emitted, unique = set(), []
    for e in sink.examples[n_examples:]:
        key = (tuple(e["source_rows"]), e["example"])
        if key in emitted:
            sink.counts["collapsed_path"] += 1
            continue
        emitted.add(key)
        unique.append(e)
    sink.examples[n_examples:] = unique
    # paths share messages: a row dropped in one path (e.g. trailing there) may be exported by another;
    # report each row-only drop once, and only for rows no path of the tree exports
    exported = {r for e in sink.examples[n_examples:] for r in e["source_rows"]}
    seen, kept = set(), []
    for rec in sink.rejects[n_rejects:]:
        if rec["example"] is None:
            rec = {**rec, "source_rows": [r for r in rec["source_rows"] if r not in exported]}
            key = (rec["reason"], tuple(rec["source_rows"]), rec["detail"])
            if not rec["source_rows"] or key in seen:
                continue
            seen.add(key)
        kept.append(rec)
    sink.rejects[n_rejects:] = kept
