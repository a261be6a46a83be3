"""validate's checks of a preference pair beyond its chat (docs/preference-design.md, 2).

The chat (`messages` + tools: the prompt, then the chosen reply) is checked by the stage as any example.
Then the pair: the chosen reply is the chat's last message and the assistant's; the prompt before it is
not empty and ends on a user or tool turn (what both replies answer); `preference.rejected` is one valid
assistant message of the chat schema (schemas/chat.py AssistantMessage, the same model as an assistant
message of the chat) whose tool-call arguments follow `tool_arguments_json`; `preference` holds only its
known keys. Each problem is `invalid_preference` with a detail naming the side, e.g.
"the rejected reply: key 'foo' is not allowed for assistant (allowed: ...) (unknown_key)".
"""

from __future__ import annotations

from pydantic import ValidationError

from pipeline.chat import preference
from pipeline.stages.validate.tool_arguments import bad_arguments
from schemas.chat import AssistantMessage, explain_errors

INVALID = "invalid_preference"
PREFERENCE_KEYS = ("rejected", "signal", "chosen_score", "rejected_score")
PROMPT_ENDS = ("user", "tool")


def chat_of(obj: dict) -> dict:
    """The pair's chat: the example without its `preference` key (what the chat schema checks)."""
    return preference.chat_part(obj)


def pair_problems(obj: dict, tool_arguments_json: bool) -> list[tuple[str, str]]:
    """(invalid_preference, detail) for each problem of the pair; `obj` is a JSON object whose chat passed
    the chat schema (so `messages` is a non-empty list of valid messages)."""
    pref = obj.get(preference.KEY)
    if not isinstance(pref, dict):
        got = "missing" if pref is None else f"a {type(pref).__name__}, not an object"
        return [(INVALID, f"`preference` is {got}: a pair keeps its rejected reply in preference.rejected")]
    out = [(INVALID, f"preference: key {k!r} is not allowed (allowed: {', '.join(PREFERENCE_KEYS)})")
           for k in pref if k not in PREFERENCE_KEYS]
    out += _chosen_and_prompt(obj["messages"])
    if "rejected" not in pref:
        out.append((INVALID, "the rejected reply is missing (preference.rejected)"))
    else:
        out += [(INVALID, f"the rejected reply: {text}") for text in rejected_problems(pref["rejected"],
                                                                                     tool_arguments_json)]
    return out


def _chosen_and_prompt(messages: list[dict]) -> list[tuple[str, str]]:
    n = len(messages)
    role = messages[-1].get("role")
    if role != "assistant":
        why = f"the chosen reply (message {n}) is a {role} message: a pair's chat ends on the chosen assistant reply"
    elif n == 1:
        why = "the prompt is empty: the chosen reply (message 1) is the only message, so the replies answer nothing"
    elif (before := messages[-2].get("role")) not in PROMPT_ENDS:
        why = f"the prompt ends on message {n - 1} ({before}): it must end on a user or tool turn both replies answer"
    else:
        return []
    return [(INVALID, why)]


def rejected_problems(message, tool_arguments_json: bool) -> list[str]:
    """What is wrong with the rejected reply as one assistant message of the chat schema, each text
    ending with the chat schema's code in parentheses."""
    if not isinstance(message, dict):
        return [f"must be a message object, got {type(message).__name__} (invalid_messages)"]
    role = message.get("role")
    if role != "assistant":
        return [f"role {role!r} where an assistant message is expected (invalid_role)"]
    try:
        parsed = AssistantMessage.model_validate(message)
    except ValidationError as e:
        place = "message 1 (assistant): "
        return [f"{text.removeprefix(place)} ({code})"
                for code, _, text in explain_errors(e, {"messages": [message]}, ("messages", 0, "assistant"))]
    if not tool_arguments_json:
        return []
    return [f"{problem} (invalid_tool_arguments)" for problem in bad_arguments(parsed)]
