"""tokens for preference pairs (docs/preference-design.md, 2): the prompt once, each reply in its own conversation.

A pair is counted as its two side conversations, prompt + chosen and prompt + rejected (tools shared), each
with the target's tokenizer like any example (tiktoken, an open model's chat template, or an estimate). In
them the prompt's assistant turns carry weight 0 and the reply none, so a side's trained tokens are exactly
its reply's (the text the model writes; an open model's generation mask). From the sides' counts
(T_c, a_c) and (T_r, a_r):

  n_limit_tokens      max(T_c, T_r): the prompt + the longer reply, what must fit the per-example limit
                      (a trainer renders each side as one conversation)
  n_assistant_tokens  a_c + a_r: both replies are trained
  n_tokens            T_c + T_r - min(T_c - a_c, T_r - a_r): the prompt once (with one reply's framing) plus
                      each reply's tokens. How a provider bills a DPO example is not in its published pages,
                      so this is the BILLING estimate the cost is computed from, and the report says so.

Truncation (on_overflow: truncate) removes the oldest prompt turns as for any example: the cut is found for
each side and the later one (the one that fits the longer reply, hence both) is applied to the prompt, so
both replies stay whole.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from pipeline.chat import preference
from pipeline.engine.records import dumps_example, loads_example
from pipeline.targets.counting import TemplateRejected

SIDES = ("chosen", "rejected")
NOT_A_PAIR = "example is not a preference pair (a JSON object with a `messages` list and preference.rejected)"
BILLING = ("n_tokens per pair = the prompt once + the chosen reply + the rejected reply: an estimate (how providers "
           "bill a DPO example is not published)")
LIMIT_ON = "the prompt + the longer reply (n_limit_tokens)"
OVER = " (the prompt + the longer reply)"  # after "N tokens" in an over-limit reject

Count = tuple[int, int, int, bool]  # (total, trained, n_messages, exact), as count_texts gives it


def side_chats(example: dict) -> list[dict]:
    """[prompt + chosen, prompt + rejected] as chat examples to count: the pair's tools, the prompt's assistant
    turns at weight 0 (what a preference file trains is the replies), each reply without a weight."""
    prompt = [{**m, "weight": 0} if isinstance(m, dict) and m.get("role") == "assistant" else m
              for m in preference.prompt(example)]
    chat = preference.chat_part(example)
    return [{**chat, "messages": [*prompt, _unweighted(reply)]}
            for reply in (preference.chosen(example), preference.rejected(example))]


def _unweighted(message):
    return {k: v for k, v in message.items() if k != "weight"} if isinstance(message, dict) else message


def side_texts(text: str) -> list[str] | None:
    """The two side conversations of a pair (JSON text) as JSON texts; None when it is not a pair."""
    try:
        obj = loads_example(text)
    except (TypeError, ValueError):
        return None
    if not (isinstance(obj, dict) and isinstance(obj.get("messages"), list) and obj["messages"]
            and preference.is_preference(obj) and "rejected" in obj[preference.KEY]):
        return None
    return [dumps_example(chat) for chat in side_chats(obj)]


def combine(chosen, rejected) -> tuple[Count | TemplateRejected | None, int]:
    """(the pair's count: (n_limit_tokens, n_assistant_tokens, n_messages, exact), n_tokens) from its sides'."""
    for side, c in zip(SIDES, (chosen, rejected), strict=True):
        if isinstance(c, TemplateRejected):
            return TemplateRejected(f"(the {side} side) {c}"), 0
    if chosen is None or rejected is None:
        return None, 0
    (tc, ac, n, ec), (tr, ar, _, er) = chosen, rejected
    return (max(tc, tr), ac + ar, n, ec and er), tc + tr - min(tc - ac, tr - ar)


def count_pairs(texts: list[str], count: Callable[[list[str]], list]) -> tuple[list, list[int]]:
    """(counts as combine gives them, n_tokens) per pair text; `count` counts chat texts (count_texts)."""
    sides = [side_texts(t) for t in texts]
    flat = count([s for pair in sides if pair is not None for s in pair])
    counts, billed, k = [], [], 0
    for pair in sides:
        if pair is None:
            counts.append(None)
            billed.append(0)
            continue
        c, b = combine(flat[k], flat[k + 1])
        k += 2
        counts.append(c)
        billed.append(b)
    return counts, billed


def truncate_pair(text: str, limit: int, find_cut: Callable[[dict, str], tuple], count: Callable[[list[str]], list]):
    """(new pair text, (n_limit_tokens, n_assistant_tokens, n_messages) after, messages removed, n_tokens after),
    or (None, None, why, None) when no cut of the prompt fits both replies. `find_cut(chat, text)` is the
    stage's: the messages [head, start) to remove from one conversation so it fits; a side within `limit`
    needs none."""
    obj = json.loads(text)
    chats = side_chats(obj)
    texts = [dumps_example(chat) for chat in chats]
    cuts = []
    for side, chat, chat_text, c in zip(SIDES, chats, texts, count(texts), strict=True):
        if isinstance(c, tuple) and c[0] <= limit:
            continue
        cut, why = find_cut(chat, chat_text)
        if cut is None:
            return None, None, f"with the {side} reply, {why}", None
        cuts.append(cut)
    head, start = cuts[0][0], max(c[1] for c in cuts)  # the later start fits the longer reply, hence both
    new = dumps_example({**obj, "messages": obj["messages"][:head] + obj["messages"][start:]})
    [c], [b] = count_pairs([new], count)
    if not isinstance(c, tuple):
        return None, None, f"the truncated pair cannot be counted: {c or NOT_A_PAIR}", None
    return new, c[:3], start - head, b
