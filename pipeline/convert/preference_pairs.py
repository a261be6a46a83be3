"""The internal preference example, built once for every preference layout (docs/preference-design.md).

A preference example is a chat example whose last message is the preferred (chosen) assistant reply, plus
one top-level key `preference` holding the non-preferred reply and where the pair came from:

    {"messages": [...prompt, chosen], "tools"?: [...], "parallel_tool_calls"?: ...,
     "preference": {"rejected": {assistant message}, "signal": "explicit" | "ratings" | "edits",
                    "chosen_score"?: number, "rejected_score"?: number}}

So `messages` is a valid SFT example (prompt + chosen) that the stages already read; the rejected side is
one message beside it. The prompt is `messages[:-1]` and ends on a user (or tool) message.
"""

from __future__ import annotations

import hashlib
from collections import Counter

from pipeline.chat.preference import is_empty_reply
from pipeline.convert.turns import Turn, clean_turns
from pipeline.engine.records import dumps_example

Problem = tuple[str, str]
_CHOSEN = "\x00chosen"  # marks the chosen turn through the cleanup, to see it was not merged into the prompt


def _trimmed(message: dict, cfg, counts: Counter) -> dict:
    if cfg.trim_whitespace and isinstance(message.get("content"), str) and \
            message["content"].strip() != message["content"]:
        counts["trimmed"] += 1
        return {**message, "content": message["content"].strip()}
    return message


def reply_problem(message: dict, side: str, where: str) -> Problem | None:
    """Why `message` cannot be the `side` reply of a pair: not the assistant's, or empty."""
    if message.get("role") != "assistant":
        return (f"invalid_{side}", (f"{where}: the {side} reply is a {message.get('role')} message; "
                                   f"expected the assistant's reply"))
    if is_empty_reply(message):
        return (f"missing_{side}", f"{where}: the {side} reply is empty")
    return None


def _prompt_and_chosen(prompt: list[Turn], chosen: dict, cfg, counts: Counter,
                       where: str) -> tuple[list[dict] | None, Problem | None]:
    """The cleaned messages (prompt + chosen), or `prompt_not_ending_on_user`."""
    chosen = _trimmed(chosen, cfg, counts)  # here: the cleanup's own trim would lose the turn's mark
    kept, _, _ = clean_turns([*prompt, Turn(chosen, label=_CHOSEN)], cfg, counts)
    if not kept or kept[-1].label != _CHOSEN:
        return None, ("prompt_not_ending_on_user", (f"{where}: the prompt ends on an assistant message; a preference "
                                                   f"prompt ends on the user's (or a tool's) turn"))
    messages = [t.message for t in kept]
    if len(messages) < 2 or messages[-2].get("role") not in ("user", "tool"):
        last = messages[-2].get("role") if len(messages) >= 2 else None
        what = f"ends on a {last} message" if last else "is empty"
        return None, ("prompt_not_ending_on_user", (f"{where}: the prompt {what}; a preference prompt ends on the "
                                                   f"user's (or a tool's) turn"))
    return messages, None


def prompt_problem(prompt: list[Turn], cfg, where: str) -> Problem | None:
    """The prompt's own problem, whatever reply answers it (layouts that pair one prompt several times check
    it once): after the cleanup it must end on a user or tool turn. Counts nothing."""
    return _prompt_and_chosen(prompt, {"role": "assistant", "content": "reply"}, cfg, Counter(), where)[1]


def build_pair(prompt: list[Turn], chosen: dict, rejected: dict, cfg, counts: Counter, where: str,
               top_level: dict | None = None, signal: str = "explicit",
               scores: tuple[float, float] | None = None) -> tuple[dict | None, Problem | None]:
    """The preference example of a prompt and two assistant replies, after the convert options (trim, empty
    messages, merge, system prompt) — or the reject (reason, detail)."""
    for side, message in (("chosen", chosen), ("rejected", rejected)):
        bad = reply_problem(message, side, where)
        if bad:
            return None, bad
    messages, bad = _prompt_and_chosen(prompt, chosen, cfg, counts, where)
    if bad:
        return None, bad
    rejected = _trimmed(rejected, cfg, counts)
    if messages[-1] == rejected:
        return None, ("identical_pair", f"{where}: the chosen and rejected replies are identical")
    info: dict = {"rejected": rejected, "signal": signal}
    if scores is not None:
        info["chosen_score"], info["rejected_score"] = scores
    return {"messages": messages, **(top_level or {}), "preference": info}, None


def prompt_group(example: dict) -> str:
    """The split's group of a pair: its prompt (messages before the chosen reply, and the tools), so pairs of
    one prompt never straddle train and validation, whichever file or row they come from."""
    prompt = {"messages": example["messages"][:-1], "tools": example.get("tools")}
    return "prompt:" + hashlib.blake2b(dumps_example(prompt).encode(), digest_size=8).hexdigest()
