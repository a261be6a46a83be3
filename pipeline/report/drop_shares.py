"""Drop shares: per stage, what it dropped as a share of its input, per source and per language (from
stats.json `drop_shares`, see pipeline/report/drop_review.py); sources over the warning share are marked and show
their five sample rejects. Tables are bounded and sorted by share, highest first."""

from __future__ import annotations

from pipeline.report.chat_preview import clip
from pipeline.report.run_data import RunData, rows_text

MAX_ROWS = 25
MAX_TEXT = 300


def _pct(share) -> float | None:
    return round(100 * share, 2) if isinstance(share, (int, float)) else None


def _rows(by_value) -> list[dict]:
    """{value: {in, dropped, share[, warning, samples]}} -> rows sorted by share, then dropped, then value."""
    if not isinstance(by_value, dict):
        return []
    rows = [{"value": str(v), "in": e.get("in"), "dropped": e.get("dropped"), "pct": _pct(e.get("share")),
             "warning": bool(e.get("warning")), "samples": _samples(e.get("samples"))}
            for v, e in by_value.items() if isinstance(e, dict)]
    return sorted(rows, key=lambda r: (-(r["pct"] or 0), -(r["dropped"] or 0), r["value"]))


def _samples(items) -> list[dict]:
    return [{"example_id": str(s.get("example_id") or ""), "rows": rows_text(s.get("source_rows")),
             "reason": str(s.get("reason") or ""), "detail": clip(str(s.get("detail") or ""), MAX_TEXT),
             "preview": clip(str(s.get("preview") or ""), MAX_TEXT)}
            for s in (items or []) if isinstance(s, dict)]


def drop_shares(data: RunData) -> dict:
    block = data.stats.get("drop_shares")
    if not isinstance(block, dict) or not isinstance(block.get("stages"), dict):
        return {"available": False}
    stages = []
    for name, st in block["stages"].items():
        if not isinstance(st, dict):
            continue
        sources, languages = _rows(st.get("by_source")), _rows(st.get("by_language"))
        stages.append({"name": str(name), "unit": st.get("unit") or "examples", "in": st.get("in"),
                       "dropped": st.get("dropped"), "pct": _pct(st.get("share")),
                       "sources": sources[:MAX_ROWS], "more_sources": max(len(sources) - MAX_ROWS, 0),
                       "languages": languages[:MAX_ROWS], "more_languages": max(len(languages) - MAX_ROWS, 0),
                       "top_source": sources[0] if sources and sources[0]["dropped"] else None,
                       "top_language": languages[0] if languages and languages[0]["dropped"] else None,
                       "estimated": st.get("languages_estimated") or 0,
                       "warnings": sum(r["warning"] for r in sources)})
    warn_above = block.get("warn_above")
    return {"available": True, "stages": stages, "warn_above": _pct(warn_above) if warn_above else None,
            "exempt": [str(s) for s in block.get("exempt") or []], "languages_note": str(block.get("languages") or ""),
            "warnings": sum(s["warnings"] for s in stages)}
