"""Strict reading of a /v1/moderations answer. Anything unexpected raises BadResponse (the request is
retried): an answer that cannot be parsed, has the wrong number of results, or lacks a verdict or scores
is never trusted."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass


class BadResponse(Exception):
    """The server answered 200 with something that is not a usable moderation result."""


@dataclass(frozen=True)
class ModerationResult:
    flagged: bool
    categories: tuple[str, ...]  # the categories OpenAI marked true, sorted
    scores: dict[str, float]  # category -> score in [0, 1]

    def to_json(self) -> str:
        return json.dumps({"flagged": self.flagged, "categories": list(self.categories), "scores": self.scores},
                          separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModerationResult:
        d = json.loads(text)
        return cls(bool(d["flagged"]), tuple(d["categories"]), {k: float(v) for k, v in d["scores"].items()})


def parse_results(body: bytes | str, n_expected: int) -> list[ModerationResult]:
    try:
        doc = json.loads(body)
    except (TypeError, ValueError, UnicodeDecodeError) as e:
        raise BadResponse(f"the answer is not JSON ({_snippet(body)})") from e
    if not isinstance(doc, dict) or not isinstance(doc.get("results"), list):
        raise BadResponse(f"the answer has no 'results' list ({_snippet(body)})")
    results = doc["results"]
    if len(results) != n_expected:
        raise BadResponse(f"the answer has {len(results)} results for {n_expected} inputs")
    return [_result(r, i) for i, r in enumerate(results)]


def _result(item, i: int) -> ModerationResult:
    if not isinstance(item, dict):
        raise BadResponse(f"result {i} is not an object")
    flagged = item.get("flagged")
    if not isinstance(flagged, bool):
        raise BadResponse(f"result {i} has no boolean 'flagged'")
    raw_scores = item.get("category_scores")
    if not isinstance(raw_scores, dict) or not raw_scores:
        raise BadResponse(f"result {i} has no 'category_scores'")
    scores: dict[str, float] = {}
    for name, value in raw_scores.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or not 0.0 <= value <= 1.0:
            raise BadResponse(f"result {i}: score of {name!r} is {value!r}, not a number in [0, 1]")
        scores[name] = float(value)
    cats = item.get("categories")
    if not isinstance(cats, dict):
        raise BadResponse(f"result {i} has no 'categories'")
    marked = []
    for name, value in cats.items():
        if value is None:  # text-moderation models answer null for categories they do not have
            continue
        if not isinstance(value, bool):
            raise BadResponse(f"result {i}: category {name!r} is {value!r}, not true/false")
        if value:
            marked.append(name)
    return ModerationResult(flagged, tuple(sorted(marked)), scores)


def _snippet(body: bytes | str, n: int = 80) -> str:
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
    text = " ".join(text.split())
    return repr(text[:n] + ("…" if len(text) > n else ""))
