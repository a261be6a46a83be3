"""heuristics (batch): chat-specific quality filters on assistant replies and conversation shape.

Checks (each off when its parameter is null / false / []), in this order of precedence:
  identical_pair       preference pairs only (always on): the two replies are the same message (pair_checks.py)
  empty_side           preference pairs only (always on): a reply with no text and no tool call
  short_reply          an assistant reply with fewer than `min_assistant_chars` letters/digits (the last
                       reply, or every reply with short_reply_scope: every); tool-call-only replies,
                       bare numbers ("3", "0.5": answers, not filler) and one of `closed_answers` ("No.",
                       "Ja", "不。") right after a user message ending in a question mark pass; a CJK
                       character counts two
  echo_reply           an assistant reply equal, after normalising case/punctuation/space, to the user
                       message right before it (only when at least `echo_min_chars` long)
  refusal_boilerplate  an assistant reply containing one of `refusal_phrases` (case-insensitive)
  repetitive_reply     an assistant reply whose content's word 3-grams repeat (share >
                       max_duplicate_trigram_fraction) or with a line repeated max_line_repeats times in a row
                       or all over its content (structured repetition is no loop: repetition.py says how)
  length_ratio         all assistant text / all user text outside [min_length_ratio, max_length_ratio]
  too_many_turns       more than `max_turns` user + assistant messages
Assistant messages with `weight: 0` are not trained on and are not checked. A preference pair's reply checks
see its prompt and chosen reply only (`messages`): a rejected reply is meant to be the worse one.
The first failing check gives the reason; with action: flag every failing check adds a
'heuristics:<reason>' flag instead.

Speed: the checks are defined by content_chars, _normalise, _phrase_key, duplicate_trigram_fraction and
repeated_line; exact necessary conditions made of a few C-level string/bytes operations rule most replies
out before those run (tests/test_heuristics.py checks against the plain definitions that none changes a decision).

Facts (typed: chunks merge exactly):
  checked                  examples looked at
  action                   drop | flag
  hits                     {reason: examples failing that check (an example may fail several)}
  decided                  {reason: examples dropped (or flagged) with it as the first reason}
  samples                  {reason: [{example_id, detail}]}, the first samples_per_reason of each
  samples_per_reason       the cap on each samples list
  turns_histogram          {edges, labels, counts}: user + assistant messages per example
  reply_chars_histogram    {edges, labels, counts}: characters per trained assistant message
  length_ratio_histogram   {edges, labels, counts}: assistant chars / user chars per example
"""

from __future__ import annotations

import codecs
import itertools
import re
import string
import unicodedata
from bisect import bisect_left
from collections import Counter

import polars as pl

from pipeline.chat import preference
from pipeline.chat.texts import message_text
from pipeline.engine.facts import FirstNPerKey, Histogram, Same, Sum, Tally
from pipeline.engine.records import loads_example
from pipeline.engine.stage import StageContext, StageOutput, with_drops
from pipeline.stages.heuristics.pair_checks import PAIR_REASONS, pair_hits
from pipeline.stages.heuristics.repetition import WORD, content_text, repeated_line, trigram_share

RUNS = "per_part"
PREFERENCE = True  # pairs: identical_pair and empty_side first, then the reply checks on prompt + chosen
REASONS = (*PAIR_REASONS, "short_reply", "echo_reply", "refusal_boilerplate", "repetitive_reply", "length_ratio", "too_many_turns")
TURN_EDGES = [0, 2, 3, 5, 9, 17, 33, 65, 129]
CHAR_EDGES = [0, 1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000]
RATIO_EDGES = [0, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32]
OFF = 1 << 62
_PUNCT_SPACE = re.compile(r"[\W_]+")
_NUMBER = re.compile(r"^[\s$€£¥+-]*\d[\d.,:/%\s]*$")  # "3", "0.5", "$4.99": an answer, not filler
_QUESTION_END = re.compile(r"[?？؟][\s\"'”’»)\]]*$")  # a question, maybe quoted: 'Is it open on Sunday?'

