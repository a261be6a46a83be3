"""`conversations` layout: one row per conversation with a list of messages (native or JSON text).

Key mapping covers OpenAI (`role`/`content`) and ShareGPT (`from`/`value`). A message keeps its role,
its content and OpenAI's message keys (tool_calls, tool_call_id, name, weight, ...); other keys follow
`extra_keys` (message_keys.py). The top-level `tools`, `parallel_tool_calls`, `functions` columns are
kept as they are. Instead of messages, `columns.pairs` may hold [user, assistant] pairs; `columns.system`
adds a system prompt (a text or a list of texts) and `columns.response` a final assistant answer
(conversation_cells.py).
"""

from __future__ import annotations

from collections import Counter

import polars as pl

from pipeline.convert.conversation_cells import pair_turns, parse_cell, response_message, system_text
from pipeline.convert.message_keys import extra_key_detail, map_message
from pipeline.convert.sink import ConversionSink
from pipeline.convert.tool_calls import convert_tool_turns
from pipeline.convert.turns import RoleMap, Turn
from pipeline.ingest.readers import ROW

TOP_LEVEL = ("tools", "parallel_tool_calls", "functions")
DROPPED_KEYS = "dropped_message_keys"  # convert fact: extra key -> messages it was dropped from


class _Messages:
    """Maps raw messages to turns with the input's roles and extra_keys policy; notes the dropped keys."""

    def __init__(self, inp, index: int):
        self.roles, self.inp = RoleMap(inp.roles, index), inp
        self.dropped: Counter = Counter()  # extra keys dropped from the current row's messages

    def turn(self, msg, where: str) -> tuple[Turn | None, tuple[str, str] | None]:
        c = self.inp.columns
        if not isinstance(msg, dict) or c.role_key not in msg:
            return None, ("malformed_message", f"{where}: expected an object with a {c.role_key!r} key")
        role = self.roles.get(msg[c.role_key])
        if role is None:
            return None, ("unknown_role", self.roles.unknown(msg[c.role_key], where))
        out, extra = map_message(msg, role, c.role_key, c.content_key, self.inp.extra_keys)
        if extra and self.inp.extra_keys == "reject":
            return None, ("extra_message_key", extra_key_detail(where, extra[0]))
        if self.inp.extra_keys == "drop":
            self.dropped.update(extra)
        return Turn(out, label=self.roles.name_of(msg[c.role_key])), None

    def turns(self, messages: list, where: str) -> tuple[list[Turn], tuple[str, str] | None]:
        turns = []
        for n, msg in enumerate(messages, start=1):
            turn, bad = self.turn(msg, f"{where}, message {n}")
            if bad:
                return turns, bad
            turns.append(turn)
        return turns, None

    def response(self, cell, where: str) -> tuple[Turn | None, tuple[str, str] | None]:
        c = self.inp.columns
        value, bad = response_message(cell, c.role_key, c.content_key, where)
        if bad or isinstance(value, str):
            return (None, bad) if bad else (Turn({"role": "assistant", "content": value}), None)
        turn, bad = self.turn(value, where)
        if turn and turn.message["role"] != "assistant":
            bad = ("invalid_response", (f"{where}: a {turn.message['role']} message "
                                       f"({c.role_key} {value[c.role_key]!r}); expected the assistant's answer"))
        return (None, bad) if bad else (turn, None)


def _messages(rec: dict, c, mapper: _Messages, where: str):
    """(raw messages or None for pairs, turns, problem) of one row."""
    if c.pairs:
        turns, bad = pair_turns(rec[c.pairs], where)
        return None, turns, bad
    messages, err = parse_cell(rec[c.messages], where)
    if err:
        return None, None, err
    if not isinstance(messages, list) or not messages:
        return None, None, ("malformed_conversation", f"{where}: expected a non-empty list of messages")
    turns, bad = mapper.turns(messages, where)
    return messages, turns, bad


def _system_and_response(rec: dict, inp, mapper: _Messages, turns: list[Turn], row: int):
    """The turns with the system column's prompt first and the response column's answer last."""
    c = inp.columns
    if c.system:
        text, bad = system_text(rec[c.system], inp.system_separator, f"row {row}, column {c.system!r}")
        if bad:
            return turns, bad
        if text is not None:
            if any(t.message.get("role") == "system" for t in turns):
                return turns, ("system_prompt_conflict", (f"row {row}: column {c.system!r} gives a system prompt "
                                                         f"but the messages already hold one; map only one of them"))
            turns = [Turn({"role": "system", "content": text}), *turns]
    if c.response:
        answer, bad = mapper.response(rec[c.response], f"row {row}, column {c.response!r}")
        if bad:
            return turns, bad
        turns = [*turns, answer]
    return turns, None


def convert_conversations(frame: pl.DataFrame, inp, index: int, sink: ConversionSink) -> None:
    c = inp.columns
    mapper = _Messages(inp, index)
    top_cols = {k: (c.tools if k == "tools" and c.tools else k) for k in TOP_LEVEL}
    top_cols = {k: col for k, col in top_cols.items() if col in frame.columns}
    for rec in frame.iter_rows(named=True):
        row = rec[ROW]
        where = f"row {row}, column {(c.pairs or c.messages)!r}"
        mapper.dropped.clear()
        messages, turns, bad = _messages(rec, c, mapper, where)
        if bad and bad[0] in ("invalid_json", "too_deeply_nested", "malformed_conversation"):
            sink.reject([row], *bad)
            continue
        top: dict = {}
        for key, col in top_cols.items():
            value, err = (parse_cell(rec[col], f"row {row}, column {col!r}") if rec[col] not in (None, "")
                          else (None, None))
            if err:
                bad = err
            elif value is not None:
                top[key] = value
        if not bad and inp.tool_calls:
            turns, top, bad = convert_tool_turns(messages, turns, top, inp.tool_calls, c.role_key,
                                                 f"row {row}", f"{sink.path}\x00{row}")
        if not bad:
            turns, bad = _system_and_response(rec, inp, mapper, turns, row)
        if bad:
            sink.counts[bad[0]] += 1
            sink.reject([row], *bad)
            continue
        sink.facts[DROPPED_KEYS].update(mapper.dropped)
        key = f"id={rec[c.id]}" if c.id and rec[c.id] is not None else f"row{row}"
        sink.add(turns, [row], key, where.split(",")[0], meta={m: rec.get(m) for m in inp.metadata}, top_level=top)
