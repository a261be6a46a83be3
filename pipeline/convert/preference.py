"""`preference` layout: one row = one pair — a prompt, a preferred (chosen) and a non-preferred (rejected) reply.

The prompt is a conversation column (`columns.messages`, OpenAI or ShareGPT keys) or a text column
(`columns.prompt`), with an optional `columns.system`; each reply is a text or a message object
(`columns.chosen` / `columns.rejected`), as in LLaMA-Factory's `dpo_*` files. Or two whole conversations
(`columns.chosen_messages` / `columns.rejected_messages`, LLaMA-Factory v1) whose shared start is the prompt.
Messages map as in the conversations layout (roles, extra_keys); content parts whose text is under
`columns.part_text_key` become OpenAI text parts (one part: its text). The example is built by
preference_pairs.build_pair; the split groups pairs by prompt.
"""

from __future__ import annotations

from collections import Counter

import polars as pl

from pipeline.convert.conversation_cells import parse_cell, response_message, system_text
from pipeline.convert.conversations import DROPPED_KEYS
from pipeline.convert.message_keys import extra_key_detail, map_message
from pipeline.convert.preference_pairs import Problem, build_pair, prompt_group
from pipeline.convert.sink import ConversionSink
from pipeline.convert.turns import RoleMap, Turn
from pipeline.ingest.readers import ROW

_RESPONSE_CODES = {"missing_response": "missing_{side}", "invalid_response": "invalid_{side}"}


class _Mapper:
    """Raw messages -> OpenAI messages with the input's roles, keys and extra_keys policy."""

    def __init__(self, inp, index: int):
        self.inp, self.roles = inp, RoleMap(inp.roles, index)
        self.dropped: Counter = Counter()
        self.extras: list[list[str]] = []  # the extra keys of each message of the last `messages` call

    def message(self, raw, where: str) -> tuple[dict | None, Problem | None]:
        c = self.inp.columns
        if not isinstance(raw, dict) or c.role_key not in raw:
            return None, ("malformed_message", f"{where}: expected an object with a {c.role_key!r} key")
        role = self.roles.get(raw[c.role_key])
        if role is None:
            return None, ("unknown_role", self.roles.unknown(raw[c.role_key], where))
        out, extra = map_message(raw, role, c.role_key, c.content_key, self.inp.extra_keys)
        if extra and self.inp.extra_keys == "reject":
            return None, ("extra_message_key", extra_key_detail(where, extra[0]))
        if self.inp.extra_keys == "drop":
            self.dropped.update(extra)
        self.extras.append(extra)
        if c.part_text_key != "text" and isinstance(out.get("content"), list):
            out["content"] = _openai_parts(out["content"], c.part_text_key)
        return out, None

    def messages(self, cell, where: str) -> tuple[list[dict] | None, Problem | None]:
        raw, bad = parse_cell(cell, where)
        if bad:
            return None, bad
        if not isinstance(raw, list) or not raw:
            return None, ("malformed_conversation", f"{where}: expected a non-empty list of messages")
        out = []
        self.extras = []
        for n, item in enumerate(raw, start=1):
            message, bad = self.message(item, f"{where}, message {n}")
            if bad:
                return None, bad
            out.append(message)
        return out, None

    def reply(self, cell, side: str, where: str) -> tuple[dict | None, Problem | None]:
        c = self.inp.columns
        value, bad = response_message(cell, c.role_key, c.content_key, where)
        if bad:
            return None, (_RESPONSE_CODES[bad[0]].format(side=side), bad[1])
        if isinstance(value, str):
            return {"role": "assistant", "content": value}, None
        return self.message(value, where)


def _openai_parts(parts: list, key: str):
    """Text parts keyed `key` ({"type": "text", "value": ...}) as OpenAI's; a single text part as its text."""
    out = [{"type": "text", "text": p[key], **{k: v for k, v in p.items() if k not in ("type", key)}}
           if isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get(key), str) else p for p in parts]
    if len(out) == 1 and set(out[0]) == {"type", "text"} and out[0]["type"] == "text":
        return out[0]["text"]
    return out