# bytes tables (ASCII text: casefold == lower, NFKC is the identity, \w == [A-Za-z0-9_])
_ALNUM = (string.ascii_letters + string.digits).encode()
_NOT_ALNUM = bytes(b for b in range(256) if b not in _ALNUM)
_LOWER = bytes.maketrans(string.ascii_uppercase.encode(), string.ascii_lowercase.encode())
# Latin-1 bytes: \w characters kept (ASCII letters lowered: for ASCII text the runs are the words of its
# casefold), the others become spaces
_WORDS_LATIN1 = bytes((_LOWER[b] if chr(b).isalnum() or b == ord("_") else ord(" ")) for b in range(256))
_THREE_SPACES = "chatprep.heuristics.three_spaces"  # encode error handler: 3 spaces per character
codecs.register_error(_THREE_SPACES, lambda e: ("   " * (e.end - e.start), e.end))


def histogram(values: list[float], edges: list[float]) -> Histogram:
    """Counts per bin [edges[i], edges[i+1]); the last bin is open-ended (values below edges[0]: bin 0)."""
    ordered = sorted(values)
    at = [0] + [bisect_left(ordered, e) for e in edges[1:]] + [len(ordered)]
    labels = [f"{a:g}–{b:g}" for a, b in itertools.pairwise(edges)] + [f"≥ {edges[-1]:g}"]
    return Histogram(edges, [b - a for a, b in itertools.pairwise(at)], labels)


def _quote(text: str, limit: int = 60) -> str:
    """repr of the text with its whitespace runs as single spaces, cut to `limit` characters."""
    size = 4 * limit
    flat = " ".join(text[:size].split())  # always a prefix of the whole text's form
    while len(flat) <= limit and size < len(text):
        size *= 4
        flat = " ".join(text[:size].split())
    return repr(flat if len(flat) <= limit else flat[: limit - 1] + "…")


def _normalise(text: str) -> str:
    return _PUNCT_SPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def _phrase_key(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).replace("’", "'").casefold().split())


