"""Shared conversation cleanup for every layout: roles, trim, empty, merge, trailing turns, system prompt."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

_TOOLISH = ("tool_calls", "function_call")
DROP = "drop"  # the role of a speaker label whose lines are not messages (roles: {action: drop})


@dataclass
class Turn:
    message: dict  # OpenAI message: role, content, and any passthrough keys
    rows: list[int] = field(default_factory=list)  # raw rows this message came from (messages layout only)
    label: str | None = None  # the speaker label as written in `roles` (set when the role is drop)


def dropped_label_key(label: str | None) -> str:
    """The count of one label's dropped lines (beside the total, dropped_role)."""
    return f"dropped_role:{label}"


class RoleMap:
    """Raw speaker label -> OpenAI role, matched after strip + casefold; unknown labels are never guessed."""

    def __init__(self, roles: dict[str, str], input_index: int):
        self._map = {k.strip().casefold(): v for k, v in roles.items()}
        self._names = {k.strip().casefold(): k for k in roles}
        self._known = ", ".join(sorted(roles))
        self._key = f"inputs[{input_index}].roles"

    def get(self, label) -> str | None:
        """The role of a label (DROP for a label whose lines are not messages), None when unknown."""
        return self._map.get(str(label).strip().casefold()) if label is not None else None

    def name_of(self, label) -> str | None:
        """The label as written in `roles` (the key its drops are counted under), None when unknown."""
        return self._names.get(str(label).strip().casefold()) if label is not None else None

    def dropped(self, label, where: str) -> str:
        return f"{where}: speaker {self.name_of(label)!r} is mapped to drop in {self._key}: its lines are not messages"

    def unknown(self, label, where: str) -> str:
        shown = "an empty speaker label" if label in (None, "") else f"speaker {label!r}"
        return f"{where}: {shown} is not in {self._key} (known: {self._known}); add it there to map it"


def _plain(m: dict) -> bool:
    return isinstance(m.get("content"), str) and set(m) <= {"role", "content"}


def _is_empty(m: dict) -> bool:
    c = m.get("content")
    if isinstance(c, str) and c and not c.isspace():  # the common case, decided without looking further
        return False
    if any(m.get(k) for k in _TOOLISH):
        return False
    return c is None or (isinstance(c, str) and not c.strip()) or (isinstance(c, list) and not c)


def clean_turns(turns: list[Turn], cfg, counts: Counter) -> tuple[list[Turn], list[tuple[list[int], str, str]], str | None]:
    """Apply the convert options. Returns (turns kept, dropped turns as (rows, reason, detail), reject reason).

    A dropped turn that came from raw rows is reported with those rows; turns without rows (one row =
    one example layouts) are only counted.
    """
    dropped: list[tuple[list[int], str, str]] = []

    def drop(t: Turn, reason: str, what: str) -> None:
        counts[reason] += 1
        if t.rows:
            where = "row " + ", ".join(map(str, t.rows)) if len(t.rows) < 4 else f"rows {t.rows[0]}–{t.rows[-1]}"
            dropped.append((t.rows, reason, f"{where}: {what}"))

    trim, drop_empty, merge = cfg.trim_whitespace, cfg.drop_empty_messages, cfg.merge_consecutive
    out: list[Turn] = []
    prev = None  # out[-1].message
    for t in turns:  # per message of every conversation: the common case decided with the fewest lookups
        m = t.message
        role, content = m.get("role"), m.get("content")
        if role == DROP:
            drop(t, "dropped_role", f"speaker {t.label!r} is mapped to drop in roles: its lines are not messages")
            counts[dropped_label_key(t.label)] += 1
            continue
        if trim and isinstance(content, str):
            stripped = content.strip()
            if stripped != content:
                counts["trimmed"] += 1
                content = stripped
                m = {**m, "content": stripped}
                t = Turn(m, t.rows)
        if drop_empty and not (isinstance(content, str) and content and not content.isspace()) and _is_empty(m):
            drop(t, "empty_message", f"empty {role} message dropped")
            continue
        if merge and prev is not None and prev["role"] == m["role"] and _plain(prev) and _plain(m):
            joined = prev["content"] + cfg.merge_separator + content if prev["content"] else content
            prev = {**prev, "content": joined}
            out[-1] = Turn(prev, out[-1].rows + t.rows)
            counts["merged"] += 1
            continue
        out.append(t)
        prev = m
    last_assistant = next((i for i in range(len(out) - 1, -1, -1) if out[i].message.get("role") == "assistant"), -1)
    if last_assistant < 0:
        return out, dropped, "no_assistant_message"
    if cfg.drop_trailing_turns:
        for t in out[last_assistant + 1:]:
            drop(t, "trailing_turn", f"{t.message.get('role')} message after the last assistant answer dropped")
        out = out[: last_assistant + 1]
    if cfg.system_prompt and not any(t.message.get("role") == "system" for t in out):
        out.insert(0, Turn({"role": "system", "content": cfg.system_prompt}))
        counts["system_added"] += 1
    return out, dropped, None


def clean_plain_turns(rows: list[int], roles: list[str], texts: list[str], cfg, counts: Counter
                      ) -> tuple[list[Turn], list[tuple[list[int], str, str]], str | None]:
    """clean_turns for a conversation of plain messages, message i = {"role": roles[i], "content": texts[i]}
    from row rows[i] (a string, never a role mapped to drop: the messages layout), without building a Turn
    per message first. The same result, counts in the same order (tests/test_convert.py compares them)."""
    dropped: list[tuple[list[int], str, str]] = []
    trim, drop_empty, merge, sep = cfg.trim_whitespace, cfg.drop_empty_messages, cfg.merge_consecutive, cfg.merge_separator
    out_roles: list[str] = []
    out_texts: list[str] = []
    out_rows: list[list[int]] = []
    for row, role, content in zip(rows, roles, texts):
        if trim:
            stripped = content.strip()
            if stripped != content:
                counts["trimmed"] += 1
                content = stripped
        if drop_empty and (not content or content.isspace()):
            counts["empty_message"] += 1
            dropped.append(([row], "empty_message", f"row {row}: empty {role} message dropped"))
            continue
        if merge and out_roles and out_roles[-1] == role:
            prev = out_texts[-1]
            out_texts[-1] = prev + sep + content if prev else content
            out_rows[-1] = out_rows[-1] + [row]
            counts["merged"] += 1
            continue
        out_roles.append(role)
        out_texts.append(content)
        out_rows.append([row])
    out = [Turn({"role": role, "content": text}, r) for role, text, r in zip(out_roles, out_texts, out_rows)]
    last_assistant = next((i for i in range(len(out_roles) - 1, -1, -1) if out_roles[i] == "assistant"), -1)
    if last_assistant < 0:
        return out, dropped, "no_assistant_message"
    if cfg.drop_trailing_turns and last_assistant + 1 < len(out):
        for t in out[last_assistant + 1:]:
            counts["trailing_turn"] += 1
            where = "row " + ", ".join(map(str, t.rows)) if len(t.rows) < 4 else f"rows {t.rows[0]}–{t.rows[-1]}"
            dropped.append((t.rows, "trailing_turn",
                            f"{where}: {t.message['role']} message after the last assistant answer dropped"))
        out = out[: last_assistant + 1]
    if cfg.system_prompt and not any(t.message["role"] == "system" for t in out):
        out.insert(0, Turn({"role": "system", "content": cfg.system_prompt}))
        counts["system_added"] += 1
    return out, dropped, None
