"""heuristics (batch): chat-specific quality filters on assistant replies and conversation shape.

Checks (each off when its parameter is null / false / []), in this order of precedence:
  short_reply          an assistant reply with fewer than `min_assistant_chars` letters/digits (the last
                       reply, or every reply with short_reply_scope: every); tool-call-only replies and
                       bare numbers ("3", "0.5": answers, not filler) pass; a CJK character counts two
  echo_reply           an assistant reply equal, after normalising case/punctuation/space, to the user
                       message right before it (only when at least `echo_min_chars` long)
  refusal_boilerplate  an assistant reply containing one of `refusal_phrases` (case-insensitive)
  repetitive_reply     an assistant reply whose word 3-grams repeat (share > max_duplicate_trigram_fraction)
                       or with one non-trivial line repeated >= max_line_repeats times
  length_ratio         all assistant text / all user text outside [min_length_ratio, max_length_ratio]
  too_many_turns       more than `max_turns` user + assistant messages
Assistant messages with `weight: 0` are not trained on and are not checked.
The first failing check gives the reason; with action: flag every failing check adds a
'heuristics:<reason>' flag instead.

Facts:
  checked                  examples looked at
  hits                     {reason: examples failing that check (an example may fail several)}
  decided                  {reason: examples dropped (or flagged) with it as the first reason}
  samples                  {reason: [{example_id, detail}]}, at most samples_per_reason each
  turns_histogram          {edges, labels, counts}: user + assistant messages per example
  reply_chars_histogram    {edges, labels, counts}: characters per trained assistant message
  length_ratio_histogram   {edges, labels, counts}: assistant chars / user chars per example
"""

from __future__ import annotations

import itertools
import json
import re
import unicodedata
from bisect import bisect_right
from collections import Counter

import polars as pl

from pipeline.stage_api import StageContext, StageOutput, with_drops

SCOPE = "batch"
REASONS = ("short_reply", "echo_reply", "refusal_boilerplate", "repetitive_reply", "length_ratio", "too_many_turns")
TURN_EDGES = [0, 2, 3, 5, 9, 17, 33, 65, 129]
CHAR_EDGES = [0, 1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000]
RATIO_EDGES = [0, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32]
_WORD = re.compile(r"\w+")
_PUNCT_SPACE = re.compile(r"[\W_]+")
_NUMBER = re.compile(r"^[\s$€£¥+-]*\d[\d.,:/%\s]*$")  # "3", "0.5", "$4.99": an answer, not filler


def message_text(message: dict) -> str:
    """The text content of a message: a string, the text parts of a list, or '' (null / tool calls)."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def histogram(values: list[float], edges: list[float]) -> dict:
    """Counts per bin [edges[i], edges[i+1]); the last bin is open-ended."""
    counts = [0] * len(edges)
    for v in values:
        counts[max(0, bisect_right(edges, v) - 1)] += 1
    labels = [f"{_fmt(a)}–{_fmt(b)}" for a, b in itertools.pairwise(edges)] + [f"≥ {_fmt(edges[-1])}"]
    return {"edges": edges, "labels": labels, "counts": counts}


def _fmt(x: float) -> str:
    return f"{x:g}"


def _quote(text: str, limit: int = 60) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= limit else flat[: limit - 1] + "…")


def _normalise(text: str) -> str:
    return _PUNCT_SPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def _phrase_key(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).replace("’", "'").casefold().split())


def content_chars(text: str) -> int:
    """Letters and digits; a wide (CJK) character counts as two, as it carries about a short word."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text if c.isalnum())


def duplicate_trigram_fraction(text: str) -> tuple[float, int]:
    """(share of word 3-grams that already occurred earlier in the text, number of words)."""
    words = _WORD.findall(text.casefold())
    grams = list(zip(words, words[1:], words[2:]))
    if not grams:
        return 0.0, len(words)
    return 1 - len(set(grams)) / len(grams), len(words)


def most_repeated_line(text: str) -> tuple[str, int]:
    """The most frequent line with at least 10 characters and a letter, and how often it occurs."""
    lines = [ln.strip() for ln in text.splitlines()]
    counts = Counter(ln for ln in lines if len(ln) >= 10 and any(c.isalpha() for c in ln))
    return counts.most_common(1)[0] if counts else ("", 0)


