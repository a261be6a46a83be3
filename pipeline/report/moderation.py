"""Moderation: was the data screened at all, flagged counts per category, score histograms, and flagged
examples (shown blurred until clicked). When the stage did not run or was skipped: the NOT SCREENED banner."""

from __future__ import annotations

from pipeline.report import charts
from pipeline.report.chat_preview import clip, preview
from pipeline.report.run_data import RunData, first_key
from pipeline.report.targets import providers

MAX_FLAGGED_SHOWN = 20
RUN_KEYS = ("screen", "unique_texts", "from_cache", "sent", "requests", "seconds", "inputs_per_second",
            "rate_limit_slowdowns", "messages_chunked", "images_not_screened", "required")


def screening(data: RunData) -> dict:
    """{"screened": bool, "why": text} — why the data counts as not screened, when it does not."""
    if not data.ran("moderation"):
        found = providers(data.stats)
        openai = ("OpenAI screens every training file with its Moderation API and rejects files with unsafe "
                  "content; " if not found or "openai" in found else "")
        return {"screened": False,
                "why": f"moderation did not run: the data was NOT screened for unsafe content. {openai}add the "
                       "moderation stage and set OPENAI_API_KEY"}
    facts = data.facts("moderation")
    skipped = first_key(facts, "skipped", "skip_reason")
    if skipped or facts.get("screened") is False:
        reason = skipped if isinstance(skipped, str) else "no OPENAI_API_KEY"
        return {"screened": False, "why": f"moderation was skipped ({reason}): the data was NOT screened"}
    return {"screened": True, "why": ""}


def _score_charts(facts: dict) -> list[dict]:
    hists = facts.get("score_histograms")
    if not isinstance(hists, dict):
        return []
    out = []
    for cat, h in list(hists.items())[:20]:
        spec = charts.facts_histogram_spec(f"mod_scores_{len(out)}", f"{cat}: scores of screened texts", h,
                                           "score", log=True)
        if spec:
            out.append(spec)
    return out


def moderation(data: RunData) -> dict:
    screen = screening(data)
    facts = data.facts("moderation")
    if not data.ran("moderation"):
        return {"ran": False, **screen}
    categories = first_key(facts, "flagged_by_category", "categories", "category_counts") or {}
    if not isinstance(categories, dict):
        categories = {}
    flagged = []
    for s in (first_key(facts, "flagged_examples", "samples", "flagged_samples") or [])[:MAX_FLAGGED_SHOWN]:
        if not isinstance(s, dict):
            continue
        example = first_key(s, "example", "text")
        cats = s.get("categories")
        flagged.append({
            "example_id": s.get("example_id"), "action": s.get("action"),
            "categories": ", ".join(cats) if isinstance(cats, list) else (str(cats) if cats else ""),
            "scores": dict(s["scores"]) if isinstance(s.get("scores"), dict) else {},
            "detail": clip(str(s.get("detail") or ""), 600),
            "preview": preview(example) if isinstance(example, str) and example.startswith("{")
            else {"messages": [], "more": 0, "raw": clip(str(example or ""), 600)}})
    chart = charts.bar_spec("mod_categories", "Flagged examples per category",
                            dict(sorted(categories.items(), key=lambda kv: -kv[1])), "flagged", "flagged")
    return {"ran": True, **screen, "facts": facts, "flagged": flagged,
            "screened_count": first_key(facts, "examples_screened", "texts_screened"),
            "texts_screened": facts.get("texts_screened"), "from_cache": facts.get("from_cache"),
            "decided_by": facts.get("decided_by") if isinstance(facts.get("decided_by"), dict) else {},
            "flagged_count": first_key(facts, "flagged", "n_flagged"),
            "action": first_key(facts, "action") or data.params("moderation").get("action"),
            "model": first_key(facts, "model") or data.params("moderation").get("model"),
            "run": {k: facts[k] for k in RUN_KEYS if k in facts and not isinstance(facts[k], (dict, list))},
            "retries": facts.get("retries") if isinstance(facts.get("retries"), dict) else {},
            "rate_budget": facts.get("rate_budget") if isinstance(facts.get("rate_budget"), dict) else {},
            "charts": [c for c in [chart, *_score_charts(facts)] if c]}
