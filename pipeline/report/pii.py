"""PII: per type values found, redacted and near-misses, examples per outcome, redacted samples and a few
near-misses ("looked like a phone, not redacted because it is a range of numbers").

Only what the pii stage recorded is shown: its snippets have every detection replaced by a placeholder,
so the report never carries a raw value (the report may be shared).
"""

from __future__ import annotations

from pipeline.report import charts
from pipeline.report.chat_preview import clip
from pipeline.report.run_data import RunData

MAX_SAMPLES = 30
NEAR_MISSES_SHOWN = 3  # per type
# Why a candidate was left (the reason codes of pipeline/stages/pii/: phones.py, accounts.py, national_ids.py)
BECAUSE = {
    "order_id": "it follows an order, invoice, ticket or reference word",
    "version": "it follows a version word",
    "date": "it is written as a date",
    "decimal": "it is a decimal number",
    "arithmetic": "an arithmetic operator stands beside it",
    "range": "it is a range of numbers",
    "amount": "it is an amount with thousands separators",
    "invalid_number": "no phone region accepts it (libphonenumber) / not a valid number",
    "no_phone_word": "a bare number needs a phone word nearby",
    "grouping": "its digits are not grouped the way cards are printed",
    "checksum": "its check digits are wrong",
}


def _counts(v) -> dict:
    return {str(k): n for k, n in v.items() if isinstance(n, (int, float))} if isinstance(v, dict) else {}


def pii(data: RunData) -> dict:
    if not data.ran("pii"):
        return {"ran": False}
    facts = data.facts("pii")
    detections = _counts(facts.get("detections"))
    examples = _counts(facts.get("examples_with_pii"))
    actions = facts.get("actions") if isinstance(facts.get("actions"), dict) else {}
    redacted = _counts(facts.get("redacted"))
    missed: dict[str, int] = {}
    for key, n in _counts(facts.get("near_misses")).items():
        kind = key.split(":", 1)[0]
        missed[kind] = missed.get(kind, 0) + n
    kinds = sorted(set(detections) | set(missed), key=lambda t: (-detections.get(t, 0), -missed.get(t, 0), t))
    rows = [{"type": t, "values": detections.get(t, 0), "redacted": redacted.get(t, 0),
             "near_misses": missed.get(t, 0), "examples": examples.get(t, 0), "action": actions.get(t, "")}
            for t in kinds]
    near_misses = []
    by_kind = facts.get("near_miss_samples") if isinstance(facts.get("near_miss_samples"), dict) else {}
    for kind, items in by_kind.items():
        for s in (items or [])[:NEAR_MISSES_SHOWN]:
            if isinstance(s, dict):
                reason = str(s.get("reason") or "")
                near_misses.append({"type": kind, "example_id": s.get("example_id") or "",
                                    "where": str(s.get("where") or ""),
                                    "because": f"looked like a {kind.replace('_', ' ')}, not redacted because "
                                               f"{BECAUSE.get(reason, reason)}",
                                    "text": clip(str(s.get("snippet") or ""), 500)})
    samples = []
    by_type = facts.get("samples") if isinstance(facts.get("samples"), dict) else {}
    for kind, items in by_type.items():
        for s in (items or [])[:5]:
            if isinstance(s, dict) and len(samples) < MAX_SAMPLES:
                samples.append({"type": kind, "example_id": s.get("example_id") or "",
                                "where": str(s.get("where") or ""), "text": clip(str(s.get("snippet") or ""), 500)})
    chart = charts.bar_spec("pii_types", "PII values found per type",
                            {r["type"]: r["values"] for r in rows if r["values"]},
                            "values found", "values found")
    return {"ran": True, "rows": rows, "samples": samples, "near_misses": near_misses, "charts": [chart] if chart else [],
            "outcome": _counts(facts.get("outcome")), "by_role": _counts(facts.get("by_role")),
            "scanned": facts.get("scanned_messages"), "action": data.params("pii").get("action"),
            "dropped": data.stage_stat("pii").get("dropped") or {}}