class _Checker:
    def __init__(self, params):
        self.p = params
        self.phrases = [_phrase_key(x) for x in params.refusal_phrases]

    def check(self, messages: list[dict]) -> tuple[list[tuple[str, str]], dict]:
        """All failing checks as (reason, detail), plus measurements for the distributions."""
        p = self.p
        hits: list[tuple[str, str]] = []
        trained = [(i, m) for i, m in enumerate(messages)
                   if m.get("role") == "assistant" and m.get("weight", 1) != 0]
        texts = {i: message_text(m) for i, m in enumerate(messages)}
        where = lambda i: f"message {i + 1} ({messages[i].get('role')})"

        if p.min_assistant_chars is not None and trained:
            scope = trained if p.short_reply_scope == "every" else trained[-1:]
            for i, m in scope:
                if m.get("tool_calls") or m.get("function_call") or _NUMBER.match(texts[i]):
                    continue
                n = content_chars(texts[i])
                if n < p.min_assistant_chars:
                    hits.append(("short_reply", (f"{where(i)}: {_quote(texts[i])} has {n} letters/digits "
                                                f"(min {p.min_assistant_chars})")))
                    break
        if p.echo_reply:
            for i, m in trained:
                if i and messages[i - 1].get("role") == "user":
                    a = _normalise(texts[i])
                    if len(a) >= p.echo_min_chars and a == _normalise(texts[i - 1]):
                        hits.append(("echo_reply", f"{where(i)}: {_quote(texts[i])} repeats {where(i - 1)}"))
                        break
        if self.phrases:
            for i, _ in trained:
                key = _phrase_key(texts[i])
                phrase = next((x for x in self.phrases if x in key), None)
                if phrase:
                    hits.append(("refusal_boilerplate", f"{where(i)}: contains {phrase!r}: {_quote(texts[i])}"))
                    break
        for i, _ in trained:
            detail = self._repetition(texts[i])
            if detail:
                hits.append(("repetitive_reply", f"{where(i)}: {detail}"))
                break
        a_chars = sum(len(texts[i]) for i, _ in trained)
        u_chars = sum(len(t) for i, t in texts.items() if messages[i].get("role") == "user")
        ratio = a_chars / u_chars if u_chars >= p.ratio_min_user_chars else None
        if ratio is not None:
            if p.min_length_ratio is not None and ratio < p.min_length_ratio:
                hits.append(("length_ratio", (f"assistant text is {a_chars} chars for {u_chars} user chars: ratio "
                                             f"{ratio:.3g} < min {p.min_length_ratio:g}")))
            elif p.max_length_ratio is not None and ratio > p.max_length_ratio:
                hits.append(("length_ratio", (f"assistant text is {a_chars} chars for {u_chars} user chars: ratio "
                                             f"{ratio:.3g} > max {p.max_length_ratio:g}")))
        turns = sum(m.get("role") in ("user", "assistant") for m in messages)
        if p.max_turns is not None and turns > p.max_turns:
            hits.append(("too_many_turns", f"{turns} user + assistant messages (max {p.max_turns})"))
        measures = {"turns": turns, "reply_chars": [len(texts[i]) for i, _ in trained], "ratio": ratio}
        return hits, measures

    def _repetition(self, text: str) -> str | None:
        p = self.p
        if p.max_duplicate_trigram_fraction is not None:
            frac, n_words = duplicate_trigram_fraction(text)
            if n_words >= p.repetition_min_words and frac > p.max_duplicate_trigram_fraction:
                return (f"{frac:.0%} of its word 3-grams repeat (max {p.max_duplicate_trigram_fraction:.0%}, "
                        f"{n_words} words): {_quote(text)}")
        if p.max_line_repeats is not None:
            line, n = most_repeated_line(text)
            if n >= p.max_line_repeats:
                return f"line {_quote(line)} occurs {n} times (max {p.max_line_repeats - 1})"
        return None


def run(frame: pl.DataFrame, params, ctx: StageContext) -> StageOutput:
    checker = _Checker(params)
    reasons: list[str | None] = []
    details: list[str | None] = []
    flags_out: list[list[str]] = []
    hits_count: Counter = Counter()
    decided: Counter = Counter()
    samples: dict[str, list[dict]] = {}
    turns, reply_chars, ratios = [], [], []
    for ex_id, example, flags in frame.select("example_id", "example", "flags").iter_rows():
        hits, m = checker.check(json.loads(example).get("messages") or [])
        turns.append(m["turns"])
        reply_chars += m["reply_chars"]
        if m["ratio"] is not None:
            ratios.append(m["ratio"])
        flags = list(flags or [])
        reason = detail = None
        if hits:
            hits_count.update({r for r, _ in hits})
            reason, detail = hits[0]
            if len(hits) > 1:
                detail += "; also " + ", ".join(r for r, _ in hits[1:])
            decided[reason] += 1
            bucket = samples.setdefault(reason, [])
            if len(bucket) < params.samples_per_reason:
                bucket.append({"example_id": ex_id, "detail": detail})
            if params.action == "flag":
                flags += [f"heuristics:{r}" for r, _ in hits if f"heuristics:{r}" not in flags]
                reason = detail = None
        reasons.append(reason)
        details.append(detail)
        flags_out.append(flags)
    out = frame.with_columns(pl.Series("flags", flags_out, pl.List(pl.Utf8)))
    facts = {
        "checked": frame.height,
        "action": params.action,
        "hits": {r: hits_count[r] for r in REASONS if hits_count[r]},
        "decided": {r: decided[r] for r in REASONS if decided[r]},
        "samples": samples,
        "turns_histogram": histogram(turns, TURN_EDGES),
        "reply_chars_histogram": histogram(reply_chars, CHAR_EDGES),
        "length_ratio_histogram": histogram(ratios, RATIO_EDGES),
    }
    return StageOutput(with_drops(out, reasons, details), facts)
