"""validate's `tool_arguments_json` rule for one assistant message: every tool call's (and a legacy
function_call's) `arguments` must be the text of a JSON object. OpenAI only asks for a string; training on
broken JSON teaches broken calls."""

from __future__ import annotations

import json

from schemas.chat import AssistantMessage


def bad_arguments(message: AssistantMessage) -> list[str]:
    """'tool_calls[0].function.arguments is not a JSON object: ...' for each call of `message` whose arguments
    do not parse to a JSON object (the problem text without the message's place)."""
    calls = [(f"tool_calls[{i}]", c.function) for i, c in enumerate(message.tool_calls or ())]
    if message.function_call is not None:
        calls.append(("function_call", message.function_call))
    out = []
    for label, fn in calls:
        try:
            ok = isinstance(json.loads(fn.arguments), dict)
        except ValueError:
            ok = False
        if not ok:
            out.append(f"{label}.function.arguments is not a JSON object: {fn.arguments[:60]!r}")
    return out
