"""tokens' truncation (on_overflow: truncate): drop the oldest turns after the leading system message(s) until
the example fits; the kept part starts with a user message and still ends on an assistant message with
weight != 0. With a tiktoken counter the cut comes from per-message counts (fit_by_dropping_oldest_turns); an
open model's template renders the whole conversation, so each candidate cut is counted again."""

from __future__ import annotations

import json

from pipeline.chat.token_counting import capped
from pipeline.engine.records import dumps_example
from pipeline.targets.base import Target
from pipeline.targets.counting import open_counter


def truncate(text: str, counter, limit: int, target: Target, spec, cache: str):
    """(new example text, (total, assistant, n_messages) after, messages removed), or (None, None, why) when it
    cannot fit. With a tiktoken counter the cut is computed from per-message counts; an open model's template
    renders the whole conversation, so each candidate cut is counted again (the earliest that fits wins)."""
    obj = json.loads(text)
    cut, why = find_cut(obj, text, counter, limit, spec, cache)
    if cut is None:
        return None, None, why
    obj = {**obj, "messages": obj["messages"][:cut[0]] + obj["messages"][cut[1]:]}
    if counter is None:
        total, trained = open_counter(spec, cache).count(obj)
        return dumps_example(obj), (total, trained, len(obj["messages"])), cut[1] - cut[0]
    after = counter.example(obj)
    return dumps_example(obj), (after.total, after.assistant, len(after.messages)), cut[1] - cut[0]


def find_cut(obj: dict, text: str, counter, limit: int, spec, cache: str) -> tuple[tuple[int, int] | None, str]:
    """The messages [head, start) whose removal makes the example (`obj`, parsed from `text`) fit, or (None, why)."""
    if counter is None:
        return _cut_by_recount(obj, open_counter(spec, cache), limit)
    return fit_by_dropping_oldest_turns(obj["messages"], counter.example(obj, capped(text, limit)), limit)


def _cut_by_recount(obj: dict, counter, limit: int) -> tuple[tuple[int, int] | None, str]:
    messages = obj["messages"]
    head = 0
    while head < len(messages) and messages[head].get("role") == "system":
        head += 1
    if not messages or messages[-1].get("role") != "assistant":
        return None, "it does not end on an assistant message"
    for k in range(head + 1, len(messages)):
        if messages[k].get("role") != "user":
            continue
        cut = {**obj, "messages": messages[:head] + messages[k:]}
        if not any(m.get("role") == "assistant" and m.get("weight", 1) != 0 for m in cut["messages"]):
            break
        if counter.count(cut)[0] <= limit:
            return (head, k), ""
    return None, "no later user message starts a part that fits and still has a trained assistant answer"


def fit_by_dropping_oldest_turns(messages: list, count, limit: int) -> tuple[tuple[int, int] | None, str]:
    """The slice [head, start) to remove so the example fits: leading system messages stay, the rest
    starts at the earliest user message that makes it fit, and must still end on an assistant message
    with weight != 0. Returns (None, why) when no such cut exists."""
    head = 0
    while head < len(messages) and isinstance(messages[head], dict) and messages[head].get("role") == "system":
        head += 1
    last = messages[-1] if messages else None
    if not (isinstance(last, dict) and last.get("role") == "assistant"):
        return None, "it does not end on an assistant message"
    trained_after = [False] * (len(messages) + 1)  # trained_after[k]: an assistant with weight != 0 at >= k
    for k in range(len(messages) - 1, -1, -1):
        m = messages[k]
        trained_after[k] = trained_after[k + 1] or (isinstance(m, dict) and m.get("role") == "assistant"
                                                    and m.get("weight", 1) != 0)
    base = sum(count.messages[:head]) + count.fixed
    starts = [k for k in range(head + 1, len(messages))
              if isinstance(messages[k], dict) and messages[k].get("role") == "user" and trained_after[k]]
    if not starts:
        return None, "no later user message starts a part that still has a trained assistant answer"
    suffix = [0] * (len(messages) + 1)
    for k in range(len(messages) - 1, -1, -1):
        suffix[k] = suffix[k + 1] + count.messages[k]
    fitting = [k for k in starts if base + suffix[k] <= limit]
    if fitting:
        return (head, fitting[0]), ""  # the earliest start that fits: the fewest oldest turns removed
    over = "" if count.exact or starts[-1] >= count.first_exact else "over "
    return None, (f"the shortest part that can be kept (system prompt and tools, then messages {starts[-1] + 1}.."
                  f"{len(messages)}) needs {over}{base + suffix[starts[-1]]:,} tokens")
