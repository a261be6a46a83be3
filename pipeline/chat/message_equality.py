"""When two chat messages count as the same: equal after folding case and whitespace, ids and weights aside.

dedup's exact and prompt fingerprints hash this form, and heuristics' `identical_pair` compares a pair's two
replies with it, so "the same reply" means one thing everywhere. Every string (content, names, tool-call
arguments, nested values) is casefolded and its whitespace runs collapsed; `tool_call_id`, `weight` and each
tool call's `id` are left out (random ids and training weights do not make a message different).
"""

from __future__ import annotations


def normalized(value):
    """`value` with every string casefolded and whitespace-collapsed, recursively through lists and dicts."""
    if isinstance(value, str):
        return " ".join(value.casefold().split())
    if isinstance(value, list):
        return [normalized(v) for v in value]
    if isinstance(value, dict):
        return {k: normalized(v) for k, v in value.items()}
    return value


def message_key(message) -> object:
    """The comparable form of one message: normalized, without tool_call_id, weight and tool-call ids."""
    if not isinstance(message, dict):
        return normalized(message)
    out = {k: v for k, v in message.items() if k not in ("tool_call_id", "weight")}
    if isinstance(out.get("tool_calls"), list):
        out["tool_calls"] = [{k: v for k, v in c.items() if k != "id"} if isinstance(c, dict) else c
                             for c in out["tool_calls"]]
    return normalized(out)


def same_message(a, b) -> bool:
    """Whether two messages are equal in the sense above ("Paris." and " paris. " are)."""
    return message_key(a) == message_key(b)
