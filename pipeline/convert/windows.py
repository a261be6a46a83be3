"""Long dialogues -> several examples (`convert.windows`), then weights (`convert.weights`).

A conversation within the limits stays one example. A longer one is cut into windows that
- keep the leading system prompt in every window,
- end on an assistant turn that is not waiting for a tool result (never between a call and its result),
- start on a user (or system) turn, never on an assistant or tool turn,
- repeat up to `overlap` messages of the previous window as context (those assistant turns get weight 0
  unless overlap_weight_zero is false), and
- hold at most max_turns messages (system not counted) and max_tokens tokens (system and tools counted;
  chars/4 estimate or a tiktoken encoding). A single exchange over the limit becomes its own window and
  is counted as window_over_limit (the tokens stage decides what to do with long examples).
Every window carries the conversation's group id, so all windows land in the same split.
Turns after the last window (only when drop_trailing_turns is off) are returned as dropped.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass

from pipeline.convert.turns import Turn
from pipeline.convert.weights import apply_weights

_NO_START = ("assistant", "tool")


@dataclass
class Piece:
    turns: list[Turn]
    rows: list[int]
    index: int  # window number within the conversation (0 when not split)
    trained: bool  # an assistant turn with weight != 0 remains


def window_part(part: int, index: int) -> int:
    """example_id part of window `index` of a conversation whose own part is `part` (distinct for all)."""
    return part if index == 0 else -(part * 1_000_000 + index)


def _estimator(opts):
    """(tokens of one message, tokens of the fixed part: tools + reply priming)."""
    if opts.tokenizer == "chars/4":
        def message(m: dict) -> int:
            content = m.get("content")
            text = content if isinstance(content, str) else "" if content is None else json.dumps(content)
            calls = json.dumps(m["tool_calls"]) if m.get("tool_calls") else ""
            return 4 + math.ceil((len(text) + len(calls)) / 4)

        return message, lambda top: 3 + (math.ceil(len(json.dumps(top["tools"])) / 4) if top.get("tools") else 0)
    from pipeline.chat.encodings import PROJECT_CACHE
    from pipeline.chat.token_counting import REPLY_PRIMING, counter_for

    counter = counter_for(opts.tokenizer, str(PROJECT_CACHE))
    return (lambda m: counter.message(m)[0]), (lambda top: counter.tools(top) + REPLY_PRIMING)


def _spans(body: list[Turn], head_cost: int, opts, cost) -> tuple[list[tuple[int, int]], int]:
    """(start, end) index pairs into body, and how many windows exceed the limits."""
    roles = [t.message.get("role") for t in body]
    ends = [i for i, r in enumerate(roles) if r == "assistant" and (i + 1 == len(body) or roles[i + 1] not in _NO_START)]
    costs = [cost(t.message) for t in body]

    def fits(s: int, e: int) -> bool:
        if opts.max_turns is not None and e - s + 1 > opts.max_turns:
            return False
        return opts.max_tokens is None or head_cost + sum(costs[s:e + 1]) <= opts.max_tokens

    if not ends or fits(0, len(body) - 1):
        return [(0, len(body) - 1)], 0
    spans, over, prev_end = [], 0, -1
    while True:
        candidates = [e for e in ends if e > prev_end]
        if not candidates:
            break
        earliest = max(prev_end + 1 - opts.overlap, spans[-1][0] + 1 if spans else 0)
        starts = [s for s in range(earliest, prev_end + 2) if s == 0 or roles[s] not in _NO_START]
        chosen = None
        for s in starts:  # prefer the most overlap that still lets a window fit
            fitting = [e for e in candidates if fits(s, e)]
            if fitting:
                chosen = (s, max(fitting))
                break
        if chosen is None:
            chosen, over = (starts[-1], candidates[0]), over + 1
        spans.append(chosen)
        prev_end = chosen[1]
    return spans, over


def shape_conversation(turns: list[Turn], rows: list[int], cfg, counts: Counter, top: dict
                       ) -> tuple[list[Piece], list[Turn]]:
    """Cut into windows (when configured) and apply weights. Returns (pieces, turns left outside)."""
    opts = cfg.windows
    if opts is None:
        if cfg.weights is None:
            return [Piece(turns, rows, 0, True)], []
        kept, trained = apply_weights(turns, cfg.weights, set(), counts)
        return [Piece(kept, rows, 0, trained)], []
    n_head = next((i for i, t in enumerate(turns) if t.message.get("role") != "system"), len(turns))
    head, body = turns[:n_head], turns[n_head:]
    cost, fixed = _estimator(opts)
    spans, over = _spans(body, fixed(top) + sum(cost(t.message) for t in head), opts, cost)
    if over:
        counts["window_over_limit"] += over
    has_rows = any(t.rows for t in turns)
    pieces, prev_end = [], -1
    for k, (s, e) in enumerate(spans):
        window = head + body[s:e + 1]
        repeated = {n_head + i - s for i in range(s, min(e, prev_end) + 1)} if opts.overlap_weight_zero else set()
        kept, trained = apply_weights(window, cfg.weights, repeated, counts)
        inside = {r for t in window for r in t.rows}
        piece_rows = [r for r in rows if r in inside] if has_rows else list(rows)
        pieces.append(Piece(kept, piece_rows, k, trained))
        prev_end = e
    if len(spans) > 1:
        counts["windowed_conversations"] += 1
        counts["windows"] += len(spans)
    return pieces, body[spans[-1][1] + 1:]
