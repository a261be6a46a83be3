"""Language: examples per language (overall and per side), languages not allowed, user/assistant
mismatches with samples, examples kept by the margin or as code-mixed, and the detection-confidence
histogram."""

from __future__ import annotations

from pipeline.report import charts
from pipeline.report.chat_preview import clip
from pipeline.report.run_data import RunData

MAX_MISMATCHES = 20


def _counts(v) -> dict:
    if not isinstance(v, dict):
        return {}
    return dict(sorted(((str(k), n) for k, n in v.items() if isinstance(n, (int, float))), key=lambda kv: -kv[1]))


def language(data: RunData) -> dict:
    if not data.ran("language"):
        return {"ran": False}
    facts = data.facts("language")
    by_language = _counts(facts.get("by_language"))
    by_side = {side: _counts(c) for side, c in (facts.get("by_side") or {}).items()} \
        if isinstance(facts.get("by_side"), dict) else {}
    mm = facts.get("mismatches") if isinstance(facts.get("mismatches"), dict) else {}
    mismatches = [{"example_id": s.get("example_id") or "", "user": s.get("user") or "",
                   "assistant": s.get("assistant") or "", "user_text": clip(str(s.get("user_text") or ""), 300),
                   "assistant_text": clip(str(s.get("assistant_text") or ""), 300)}
                  for s in (mm.get("samples") or [])[:MAX_MISMATCHES] if isinstance(s, dict)]
    specs = []
    if data.column("language") is None:  # else the Distributions section already charts the column
        specs.append(charts.bar_spec("lang_counts", "Examples per language", dict(list(by_language.items())[:25]),
                                     "examples", "examples"))
    specs.append(charts.facts_histogram_spec("lang_confidence", "Detection confidence per side",
                                             facts.get("confidence_histogram") or {}, "confidence"))
    per_language = {}
    if isinstance(facts.get("samples"), dict):
        for lang, items in list(facts["samples"].items())[:30]:
            per_language[str(lang)] = [{"example_id": i.get("example_id") or "", "text": clip(str(i.get("text") or ""), 300)}
                                       for i in (items or [])[:5] if isinstance(i, dict)]
    backend = facts.get("backend")
    return {"ran": True, "by_language": by_language, "by_side": by_side, "mismatches": mismatches, "samples": per_language,
            "mismatch_count": mm.get("count"), "pairs": _counts(mm.get("pairs")),
            "not_allowed": _counts(facts.get("not_allowed")), "uncertain": facts.get("uncertain"),
            "kept": _counts(facts.get("kept")),
            "backend": backend if isinstance(backend, str) else " ".join(str(v) for v in (backend or {}).values())
            if isinstance(backend, dict) else "",
            "allowed": data.params("language").get("allowed"),
            "reply_language": data.params("language").get("reply_language"),
            "dropped": data.stage_stat("language").get("dropped") or {}, "charts": [s for s in specs if s]}
