"""Run facts: the config (secrets masked again here, in case), input fingerprints, versions, per-stage
timings, and every stage's raw facts (bounded) so nothing a stage recorded is hidden from the reader."""

from __future__ import annotations

import json

from pipeline.report.run_data import RunData
from pipeline.secret_masking import masked

MAX_FACTS_CHARS = 20_000


def _pretty(obj, limit: int) -> str:
    text = json.dumps(masked(obj), indent=2, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[:limit] + f"\n… [{len(text) - limit:,} more characters in stats.json]"


def run_facts(data: RunData) -> dict:
    m = data.manifest
    timings = [{"name": s.get("name"), "unit": s.get("unit"), "in": s.get("in"), "out": s.get("out"),
                "seconds": s.get("seconds"), "cached": bool(s.get("cached"))} for s in data.stats.get("stages") or []]
    stage_facts = [{"name": name, "json": _pretty(facts, MAX_FACTS_CHARS)}
                   for name, facts in (data.stats.get("facts") or {}).items() if facts]
    changes = [{"name": s.get("name"), "changes": s["changes"]} for s in data.stats.get("stages") or []
               if isinstance(s.get("changes"), dict) and s["changes"]]
    return {"config_file": m.get("config_file"), "config_sha256": m.get("config_sha256"),
            "config_json": _pretty(data.config, 200_000), "inputs": m.get("inputs") or [],
            "versions": m.get("versions") or {}, "timings": timings,
            "total_seconds": round(sum(t["seconds"] or 0 for t in timings), 2),
            "stage_facts": stage_facts, "changes": changes}
