"""Speaker labels -> OpenAI roles per conversation: by label (`roles`), by position, or from a column.

by position: the 1st distinct speaker of a conversation gets speaker_roles.order[0] (default user), the
2nd order[1] (assistant), ...; more distinct speakers than roles rejects the conversation.
by column: the conversation's value in speaker_roles.column is the label of the assistant speaker;
every other speaker is the user. In both modes a label mapped to `system` in `roles` stays system, and one
mapped to `drop` stays drop (its lines are not messages, and it is no speaker).
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from pipeline.convert.turns import DROP, RoleMap
from pipeline.errors import UserError
from pipeline.ingest.readers import ROW
from schemas.inputs import DEFAULT_ROLES

ROLE_COLUMN = "__speaker_role"


def _norm(label) -> str:
    return "" if label is None else str(label).strip().casefold()


def assign_roles(labels: list, roles: RoleMap, opts, assistant_label, where_of: Callable[[int], str]
                 ) -> tuple[list[str] | None, str | None, str | None]:
    """(roles, None, None) or (None, reason code, detail). `where_of(i)` names message i for details."""
    if opts.by == "label":
        out = []
        for i, label in enumerate(labels):
            role = roles.get(label)
            if role is None:
                return None, "unknown_role", roles.unknown(label, where_of(i))
            out.append(role)
        return out, None, None
    if opts.by == "column" and _norm(assistant_label) == "":
        return None, "missing_speaker_role", (f"{where_of(0).split(',')[0]}: column {opts.column!r} is empty, "
                                              f"so it is unknown which speaker is the assistant")
    out, seen = [], {}
    for i, label in enumerate(labels):
        if roles.get(label) in ("system", DROP):
            out.append(roles.get(label))
            continue
        key = _norm(label)
        if not key:
            return None, "unknown_role", f"{where_of(i)}: an empty speaker label"
        if opts.by == "column":
            out.append("assistant" if key == _norm(assistant_label) else "user")
            continue
        if key not in seen:
            if len(seen) == len(opts.order):
                names = ", ".join(repr(str(x).strip()) for x in dict.fromkeys(
                    lab for lab in labels if _norm(lab) and roles.get(lab) not in ("system", DROP)))
                return None, "too_many_speakers", (
                    f"{where_of(i).split(',')[0]}: speakers {names}, but speaker_roles.order gives roles to "
                    f"{len(opts.order)} ({', '.join(opts.order)})")
            seen[key] = opts.order[len(seen)]
        out.append(seen[key])
    return out, None, None


def require_column(frame: pl.DataFrame, column: str, key: str, path: str) -> None:
    if column not in frame.columns:
        have = ", ".join(c for c in frame.columns if c != ROW)
        raise UserError(f"{path}: column {column!r} ({key}) not found; the table has columns: {have}")


def messages_with_roles(frame: pl.DataFrame, inp, index: int, sink) -> tuple[pl.DataFrame, object]:
    """For the messages layout with speaker_roles by position/column: write each row's role into a new
    column and return (frame, input config reading roles from it). Conversations that cannot be given
    roles are rejected here, whole."""
    c, opts = inp.columns, inp.speaker_roles
    if opts.column:
        require_column(frame, opts.column, f"inputs[{index}].speaker_roles.column", sink.path)
    roles = RoleMap(inp.roles, index)
    cid = pl.col(c.conversation_id).cast(pl.Utf8).str.strip_chars()
    order = [pl.col(c.order).cast(pl.Utf8).str.strip_chars().cast(pl.Int64, strict=False)] if c.order else []
    extra = [pl.col(opts.column).cast(pl.Utf8).alias("__assistant")] if opts.column else []
    grouped = (
        frame.with_columns(cid.alias("__cid"))
        .filter(pl.col("__cid").is_not_null() & (pl.col("__cid") != ""))
        .sort(["__cid", *order, ROW])
        .group_by("__cid", maintain_order=True)
        .agg(pl.col(ROW), pl.col(c.role).cast(pl.Utf8), *extra)
    )
    assigned: dict[int, str] = {}
    rejected: list[int] = []
    for rec in grouped.iter_rows(named=True):
        rows, labels = rec[ROW], rec[c.role]
        helper = next((v for v in rec.get("__assistant") or [] if v is not None and v.strip()), None)
        where = f"conversation {rec['__cid']!r}"
        got, reason, detail = assign_roles(labels, roles, opts, helper,
                                           lambda i, where=where, rows=rows: f"{where}, row {rows[i]}, column {c.role!r}")
        if got is None:
            sink.counts[reason] += 1
            sink.reject(list(rows), reason, detail)
            rejected += rows
            continue
        assigned.update(zip(rows, got))
    frame = frame.filter(~pl.col(ROW).is_in(rejected)) if rejected else frame
    frame = frame.with_columns(pl.col(ROW).replace_strict(assigned, default=None, return_dtype=pl.Utf8)
                               .alias(ROLE_COLUMN))
    new_inp = inp.model_copy(update={"columns": c.model_copy(update={"role": ROLE_COLUMN}),
                                     "roles": dict(DEFAULT_ROLES)})
    return frame, new_inp
