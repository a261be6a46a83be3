"""language (batch): the language of each example's user side and assistant side, an allowed list, and
a check that the assistant answers in the right language.

Each side's text (all user messages, or all trained assistant messages, joined) is cleaned of URLs,
e-mail addresses and placeholders such as [PERSON_NAME], cut to `sample_chars` (pipeline/language_sides.py),
and detected with the configured backend (detection.py beside this module; py3langid by default, run over
all texts of a batch at once, or seeded langdetect), through a cache keyed by the text. A side with fewer
than `min_letters` letters (a CJK character counts two) is too short to judge and skipped. System and tool
messages are not looked at: a system prompt in English that says "always answer in German" is normal.
A detection's varieties are folded into their group (`fold`: wuu, yue -> zh), and a side may be any
language within `margin` of its best one, or, when code-mixed (`mixed`), any language its sentences are
confidently in (plausible.py beside this module).
Reasons, in order of precedence:
  language_not_allowed     a side is confidently in a language outside `allowed` (none it may be is allowed)
  reply_language_mismatch  reply_language 'same': no language the assistant side may be in is one the user
                           side may be in; reply_language '<code>': the assistant side cannot be that one
  language_uncertain       a side's confidence is below `min_confidence` (no other check uses that side)
Each reason has an action (drop / flag, and keep for uncertain); flag adds 'language:<reason>'.
A preference pair is judged on its prompt + chosen reply (`messages`) as above; its rejected reply is detected
too (a third side, same sample rules) and, when it is confidently in another language than the chosen side
(the user side when the chosen one has no confident language), neither within `margin` of the other, the pair
gets the flag 'language:rejected_mismatch': never a drop, a worse reply may well be in the wrong language.
Adds a column `language`: the user side's language, else the assistant's, else "und" (a side kept because
an allowed language was within `margin` or among its mixed sentences' languages: that allowed language).

Facts (counts are ordered by count, then name; typed, so the facts of consecutive chunks merge into
exactly the facts of one run on all of them, except `cache`):
  backend               backend id (name, version, candidate languages)
  by_language           {lang: examples} by the `language` column
  by_side               {user|assistant: {lang: examples}}; "short" = too short to detect
  uncertain             examples with a side below min_confidence
  kept                  {margin: examples, mixed: examples}: examples the top language alone would have
                        failed, kept because an accepted language was within `margin` / a side was code-mixed
  not_allowed           {lang: sides}
  mismatches            {count, pairs: {"de->en": n}, samples: [{example_id, user, assistant, user_text,
                        assistant_text}]} (the first 20)
  samples               {lang: [{example_id, text}]}, the first samples_per_language of each language
  samples_per_language  that cap (so chunk facts can be merged)
  confidence_histogram  {edges, counts}: detection confidence of every detected side
  cache                 {hits, misses}: distinct texts answered by the cache / detected now; summed over
                        chunks, so a text met in several chunks counts once per chunk
  by_side.rejected      preference pairs only: {lang: rejected replies}, like the other sides
  rejected_mismatch     preference pairs only: {count, pairs: {"zh->en": n}} (chosen side -> rejected reply)
  second_opinion        with `second_opinion` only: {backend, rejudged: distinct side texts below
                        min_confidence detected again, confident: those the second opinion is sure of}
"""

from __future__ import annotations

import gc
from bisect import bisect_right
from collections import Counter
from contextlib import contextmanager
from typing import NamedTuple

import numpy as np
import polars as pl

from pipeline.engine.facts import FirstN, FirstNPerKey, Histogram, Same, Sum, Tally
from pipeline.engine.stage import StageContext, StageOutput, with_drops
from pipeline.stages.language.detection import UNDETERMINED, Detection, DetectionCache, merge_stored
from pipeline.stages.language.plausible import folder, mixed_languages, plausible
from pipeline.stages.language.sides import (
    PAIR_KEY_TEXT,
    clean_sample,
    clean_samples,
    example_sides,
    has_letters,
    rejected_sample,
    side_texts,
)