def _split_conversations(rec: dict, c, mapper: _Mapper, row: int):
    """(prompt, chosen, rejected) from two whole conversations: the prompt is their shared start, and each
    must continue with exactly one assistant reply."""
    sides = {}
    for side, col in (("chosen", c.chosen_messages), ("rejected", c.rejected_messages)):
        sides[side], bad = mapper.messages(rec[col], f"row {row}, column {col!r}")
        if bad:
            return None, bad
    chosen, rejected = sides["chosen"], sides["rejected"]
    shared = 0
    while shared < min(len(chosen), len(rejected)) and chosen[shared] == rejected[shared]:
        shared += 1
    if mapper.inp.extra_keys == "drop":  # the shared prompt's keys count once, as in one conversation
        mapper.dropped.subtract(key for extra in mapper.extras[:shared] for key in extra)
        mapper.dropped = +mapper.dropped
    if shared == len(chosen) == len(rejected):
        return None, ("identical_pair", f"row {row}: the chosen and rejected conversations are identical")
    for side, messages, col in (("chosen", chosen, c.chosen_messages), ("rejected", rejected, c.rejected_messages)):
        rest = len(messages) - shared
        if rest == 0:
            return None, (f"missing_{side}", (f"row {row}, column {col!r}: no reply after the prompt the two "
                                             f"conversations share ({shared} messages)"))
        if rest > 1:
            return None, ("multi_message_side", (f"row {row}, column {col!r}: {rest} messages after the prompt the "
                                                 f"two conversations share ({shared} messages); a side is one "
                                                 f"assistant reply"))
    return (chosen[:shared], chosen[-1], rejected[-1]), None


def _pieces(rec: dict, inp, mapper: _Mapper, row: int):
    """(prompt messages, chosen, rejected) of one row, or the problem."""
    c = inp.columns
    if c.chosen_messages:
        return _split_conversations(rec, c, mapper, row)
    if c.messages:
        prompt, bad = mapper.messages(rec[c.messages], f"row {row}, column {c.messages!r}")
        if bad:
            return None, bad
    else:
        text = rec[c.prompt]
        if text is None or not str(text).strip():
            return None, ("missing_prompt", f"row {row}, column {c.prompt!r}: empty prompt")
        prompt = [{"role": "user", "content": text}]
    if c.system:
        system, bad = system_text(rec[c.system], "\n", f"row {row}, column {c.system!r}")
        if bad:
            return None, bad
        if system is not None:
            if any(m.get("role") == "system" for m in prompt):
                return None, ("system_prompt_conflict", (f"row {row}: column {c.system!r} gives a system prompt but "
                                                        f"the messages already hold one; map only one of them"))
            prompt = [{"role": "system", "content": system}, *prompt]
    replies = []
    for side, col in (("chosen", c.chosen), ("rejected", c.rejected)):
        reply, bad = mapper.reply(rec[col], side, f"row {row}, column {col!r}")
        if bad:
            return None, bad
        replies.append(reply)
    return (prompt, *replies), None


def _tools(rec: dict, c, row: int) -> tuple[dict, Problem | None]:
    if not c.tools or rec.get(c.tools) in (None, ""):
        return {}, None
    value, bad = parse_cell(rec[c.tools], f"row {row}, column {c.tools!r}")
    return ({"tools": value} if value is not None else {}), bad


def convert_preference(frame: pl.DataFrame, inp, index: int, sink: ConversionSink) -> None:
    c = inp.columns
    mapper = _Mapper(inp, index)
    for rec in frame.iter_rows(named=True):
        row = rec[ROW]
        mapper.dropped.clear()
        pieces, bad = _pieces(rec, inp, mapper, row)
        top, tools_bad = _tools(rec, c, row)
        bad = bad or tools_bad
        example = None
        if not bad:
            prompt, chosen, rejected = pieces
            example, bad = build_pair([Turn(m) for m in prompt], chosen, rejected, sink.cfg, sink.counts,
                                      f"row {row}", top)
        if bad:
            sink.counts[bad[0]] += 1
            sink.reject([row], *bad)
            continue
        sink.facts[DROPPED_KEYS].update(mapper.dropped)
        sink.add_example(example, [row], prompt_group(example), meta={m: rec.get(m) for m in inp.metadata})
