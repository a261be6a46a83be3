"""What a detection means for the checks: varieties folded into the language users mean, the languages
a side may plausibly be in, and the languages of a code-mixed side.

fold       a detector's ranked answers with each variety (wuu, yue, arz, zsm, ...) counted as its group
           (zh, ar, ms), probabilities summed: "wuu 0.55, zh 0.40" is "zh 0.95".
plausible  the folded languages within `margin` probability of the best one: a side fails `allowed` or the
           reply check only when none of them passes. Indonesian short texts that look a little more
           Malay than Indonesian ("ms 0.6, id 0.4") are then both id and ms; a confident "ms 0.9, id 0.05"
           stays ms. Measured on labelled real text in bench/bench_language.py (the `margin` table).
mixed      a side whose sentences are confidently in one of `mixed.languages` (English) and in another
           language is code-mixed. For the reply check it may be any of its sentences' languages (Hinglish
           user text answered in English passes `reply_language: same`); for `allowed` the mixed-in
           languages are tolerated beside an allowed one but never enough alone (an Italian side with one
           English sentence is still Italian). Only the sides of examples that would otherwise fail a check
           are split and detected again (few), through the same cache.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from pipeline.stages.language.detection import UNDETERMINED, Detection
from pipeline.stages.language.sides import has_letters

# sentence ends (Latin, CJK, Devanagari danda, Arabic), line breaks, and " - " / ";" between clauses
_SENTENCE_END = re.compile(r"(?<=[.!?。！？।؟;])\s*|\n+|\s+[-–—]\s+")


def folder(fold: dict[str, list[str]]) -> Callable[[Detection], tuple[tuple[str, float], ...]]:
    """Detection -> its ranked (language, probability) with varieties counted as their group."""
    group = {member: g for g, members in fold.items() for member in members}

    def folded(d: Detection) -> tuple[tuple[str, float], ...]:
        ranked = d.ranked
        if not group or (ranked[0][0] not in group if len(ranked) == 1 else
                         not any(lang in group for lang, _ in ranked)):
            return ranked  # the same object: nothing folded
        summed: dict[str, float] = {}
        for lang, p in ranked:
            key = group.get(lang, lang)
            summed[key] = summed.get(key, 0.0) + p
        return tuple(sorted(summed.items(), key=lambda kv: -kv[1]))

    return folded


def plausible(ranked: tuple[tuple[str, float], ...], margin: float) -> frozenset[str]:
    """The languages within `margin` of the best one (the best always)."""
    best = ranked[0][1]
    return frozenset(lang for lang, p in ranked if best - p < margin or lang == ranked[0][0])


def sentences(text: str, min_letters: int) -> list[str]:
    """The parts of a side's text that are judged on their own: sentences with at least min_letters letters."""
    return [s for s in _SENTENCE_END.split(text) if s and has_letters(s, min_letters)]


def mixed_languages(texts: Sequence[str], policy, min_confidence: float,
                    detect_all: Callable[[list[str]], list[Detection]],
                    fold: Callable[[Detection], tuple[tuple[str, float], ...]]) -> dict[str, frozenset[str]]:
    """text -> the languages its sentences are confidently in, for the texts that are code-mixed: at least
    two languages, one of them in policy.languages. Texts that are not code-mixed are left out."""
    parts = {text: sentences(text, policy.min_letters) for text in dict.fromkeys(texts)}
    todo = list(dict.fromkeys(s for ss in parts.values() if len(ss) > 1 for s in ss))
    found = {}
    for sentence, d in zip(todo, detect_all(todo)):
        if d.lang != UNDETERMINED:
            lang, p = fold(d)[0]
            if p >= min_confidence:
                found[sentence] = lang
    mixing = set(policy.languages)
    out = {}
    for text, ss in parts.items():
        langs = frozenset(found[s] for s in ss if s in found)
        if len(langs) > 1 and langs & mixing:
            out[text] = langs
    return out