RUNS = "per_part"
PREFERENCE = True  # pairs: language from prompt + chosen; a rejected reply in another one is flagged, never dropped
SIDES = ("user", "assistant")
SHORT = "short"
CONF_EDGES = [0.0, 0.5, 0.8, 0.9, 0.99]
MAX_MISMATCH_SAMPLES = 20


def side_sample(messages: list[dict], role: str, sample_chars: int) -> str:
    """The bounded, cleaned text of one side that gets detected."""
    user, assistant = side_texts(messages)
    return clean_sample(user if role == "user" else assistant, sample_chars)


def _snippet(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _ranked(counts: Counter) -> Tally:
    return Tally(counts, "count_then_key")


def _samples(examples: list[str], limit: int) -> tuple[list[str], list[str]]:
    """Per example, its user and assistant samples (sides.example_samples, cleaned all at once)."""
    sides = [text for example in examples for text in example_sides(example)]
    cleaned = clean_samples(sides, limit)
    return cleaned[0::2], cleaned[1::2]


class _Judged(NamedTuple):
    """What the stage makes of one distinct side text."""

    detection: Detection | None  # None: too short, or no language found; else folded (lang, confidence)
    lang: str | None  # the (folded) language when confident (>= min_confidence)
    label: str  # for by_side: the language, or "short"
    conf_bin: int  # confidence histogram bin, -1 when not detected


def _judge(texts: list[str], params, cache: DetectionCache) -> dict[str, _Judged]:
    to_detect = [t for t in texts if has_letters(t, params.min_letters)]
    judged = {}
    fold = folder(params.fold)
    for text, d in zip(to_detect, cache.detect_all(to_detect)):
        if d.lang == UNDETERMINED:
            continue
        ranked = fold(d)
        if ranked is not d.ranked:
            d = Detection(*ranked[0], ranked)
        judged[text] = _Judged(d, d.lang if d.confidence >= params.min_confidence else None, d.lang,
                               max(0, bisect_right(CONF_EDGES, d.confidence) - 1))
    return judged


def _second_opinion(judged: dict[str, _Judged], params, second: DetectionCache) -> int:
    """Judges the uncertain texts again with `second` (its answer counts); how many of them it is sure of."""
    again = _judge([t for t, j in judged.items() if j.lang is None], params, second)
    judged.update(again)
    return sum(j.lang is not None for j in again.values())


_UNJUDGED = _Judged(None, None, SHORT, -1)


@contextmanager
def _without_cycle_collection():
    """The stage makes ~10 small containers per example and no reference cycles (refcounting frees all of
    them); Python's cycle collector would re-scan the growing set of live tuples and dicts again and again
    (10-25 % of the stage's CPU time, measured on 20k bench conversations). Paused here, restored as it was."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def run(frame: pl.DataFrame, params, ctx: StageContext) -> StageOutput:
    with _without_cycle_collection():
        return _run(frame, params, ctx)


def _run(frame: pl.DataFrame, params, ctx: StageContext) -> StageOutput:
    ids = frame["example_id"].to_list()
    users, assistants = _samples(frame["example"].to_list(), params.sample_chars)
    cache = DetectionCache(params.backend, ctx.cache_dir if params.disk_cache else None, ctx.warn,
                           params.languages)
    second = DetectionCache(params.second_opinion, ctx.cache_dir if params.disk_cache else None, ctx.warn,
                            params.second_opinion_languages) if params.second_opinion else None
    rejected = _rejected_samples(frame["example"], params.sample_chars)
    judged = _judge(list(dict.fromkeys(users + assistants + [t for t in rejected if t])), params, cache)
    rescued = _second_opinion(judged, params, second) if second is not None else 0
    findings = _Findings(params)
    allowed, reply, same = findings.allowed, params.reply_language, params.reply_language == "same"
    user_sides, assistant_sides, languages, suspects = [], [], [], []
    for i, (user_text, assistant_text) in enumerate(zip(users, assistants)):
        u = judged.get(user_text, _UNJUDGED)
        a = judged.get(assistant_text, _UNJUDGED)
        user_sides.append(u)
        assistant_sides.append(a)
        languages.append(u.lang or a.lang or UNDETERMINED)
        if ((u.detection and not u.lang) or (a.detection and not a.lang)
                or (allowed is not None and ((u.lang and u.lang not in allowed) or (a.lang and a.lang not in allowed)))
                or (reply and a.lang and (u.lang if same else reply) not in (None, a.lang))):
            suspects.append(i)  # the top languages alone fail a check: weigh runners-up and mixing
    mixed = _mixed_sides(suspects, users, assistants, params, cache)
    for i in suspects:
        findings.check(i, ids[i], (users[i], assistants[i]), (user_sides[i], assistant_sides[i]), mixed)
    for (i, side), lang in findings.relabel.items():
        if side == "user" or not user_sides[i].lang:  # the side the `language` column comes from
            languages[i] = lang
    hist = Counter(j.conf_bin for j in user_sides) + Counter(j.conf_bin for j in assistant_sides)
    facts = {
        "backend": Same(cache.id),
        "by_language": _ranked(Counter(languages)),
        "by_side": {"user": _ranked(Counter(j.label for j in user_sides)),
                    "assistant": _ranked(Counter(j.label for j in assistant_sides))},
        "uncertain": Sum(findings.uncertain),
        "kept": {"margin": Sum(findings.kept_margin), "mixed": Sum(findings.kept_mixed)},
        "not_allowed": _ranked(findings.not_allowed),
        "mismatches": {"count": Sum(findings.mismatches), "pairs": _ranked(findings.pairs),
                       "samples": FirstN(MAX_MISMATCH_SAMPLES, findings.mismatch_samples)},
        "samples": FirstNPerKey(params.samples_per_language, _language_samples(
            ids, users, assistants, user_sides, languages, params.samples_per_language)),
        "samples_per_language": Same(params.samples_per_language),
        "confidence_histogram": Histogram(CONF_EDGES, [hist[b] for b in range(len(CONF_EDGES))]),
        "cache": {"hits": Sum(cache.hits), "misses": Sum(cache.misses)},
    }
    if second is not None:
        facts["second_opinion"] = {"backend": Same(second.id), "rejudged": Sum(second.hits + second.misses),
                                   "confident": Sum(rescued)}
    flagged = findings.flagged
    if rejected:
        rejected_sides = [None if t is None else judged.get(t, _UNJUDGED) for t in rejected]
        mismatched, pairs = _rejected_mismatches(rejected_sides, user_sides, assistant_sides, params.margin)
        facts["by_side"]["rejected"] = _ranked(Counter(j.label for j in rejected_sides if j is not None))
        facts["rejected_mismatch"] = {"count": Sum(len(mismatched)), "pairs": _ranked(pairs)}
        flagged = {**flagged, "rejected_mismatch": mismatched}
    out = frame.with_columns(pl.Series("language", languages, pl.Utf8)).with_columns(_flags(frame.height, flagged))
    return StageOutput(with_drops(out, findings.reasons(frame.height), findings.details(frame.height)), facts)


def finish_run(params, ctx: StageContext) -> None:
    """The detections the parts stored go into the cache's keyed tables (detection.merge_stored)."""
    if params.disk_cache:
        merge_stored(ctx.cache_dir, ctx.warn)


class _Findings:
    """The reasons found on the (few) examples that fail a check, with their details and counts."""

    def __init__(self, params):
        self.params = params
        self.allowed = set(params.allowed) if params.allowed else None
        self.mixing = frozenset(params.mixed.languages) if params.mixed else frozenset()
        self.actions = {"language_not_allowed": params.action, "reply_language_mismatch": params.reply_action,
                        "language_uncertain": params.uncertain_action}
        self.dropped: dict[int, tuple[str, str]] = {}
        self.flagged: dict[str, list[int]] = {code: [] for code in self.actions}  # rows each flag goes on
        self.not_allowed, self.pairs = Counter(), Counter()
        self.mismatch_samples: list[dict] = []
        self.uncertain = self.mismatches = self.kept_margin = self.kept_mixed = 0
        self.relabel: dict[tuple[int, str], str] = {}  # (row, side) kept as an allowed runner-up: that one

    def check(self, i: int, example_id: str, texts: tuple[str, str], judged: tuple[_Judged, _Judged],
              mixed: dict[str, frozenset[str]]) -> None:
        params, allowed = self.params, self.allowed
        sides = dict(zip(SIDES, texts))
        lang = {s: j.lang for s, j in zip(SIDES, judged) if j.lang}
        conf = {s: j.detection for s, j in zip(SIDES, judged) if j.detection}
        near = {s: plausible(j.detection.ranked, params.margin) for s, j in zip(SIDES, judged) if j.lang}
        mixes = {s: mixed.get(sides[s], frozenset()) for s in near}  # a code-mixed side's sentence languages
        may = {s: near[s] | mixes[s] for s in near}  # the languages a side may be in, for the reply check
        # for `allowed`, the mixed-in languages (English) are tolerated beside an allowed one, not enough alone
        may_allowed = {s: near[s] | (mixes[s] - self.mixing) for s in near}
        hits: list[tuple[str, str]] = []
        kept: list[frozenset[str]] = []  # per failing check: the sides' margin-only languages that saved it
        if allowed is not None:
            top_fails = [s for s in SIDES if s in lang and lang[s] not in allowed]
            bad = [s for s in top_fails if not may_allowed[s] & allowed]
            kept += [near[s] for s in top_fails if s not in bad]
            for s in top_fails:
                if s not in bad:  # the side counts as the best-ranked allowed language it may be in
                    ranked = [lg for lg, _ in conf[s].ranked if lg in may_allowed[s] & allowed]
                    self.relabel[(i, s)] = ranked[0] if ranked else min(may_allowed[s] & allowed)
            for s in bad:
                self.not_allowed[lang[s]] += 1
            if bad:
                hits.append(("language_not_allowed", "; ".join(
                    f"{s} text is {lang[s]!r} ({conf[s].confidence:.2f}): {_snippet(sides[s], 60)!r}" for s in bad)
                    + f" (allowed: {', '.join(sorted(allowed))})"))
        ul, al = lang.get("user"), lang.get("assistant")
        same = params.reply_language == "same"
        expected = ul if same else params.reply_language
        if params.reply_language and expected and al and al != expected:
            accepted = may["user"] if same else frozenset({expected})
            if may["assistant"] & accepted:
                kept.append(near["assistant"] & (near["user"] if same else accepted))
            else:
                self.mismatches += 1
                self.pairs[f"{ul or '?'}->{al}"] += 1
                why = "the user writes" if same else "reply_language is"
                hits.append(("reply_language_mismatch", (f"assistant answers in {al!r} but {why} "
                                                        f"{expected!r}: {_snippet(sides['assistant'], 60)!r}")))
                if len(self.mismatch_samples) < MAX_MISMATCH_SAMPLES:
                    self.mismatch_samples.append({"example_id": example_id, "user": ul, "assistant": al,
                                                  "user_text": _snippet(sides["user"]),
                                                  "assistant_text": _snippet(sides["assistant"])})
        if kept and not hits:
            if all(kept):
                self.kept_margin += 1
            else:
                self.kept_mixed += 1
        unsure = [s for s in conf if s not in lang]
        if unsure:
            self.uncertain += 1
            hits.append(("language_uncertain", "; ".join(
                f"{s} text looks {conf[s].lang!r} with confidence {conf[s].confidence:.2f} "
                f"(min {params.min_confidence:g}): {_snippet(sides[s], 60)!r}" for s in unsure)))
        for code, text in hits:
            if self.actions[code] == "drop" and i not in self.dropped:
                self.dropped[i] = (code, text)
            elif self.actions[code] == "flag":
                self.flagged[code].append(i)

    def reasons(self, n: int) -> list[str | None]:
        out: list[str | None] = [None] * n
        for i, (code, _) in self.dropped.items():
            out[i] = code
        return out

    def details(self, n: int) -> list[str | None]:
        out: list[str | None] = [None] * n
        for i, (_, text) in self.dropped.items():
            out[i] = text
        return out


def _rejected_samples(examples: pl.Series, limit: int) -> list[str | None]:
    """Per example, its rejected reply's sample (None for an ordinary example); [] when no example is a pair."""
    if not examples.str.contains(PAIR_KEY_TEXT, literal=True).any():
        return []
    return [rejected_sample(e, limit) for e in examples.to_list()]


def _rejected_mismatches(rejected: list[_Judged | None], users: list[_Judged], assistants: list[_Judged],
                         margin: float) -> tuple[list[int], Counter]:
    """The pairs whose rejected reply is confidently in another language than the chosen side (the assistant
    side of prompt + chosen; the user side when that one has no confident language), neither within `margin`
    of the other side's best, and their "chosen->rejected" language pairs."""
    rows, pairs = [], Counter()
    for i, r in enumerate(rejected):
        ref = assistants[i] if assistants[i].lang else users[i]
        if r is None or not r.lang or not ref.lang or r.lang == ref.lang:
            continue
        if ref.lang in plausible(r.detection.ranked, margin) or r.lang in plausible(ref.detection.ranked, margin):
            continue
        rows.append(i)
        pairs[f"{ref.lang}->{r.lang}"] += 1
    return rows, pairs


def _mixed_sides(rows: list[int], users: list[str], assistants: list[str], params,
                 cache: DetectionCache) -> dict[str, frozenset[str]]:
    """side text -> the languages of its sentences, for the code-mixed sides of the failing rows."""
    if params.mixed is None or not rows:
        return {}
    texts = [t for i in rows for t in (users[i], assistants[i])]
    return mixed_languages(texts, params.mixed, params.min_confidence, cache.detect_all, folder(params.fold))


def _language_samples(ids, users, assistants, user_sides, languages, cap: int) -> dict[str, list[dict]]:
    """The first `cap` examples of each language (by the `language` column), in input order."""
    wanted = {lang: cap for lang in dict.fromkeys(languages) if lang != UNDETERMINED} if cap else {}
    samples: dict[str, list[dict]] = {}
    for i, lang in enumerate(languages):
        if not wanted:
            break
        if lang in wanted:
            text = users[i] if user_sides[i].lang else assistants[i]
            samples.setdefault(lang, []).append({"example_id": ids[i], "text": _snippet(text)})
            wanted[lang] -= 1
            if not wanted[lang]:
                del wanted[lang]
    return samples


def _flags(n: int, flagged: dict[str, list[int]]) -> pl.Expr:
    """The flags column (null read as no flags) with 'language:<code>' added, once, on the flagged rows."""
    flags = pl.col("flags").cast(pl.List(pl.Utf8)).fill_null(pl.lit([], pl.List(pl.Utf8)))
    for code, rows in flagged.items():
        if rows:
            note = f"language:{code}"
            mask = np.zeros(n, dtype=bool)
            mask[rows] = True
            flags = (pl.when(pl.lit(pl.Series(mask)) & ~flags.list.contains(note))
                     .then(flags.list.concat(pl.lit([note], pl.List(pl.Utf8)))).otherwise(flags))
    return flags.alias("flags")
