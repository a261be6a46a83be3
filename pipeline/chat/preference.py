"""The one place that knows where a preference example keeps its two replies (docs/preference-design.md).

A preference example is a chat example (`messages` = the prompt, then the chosen reply as the last message)
plus `preference.rejected`, one assistant message:

    {"messages": [...prompt, chosen], "tools"?: [...], "preference": {"rejected": {...}, "signal": ...}}

Stages and writers read the sides through these accessors, never through the key itself.
"""

from __future__ import annotations

KEY = "preference"


def is_preference(example: dict) -> bool:
    """Whether `example` is a preference pair (it carries a rejected reply beside its chat)."""
    return isinstance(example.get(KEY), dict)


def rejected(example: dict) -> dict:
    """The non-preferred assistant message (KeyError when `example` is not a preference pair)."""
    return example[KEY]["rejected"]


def chosen(example: dict) -> dict:
    """The preferred assistant message: the chat's last message."""
    return example["messages"][-1]


def prompt(example: dict) -> list[dict]:
    """The messages both replies answer: all but the chosen reply."""
    return example["messages"][:-1]


def signal(example: dict) -> str:
    """Where the pair came from: "explicit", "ratings" or "edits" (explicit when not said)."""
    return str(example[KEY].get("signal") or "explicit")


def scores(example: dict) -> tuple | None:
    """(chosen_score, rejected_score) as the pair holds them (the ratings layout sets both), or None."""
    info = example[KEY]
    if info.get("chosen_score") is None or info.get("rejected_score") is None:
        return None
    return info["chosen_score"], info["rejected_score"]


def sides(example: dict) -> list[list[dict]]:
    """The message lists a stage screens: [prompt + chosen, [rejected]] for a pair, [messages] otherwise."""
    if not is_preference(example):
        return [example["messages"]]
    return [example["messages"], [rejected(example)]]


def with_rejected(example: dict, message: dict) -> dict:
    """A copy of the pair whose rejected reply is `message` (stages that rewrite text write back through it)."""
    return {**example, KEY: {**example[KEY], "rejected": message}}


def chat_part(example: dict) -> dict:
    """The example without its preference key: prompt + chosen as an ordinary chat example."""
    return {k: v for k, v in example.items() if k != KEY}


def is_empty_reply(message: dict) -> bool:
    """No text and no tool call: nothing to prefer (a layout rejects such a side as missing_<side>, heuristics
    as empty_side once normalize or pii emptied it)."""
    if message.get("tool_calls") or message.get("function_call"):
        return False
    content = message.get("content")
    if isinstance(content, str):
        return not content.strip()
    if isinstance(content, list):
        return not any(isinstance(p, dict) and (p.get("type") != "text" or str(p.get("text") or "").strip())
                       for p in content)
    return True


def pair(example: dict) -> dict:
    """{"prompt", "chosen", "rejected", "tools"?}: the form the round-trip tests compare every writer's file in."""
    out = {"prompt": prompt(example), "chosen": [chosen(example)], "rejected": [rejected(example)]}
    if example.get("tools"):
        out["tools"] = example["tools"]
    return out
