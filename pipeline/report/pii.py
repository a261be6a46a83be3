"""PII: values found per type, examples per type and outcome, and redacted samples.

Only what the pii stage recorded is shown: its snippets have every detection replaced by a placeholder,
so the report never carries a raw value (the report may be shared).
"""

from __future__ import annotations

from pipeline.report import charts
from pipeline.report.chat_preview import clip
from pipeline.report.run_data import RunData

MAX_SAMPLES = 30


def _counts(v) -> dict:
    return {str(k): n for k, n in v.items() if isinstance(n, (int, float))} if isinstance(v, dict) else {}


def pii(data: RunData) -> dict:
    if not data.ran("pii"):
        return {"ran": False}
    facts = data.facts("pii")
    detections = _counts(facts.get("detections"))
    examples = _counts(facts.get("examples_with_pii"))
    actions = facts.get("actions") if isinstance(facts.get("actions"), dict) else {}
    rows = [{"type": t, "values": n, "examples": examples.get(t), "action": actions.get(t, "")}
            for t, n in sorted(detections.items(), key=lambda kv: -kv[1])]
    samples = []
    by_type = facts.get("samples") if isinstance(facts.get("samples"), dict) else {}
    for kind, items in by_type.items():
        for s in (items or [])[:5]:
            if isinstance(s, dict) and len(samples) < MAX_SAMPLES:
                samples.append({"type": kind, "example_id": s.get("example_id") or "",
                                "where": str(s.get("where") or ""), "text": clip(str(s.get("snippet") or ""), 500)})
    chart = charts.bar_spec("pii_types", "PII values found per type", {r["type"]: r["values"] for r in rows},
                            "values found", "values found")
    return {"ran": True, "rows": rows, "samples": samples, "charts": [chart] if chart else [],
            "outcome": _counts(facts.get("outcome")), "by_role": _counts(facts.get("by_role")),
            "scanned": facts.get("scanned_messages"), "action": data.params("pii").get("action"),
            "dropped": data.stage_stat("pii").get("dropped") or {}}
