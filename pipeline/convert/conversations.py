"""`conversations` layout: one row per conversation with a list of messages (native or JSON text).

Key mapping covers OpenAI (`role`/`content`) and ShareGPT (`from`/`value`). OpenAI-format rows pass
through intact: extra message keys (tool_calls, tool_call_id, name, weight, ...) and the top-level
`tools`, `parallel_tool_calls`, `functions` columns are kept as they are.
"""

from __future__ import annotations

import json

import polars as pl

from pipeline.convert.sink import ConversionSink
from pipeline.convert.tool_calls import convert_tool_turns
from pipeline.convert.turns import RoleMap, Turn
from pipeline.ingest.readers import ROW

TOP_LEVEL = ("tools", "parallel_tool_calls", "functions")


def _parse(cell, row: int, column: str):
    """A cell that holds a JSON value as text, or a native value. Returns (value, error detail)."""
    if not isinstance(cell, str):
        return cell, None
    try:
        return json.loads(cell), None
    except json.JSONDecodeError as e:
        return None, f"row {row}, column {column!r}: invalid JSON: {e.msg} at character {e.pos}"


def convert_conversations(frame: pl.DataFrame, inp, index: int, sink: ConversionSink) -> None:
    c = inp.columns
    roles = RoleMap(inp.roles, index)
    top_cols = {k: (c.tools if k == "tools" and c.tools else k) for k in TOP_LEVEL}
    top_cols = {k: col for k, col in top_cols.items() if col in frame.columns}
    for rec in frame.iter_rows(named=True):
        row = rec[ROW]
        where = f"row {row}, column {c.messages!r}"
        messages, err = _parse(rec[c.messages], row, c.messages)
        if err:
            sink.reject([row], "invalid_json", err)
            continue
        if not isinstance(messages, list) or not messages:
            sink.reject([row], "malformed_conversation", f"{where}: expected a non-empty list of messages")
            continue
        turns, bad = [], None
        for n, msg in enumerate(messages, start=1):
            if not isinstance(msg, dict) or c.role_key not in msg:
                bad = ("malformed_message", f"{where}, message {n}: expected an object with a {c.role_key!r} key")
                break
            role = roles.get(msg[c.role_key])
            if role is None:
                bad = ("unknown_role", roles.unknown(msg[c.role_key], f"{where}, message {n}"))
                break
            out = {"role": role}
            if c.content_key in msg:  # an assistant tool call may have no content key at all: keep it so
                out["content"] = msg[c.content_key]
            out.update({k: v for k, v in msg.items() if k not in (c.role_key, c.content_key) and v is not None})
            turns.append(Turn(out, label=roles.name_of(msg[c.role_key])))
        top: dict = {}
        for key, col in top_cols.items():
            value, err = _parse(rec[col], row, col) if rec[col] not in (None, "") else (None, None)
            if err:
                bad = ("invalid_json", err)
            elif value is not None:
                top[key] = value
        if not bad and inp.tool_calls:
            turns, top, bad = convert_tool_turns(messages, turns, top, inp.tool_calls, c.role_key,
                                                 f"row {row}", f"{sink.path}\x00{row}")
        if bad:
            sink.counts[bad[0]] += 1
            sink.reject([row], *bad)
            continue
        key = f"id={rec[c.id]}" if c.id and rec[c.id] is not None else f"row{row}"
        sink.add(turns, [row], key, where.split(",")[0], meta={m: rec.get(m) for m in inp.metadata}, top_level=top)
