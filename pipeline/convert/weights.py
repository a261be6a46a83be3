"""Per-turn training weights (`convert.weights`, and the overlap of `convert.windows`).

OpenAI's `weight` (0 or 1) exists on assistant messages only; this module never puts it anywhere else.
last_only: weight 0 on every assistant turn but the last (train on the final answer only).
matching:  weight 0 on assistant turns whose text matches a regex (e.g. greetings, boilerplate).
Windows add weight 0 on assistant turns repeated from the previous window, so no turn is trained twice.
Messages keep any weight they already had; only zeros are added. An example left with no assistant
turn to train on is rejected by the caller (reason no_trainable_turn).
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache

from pipeline.convert.turns import Turn


@lru_cache(maxsize=64)
def _regex(pattern: str) -> re.Pattern:
    return re.compile(pattern)


def _text(message: dict) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def apply_weights(turns: list[Turn], opts, also_zero: set[int], counts: Counter) -> tuple[list[Turn], bool]:
    """(turns with weight 0 where the rules say, whether an assistant turn is still trained).

    `also_zero`: indexes of turns to zero when they are assistant turns (the windows' overlap)."""
    assistant = [i for i, t in enumerate(turns) if t.message.get("role") == "assistant"]
    zero = {i for i in also_zero if i in set(assistant)}
    if opts is not None:
        if opts.mode == "last_only":
            zero.update(assistant[:-1])
        else:
            rx = _regex(opts.pattern)
            zero.update(i for i in assistant if rx.search(_text(turns[i].message)))
    out = list(turns)
    for i in sorted(zero):
        if out[i].message.get("weight") != 0:
            counts["weight_zeroed"] += 1
            out[i] = Turn({**out[i].message, "weight": 0}, out[i].rows)
    trained = any(out[i].message.get("weight", 1) != 0 for i in assistant)
    return out, trained
