"""From moderation results to a decision per example: which categories decided it, by what, and where.

A text is flagged when OpenAI's `flagged` is true (if `use_flagged`) — the deciding categories are the
ones it marked — or when a category score reaches its configured threshold. An example is flagged when
any of its texts (chunks) is.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.stages.moderation.response import ModerationResult
from pipeline.stages.moderation.screened_texts import ScreenedText

MAX_PLACES_IN_DETAIL = 3


@dataclass(frozen=True)
class Finding:
    category: str
    score: float
    threshold: float | None  # None: decided by OpenAI's own flag

    def describe(self) -> str:
        why = "flagged by OpenAI" if self.threshold is None else f"≥ threshold {self.threshold:g}"
        return f"{self.category} {self.score:.3f} ({why})"


def findings(result: ModerationResult, thresholds: dict[str, float], use_flagged: bool) -> list[Finding]:
    """The categories that make this text flagged, highest score first (empty: not flagged)."""
    found: dict[str, Finding] = {}
    if use_flagged and result.flagged:
        marked = result.categories or (max(result.scores, key=result.scores.get),)
        for c in marked:
            found[c] = Finding(c, result.scores.get(c, 0.0), None)
    for c, limit in thresholds.items():
        score = result.scores.get(c)
        if score is not None and score >= limit and c not in found:
            found[c] = Finding(c, score, limit)
    return sorted(found.values(), key=lambda f: (-f.score, f.category))


@dataclass
class ExampleDecision:
    places: list[tuple[ScreenedText, list[Finding]]]  # flagged texts in message order

    @property
    def flagged(self) -> bool:
        return bool(self.places)

    def categories(self) -> dict[str, float]:
        """Deciding category -> highest score over the example's flagged texts."""
        out: dict[str, float] = {}
        for _, fs in self.places:
            for f in fs:
                out[f.category] = max(out.get(f.category, 0.0), f.score)
        return dict(sorted(out.items()))

    def detail(self) -> str:
        """e.g. 'message 3 (user): self-harm 0.912 (flagged by OpenAI), self-harm/intent 0.640 (≥ threshold 0.2)'."""
        parts = [f"{where.where()}: " + ", ".join(f.describe() for f in fs)
                 for where, fs in self.places[:MAX_PLACES_IN_DETAIL]]
        more = len(self.places) - MAX_PLACES_IN_DETAIL
        if more > 0:
            parts.append(f"and {more} more flagged text{'s' if more > 1 else ''}")
        return "; ".join(parts)


def decide(texts: list[ScreenedText], results: list[ModerationResult], thresholds: dict[str, float],
           use_flagged: bool) -> ExampleDecision:
    places = []
    for text, result in zip(texts, results):
        fs = findings(result, thresholds, use_flagged)
        if fs:
            places.append((text, fs))
    return ExampleDecision(places)