def content_chars(text: str) -> int:
    """Letters and digits; a wide (CJK) character counts as two, as it carries about a short word."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text if c.isalnum())


def _at_most_words(text: str) -> int:
    """An upper bound on the number of WORD matches in text.casefold(): one more than the characters of the casefold
    that are no letter/digit/"_". Latin-1 characters keep their kind under casefold and are counted exactly
    (bytes the table turns into spaces); any other character counts 3, the most casefold makes of one."""
    return text.encode("latin-1", _THREE_SPACES).translate(_WORDS_LATIN1).count(b" ") + 1


def ascii_key(text: str) -> bytes:
    """The ASCII letters and digits of casefold(NFKC(text)), in order: texts equal after _normalise have
    equal keys (_normalise keeps every letter/digit in order and only changes what lies between them)."""
    if text.isascii():
        return text.encode().translate(_LOWER, _NOT_ALNUM)
    folded = unicodedata.normalize("NFKC", text).casefold()
    return folded.encode("utf-8", "surrogatepass").translate(None, _NOT_ALNUM)


def fold(text: str) -> str:
    """_phrase_key before its whitespace is collapsed: a word of a phrase found in _phrase_key(text) is in
    fold(text). Folding texts joined by NUL gives the folded texts joined by NUL (NFKC never combines NUL
    with a neighbour; the rest works character by character)."""
    if text.isascii():
        return text.lower()  # NFKC is the identity, casefold is lower, and there is no ’
    return unicodedata.normalize("NFKC", text).replace("’", "'").casefold()


def phrase_anchors(phrases: list[str], min_len: int = 4) -> list[str]:
    """Few words such that every phrase key holds one (greedy cover, preferring words used by more phrases,
    then longer ones; words shorter than min_len only for phrases without a longer one): a text whose
    fold() holds none of them holds no phrase."""
    todo = [p.split() for p in phrases]
    anchors: list[str] = []
    while todo:
        words = {w for ws in todo for w in ws if len(w) >= min(min_len, max(map(len, ws)))}
        best = max(sorted(words), key=lambda w: (sum(w in ws for ws in todo), len(w)))
        anchors.append(best)
        todo = [ws for ws in todo if best not in ws]
    return sorted(w for w in anchors if not any(o != w and o in w for o in anchors))


def _content_chars_up_to(text: str, limit: int) -> int:
    """min(content_chars(text), limit) or more, without counting much past the limit."""
    if len(text) >= limit and text[:limit].isalnum():
        return limit  # every letter/digit counts at least one
    n = 0
    for c in text:
        if c.isalnum():
            n += 2 if unicodedata.east_asian_width(c) in "WF" else 1
            if n >= limit:
                return n
    return n


class _Checker:
    def __init__(self, params):
        self.p = params
        self.phrases = [_phrase_key(x) for x in params.refusal_phrases]
        self.phrase_words = [x.split() for x in self.phrases]
        self.anchors = phrase_anchors(self.phrases) if self.phrases else []
        # per anchor, the phrases (as word lists) one of whose words holds it: every phrase is listed under an
        # anchor (phrase_anchors), so a text holding all words of a phrase holds an anchor listing that phrase
        self.anchor_phrases = [(a, [ws for ws in self.phrase_words if any(a in w for w in ws)]) for a in self.anchors]
        # n words need at least 2n - 1 characters, n lines of >= 10 characters at least 11n - 1 (casefold makes
        # at most 3 characters of one); OFF, a length no text reaches, for a check switched off
        self.min_words = params.repetition_min_words if params.max_duplicate_trigram_fraction is not None else None
        self.least_words_chars = 2 * self.min_words - 1 if self.min_words is not None else OFF
        self.min_line_chars = 11 * params.max_line_repeats - 1 if params.max_line_repeats is not None else OFF
        self.shortest = min(self.least_words_chars, self.min_line_chars)
        self.min_assistant_chars = params.min_assistant_chars
        self.every_reply = params.short_reply_scope == "every"
        self.echo_min_chars = params.echo_min_chars if params.echo_reply else None
        self.ratio_min_user_chars = params.ratio_min_user_chars
        self.ratio_bounds = params.min_length_ratio is not None or params.max_length_ratio is not None
        self.max_turns = params.max_turns
        self.max_line_repeats = params.max_line_repeats
        self.closed_answers = {_normalise(x) for x in params.closed_answers}

    def check(self, messages: list[dict]) -> tuple[list[tuple[str, str]], int, list[int], float | None]:
        """All failing checks as (reason, detail), plus turns, trained reply lengths and the length ratio."""
        p = self.p
        hits: list[tuple[str, str]] = []
        texts = [c if type(c := m.get("content")) is str else message_text(m) for m in messages]
        roles = [m.get("role") for m in messages]
        trained = [i for i, r in enumerate(roles) if r == "assistant" and messages[i].get("weight", 1) != 0]
        turns = roles.count("user") + roles.count("assistant")
        lengths = list(map(len, texts))
        reply_chars = [lengths[i] for i in trained]
        where = lambda i: f"message {i + 1} ({roles[i]})"

        if self.min_assistant_chars is not None and trained:
            least = self.min_assistant_chars
            for i in (trained if self.every_reply else trained[-1:]):
                text = texts[i]
                if _content_chars_up_to(text, least) >= least:
                    continue
                m = messages[i]
                if m.get("tool_calls") or m.get("function_call") or _NUMBER.match(text):
                    continue
                if (i and roles[i - 1] == "user" and _QUESTION_END.search(texts[i - 1])
                        and _normalise(text) in self.closed_answers):
                    continue  # 'Is it open on Sunday?' -> 'No.': a complete answer
                hits.append(("short_reply", (f"{where(i)}: {_quote(text)} has {content_chars(text)} letters/digits "
                                            f"(min {least})")))
                break
        if self.echo_min_chars is not None:
            least = self.echo_min_chars
            # a start "X?" with X an ASCII letter/digit and ? ASCII (or nothing) stays "x" in _normalise: replies
            # starting differently from the user message are no echo; nor is a short ASCII reply, as
            # _normalise never lengthens ASCII text
            for i in [i for i in trained if i and roles[i - 1] == "user" and not (
                    ((a := texts[i])[:1].isalnum() and (u := texts[i - 1])[:1].isalnum()
                     and (a.isascii() or a[:2].isascii()) and (u.isascii() or u[:2].isascii())
                     and a[0].lower() != u[0].lower()) or (len(a) < least and a.isascii()))]:
                a, u = texts[i], texts[i - 1]
                if ascii_key(a) == ascii_key(u) and len(na := _normalise(a)) >= least and na == _normalise(u):
                    hits.append(("echo_reply", f"{where(i)}: {_quote(a)} repeats {where(i - 1)}"))
                    break
        if self.anchors and trained:
            folded = fold("\x00".join([texts[i] for i in trained]))  # an anchor in no reply: no phrase either
            for w in self.anchors:
                if w in folded:
                    for i in trained:
                        folded = fold(texts[i])
                        if not any(all(w in folded for w in words) for a, listed in self.anchor_phrases
                                   if a in folded for words in listed):
                            continue
                        text_key = _phrase_key(texts[i])
                        phrase = next((x for x in self.phrases if x in text_key), None)
                        if phrase:
                            hits.append(("refusal_boilerplate",
                                         f"{where(i)}: contains {phrase!r}: {_quote(texts[i])}"))
                            break
                    break
        shortest = self.shortest
        if shortest < OFF:
            min_words, min_line_chars, least_words = self.min_words, self.min_line_chars, self.least_words_chars
            # by length first (n words need 2n - 1 characters, n lines of >= 10 characters 11n - 1; casefold
            # makes at most 3 characters of one), then by _at_most_words (inlined for ASCII) / lines
            for i in [i for i in trained if len(t := texts[i]) >= shortest or (len(t) * 3 >= shortest
                                                                                and not t.isascii())]:
                t = texts[i]
                if t.isascii():
                    by_words = len(t) >= least_words and t.encode().translate(_WORDS_LATIN1).count(b" ") >= min_words - 1
                else:
                    by_words = min_words is not None and _at_most_words(t) >= min_words
                by_lines = len(t) >= min_line_chars and len(t.splitlines()) >= self.max_line_repeats
                if by_words or by_lines:
                    detail = self._repetition(t, by_words, by_lines)
                    if detail:
                        hits.append(("repetitive_reply", f"{where(i)}: {detail}"))
                        break
        u_chars = sum([n for n, r in zip(lengths, roles) if r == "user"])
        ratio = sum(reply_chars) / u_chars if u_chars >= self.ratio_min_user_chars else None
        if ratio is not None and self.ratio_bounds:
            a_chars = sum(reply_chars)
            if p.min_length_ratio is not None and ratio < p.min_length_ratio:
                hits.append(("length_ratio", (f"assistant text is {a_chars} chars for {u_chars} user chars: ratio "
                                             f"{ratio:.3g} < min {p.min_length_ratio:g}")))
            elif p.max_length_ratio is not None and ratio > p.max_length_ratio:
                hits.append(("length_ratio", (f"assistant text is {a_chars} chars for {u_chars} user chars: ratio "
                                             f"{ratio:.3g} > max {p.max_length_ratio:g}")))
        if self.max_turns is not None and turns > self.max_turns:
            hits.append(("too_many_turns", f"{turns} user + assistant messages (max {p.max_turns})"))
        return hits, turns, reply_chars, ratio

    def _repetition(self, text: str, by_words: bool, by_lines: bool) -> str | None:
        """The repetitive_reply detail of one reply, or None."""
        p = self.p
        if by_words:
            prose = content_text(text)  # the words of content_words, as bytes for ASCII text (same 3-grams)
            words = (prose.encode().translate(_WORDS_LATIN1).split() if prose.isascii()
                     else WORD.findall(prose.casefold()))
            if words:
                n = len(words)
                # d distinct words start at least d - 2 distinct 3-grams: when even that few leave the
                # repeated share at or below the maximum, the exact count is not needed
                vocabulary = set(words) if n >= self.min_words else None
                if vocabulary is not None and 1 - (len(vocabulary) - 2) / (n - 2) > p.max_duplicate_trigram_fraction:
                    frac, n_words = trigram_share(words, vocabulary)
                    if frac > p.max_duplicate_trigram_fraction:
                        return (f"{frac:.0%} of its word 3-grams repeat (max "
                                f"{p.max_duplicate_trigram_fraction:.0%}, {n_words} words): {_quote(text)}")
        return repeated_line(text, p.max_line_repeats) if by_lines else None


def run(frame: pl.DataFrame, params, ctx: StageContext) -> StageOutput:
    checker = _Checker(params)
    check, loads = checker.check, loads_example
    turns: list[int] = []
    reply_chars: list[int] = []
    ratios: list[float] = []
    found: dict[int, list[tuple[str, str]]] = {}
    for row, example in enumerate(frame["example"].to_list()):
        obj = loads(example)
        hits, n_turns, chars, ratio = check(obj.get("messages") or [])
        if preference.is_preference(obj):
            hits = pair_hits(obj) + hits
        turns.append(n_turns)
        reply_chars += chars
        if ratio is not None:
            ratios.append(ratio)
        if hits:
            found[row] = hits

    n = frame.height
    reasons: list[str | None] = [None] * n
    details: list[str | None] = [None] * n
    hits_count: Counter = Counter()
    decided: Counter = Counter()
    samples: dict[str, list[dict]] = {}
    ids = frame["example_id"].to_list() if found else []
    flags = [list(f or []) for f in frame["flags"].to_list()] if params.action == "flag" and found else None
    for row, hits in found.items():
        hits_count.update({r for r, _ in hits})
        reason, detail = hits[0]
        if len(hits) > 1:
            detail += "; also " + ", ".join(r for r, _ in hits[1:])
        decided[reason] += 1
        bucket = samples.setdefault(reason, [])
        if len(bucket) < params.samples_per_reason:
            bucket.append({"example_id": ids[row], "detail": detail})
        if flags is not None:
            flags[row] += [f"heuristics:{r}" for r, _ in hits if f"heuristics:{r}" not in flags[row]]
        else:
            reasons[row], details[row] = reason, detail
    out = frame
    if flags is not None:
        out = frame.with_columns(pl.Series("flags", flags, pl.List(pl.Utf8)))
    elif frame["flags"].null_count() or frame["flags"].dtype != pl.List(pl.Utf8):
        out = frame.with_columns(pl.Series("flags", [list(f or []) for f in frame["flags"].to_list()],
                                           pl.List(pl.Utf8)))
    facts = {
        "checked": Sum(n),
        "action": Same(params.action),
        "hits": Tally(hits_count, REASONS),
        "decided": Tally(decided, REASONS),
        "samples": FirstNPerKey(params.samples_per_reason, samples),
        "samples_per_reason": Same(params.samples_per_reason),
        "turns_histogram": histogram(turns, TURN_EDGES),
        "reply_chars_histogram": histogram(reply_chars, CHAR_EDGES),
        "length_ratio_histogram": histogram(ratios, RATIO_EDGES),
    }
    return StageOutput(with_drops(out, reasons, details), facts)
