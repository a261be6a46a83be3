"""Reading the cells of a preference row, shared by the three preference layouts (docs/preference-design.md, 4):
messages mapped as in the conversations layout (roles, keys, extra_keys, text parts under
`columns.part_text_key`), the prompt (`columns.messages`, or `columns.prompt` as a user text, with an optional
`columns.system`), a reply cell (a text or a message object) and the tools. Each reader returns
(value, None) or (None, (reason, detail)), the detail naming the row and the column.
"""

from __future__ import annotations

from collections import Counter

from pipeline.convert.conversation_cells import parse_cell, response_message, system_text
from pipeline.convert.message_keys import extra_key_detail, map_message
from pipeline.convert.preference_pairs import Problem
from pipeline.convert.turns import RoleMap

_RESPONSE_CODES = {"missing_response": "missing_{side}", "invalid_response": "invalid_{side}"}


class MessageMapper:
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
        """A reply cell as a message; its problems are `missing_<side>` / `invalid_<side>`."""
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


def prompt_messages(rec: dict, c, mapper: MessageMapper, row: int) -> tuple[list[dict] | None, Problem | None]:
    """The prompt of a row: `columns.messages` or `columns.prompt` (a user text), after `columns.system`."""
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
    return prompt, None


def row_replies(rec: dict, mapper: MessageMapper, row: int, sides: tuple[tuple[str, str], ...]):
    """The replies of one row, [(side, column), ...] -> ([message, ...], None), or (None, the first problem)."""
    replies = []
    for side, col in sides:
        reply, bad = mapper.reply(rec[col], side, f"row {row}, column {col!r}")
        if bad:
            return None, bad
        replies.append(reply)
    return replies, None


def row_tools(rec: dict, c, row: int) -> tuple[dict, Problem | None]:
    """{"tools": [...]} from `columns.tools`, {} when it is not set or the cell is empty."""
    if not c.tools or rec.get(c.tools) in (None, ""):
        return {}, None
    value, bad = parse_cell(rec[c.tools], f"row {row}, column {c.tools!r}")
    return ({"tools": value} if value is not None else {}), bad
