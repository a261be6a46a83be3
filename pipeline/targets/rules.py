"""Rules several destinations share, as functions returning RuleProblems (each destination picks its own)."""

from __future__ import annotations

from pipeline.chat.texts import message_text
from pipeline.targets.base import RuleProblem


def roles_allowed(messages: list, allowed: tuple[str, ...]) -> list[RuleProblem]:
    return [RuleProblem("unsupported_role", i, f"accepts only the roles {', '.join(allowed)} (found {m.get('role')!r})")
            for i, m in enumerate(messages, 1) if m.get("role") not in allowed]


def alternation(messages: list, first: tuple[str, ...], pair: tuple[str, str] = ("user", "assistant"),
                skip: tuple[str, ...] = ("system",), tool_role: str | None = None) -> list[RuleProblem]:
    """Leading `skip` roles, then strictly alternating `pair` roles starting with one of `first`. With a
    `tool_role`, tool answers may follow an assistant turn that called tools (and the assistant follows them)."""
    out: list[RuleProblem] = []
    i = 0
    while i < len(messages) and messages[i].get("role") in skip:
        i += 1
    rest = messages[i:]
    if not rest:
        return [RuleProblem("no_messages", None, f"needs at least one {pair[0]} and one {pair[1]} message")]
    if rest[0].get("role") not in first:
        return [RuleProblem("first_role", i + 1, f"requires the conversation to start with "
                            f"{' or '.join(first)} after the system message (found {rest[0].get('role')!r})")]
    prev = None
    for n, m in enumerate(rest, i + 1):
        role = m.get("role")
        if role in skip and n > i + 1:
            out.append(RuleProblem("system_position", n, f"accepts a {role} message only at the start"))
        elif tool_role and role == tool_role:
            if prev not in ("assistant_call", tool_role):
                out.append(RuleProblem("tool_position", n, "requires tool messages right after the assistant's tool call"))
            prev = tool_role
            continue
        elif prev is not None and role == (prev if prev in pair else None):
            out.append(RuleProblem("role_alternation", n, f"requires {pair[0]}/{pair[1]} alternation after the "
                                   f"system message (two {role} messages in a row)"))
        elif tool_role is not None and prev == tool_role and role != pair[1]:
            out.append(RuleProblem("tool_position", n, f"requires the {pair[1]} to answer after tool results"))
        prev = "assistant_call" if role == pair[1] and m.get("tool_calls") else role
    return out


def ends_with(messages: list, role: str) -> list[RuleProblem]:
    if messages and messages[-1].get("role") != role:
        return [RuleProblem("last_role", len(messages), f"requires the last message to be from the {role}")]
    return []


def reserved_strings(messages: list, reserved: tuple[str, ...], system: list[str] = ()) -> list[RuleProblem]:
    out = []
    for n, m in enumerate(messages, 1):
        text = message_text(m)
        found = [s for s in reserved if s in text]
        if found:
            out.append(RuleProblem("reserved_string", n, f"fails a job whose text contains {', '.join(map(repr, found))}"))
    for text in system:
        found = [s for s in reserved if s in text]
        if found:
            out.append(RuleProblem("reserved_string", None, f"fails a job whose system prompt contains "
                                   f"{', '.join(map(repr, found))}"))
    return out


def text_only(messages: list) -> list[RuleProblem]:
    """Every message's content is a string or a list of text parts (no images, audio, files)."""
    out = []
    for n, m in enumerate(messages, 1):
        c = m.get("content")
        if isinstance(c, list) and any(not (isinstance(p, dict) and p.get("type") == "text") for p in c):
            out.append(RuleProblem("non_text_content", n, "accepts only text content"))
    return out


def has_trained_reply(messages: list) -> list[RuleProblem]:
    if not any(m.get("role") == "assistant" and m.get("weight", 1) != 0 for m in messages):
        return [RuleProblem("no_assistant", None, "needs at least one trained assistant message")]
    return []
