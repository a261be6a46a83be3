"""A readable card for the facts of stages without a section of their own (normalize, validate, heuristics,
split, export and any stage added later): scalar facts, count tables and sample lists, all bounded."""

from __future__ import annotations

import json

from pipeline.report import charts
from pipeline.report.chat_preview import clip, preview
from pipeline.report.run_data import RunData, rows_text

DEDICATED = {"tokens", "dedup", "moderation", "pii", "language"}
# facts kept only so chunked runs can merge exactly; not for readers
MERGE_BOOKKEEPING = {"sample_pool", "samples_limit", "samples_per_reason", "samples_per_type",
                     "samples_per_language", "value_bins"}
MAX_ROWS = 25
MAX_TEXT = 400


def _scalar(v) -> bool:
    return v is None or isinstance(v, (str, int, float, bool))


def _cell(v, key: str = "") -> str:
    if isinstance(v, str):
        return clip(v, MAX_TEXT)
    if key == "source_rows" and isinstance(v, list):
        return rows_text(v)
    if isinstance(v, list) and all(isinstance(x, (str, int, float)) for x in v):
        return clip(", ".join(str(x) for x in v), MAX_TEXT)
    return clip(json.dumps(v, ensure_ascii=False, default=str), MAX_TEXT)


def _sample_rows(items: list) -> dict:
    """A list of dicts as a table: columns = union of keys (first rows), example JSON shown as a preview."""
    rows = [i for i in items[:MAX_ROWS] if isinstance(i, dict)]
    if not rows:
        return {"columns": ["value"], "rows": [{"value": {"text": _cell(i)}} for i in items[:MAX_ROWS]]}
    columns: list[str] = []
    for r in rows:
        columns += [k for k in r if k not in columns]
    out = []
    for r in rows:
        cells = {}
        for c in columns:
            v = r.get(c)
            if isinstance(v, str) and v.startswith('{"messages"'):
                cells[c] = {"preview": preview(v, max_messages=4, max_chars=300)}
            else:
                cells[c] = {"text": "" if v is None else _cell(v, c)}
        out.append(cells)
    return {"columns": columns[:8], "rows": out}


def _is_histogram(v) -> bool:
    return isinstance(v, dict) and isinstance(v.get("counts"), list) and ("edges" in v or "labels" in v)


def card(name: str, facts: dict, stage_stat: dict) -> dict:
    scalars, tables, samples, specs = {}, {}, {}, []
    for k, v in facts.items():
        if (isinstance(v, (dict, list)) and not v) or k in MERGE_BOOKKEEPING:
            continue
        if _is_histogram(v):
            spec = charts.facts_histogram_spec(f"stage_{name}_{k}", f"{name}: {k.replace('_', ' ')}", v,
                                               k.removesuffix("_histogram").replace("_", " "))
            if spec:
                specs.append(spec)
        elif _scalar(v):
            scalars[k] = v
        elif isinstance(v, dict) and all(_scalar(x) for x in v.values()):
            tables[k] = dict(list(v.items())[:MAX_ROWS])
        elif isinstance(v, dict) and all(isinstance(x, list) for x in v.values()):
            for sub, items in list(v.items())[:MAX_ROWS]:  # e.g. samples per reason
                samples[f"{k} · {sub}"] = _sample_rows(items)
        elif isinstance(v, list):
            samples[k] = _sample_rows(v)
        else:
            tables[k] = {str(kk): _cell(vv) for kk, vv in list(v.items())[:MAX_ROWS]}
    return {"name": name, "charts": specs, "scalars": scalars, "tables": tables, "samples": samples,
            "in": stage_stat.get("in"), "out": stage_stat.get("out"), "dropped": stage_stat.get("dropped") or {},
            "changes": stage_stat.get("changes") or {}}


def stage_cards(data: RunData) -> list[dict]:
    out = []
    for s in data.stats.get("stages") or []:
        name = s.get("name")
        if name in DEDICATED:
            continue
        facts = data.facts(name)
        if facts or s.get("changes"):
            out.append(card(name, facts, s))
    return out
