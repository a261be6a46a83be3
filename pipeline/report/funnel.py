"""The funnel (rows read per source → examples built → after each stage → train / validation) and the
table of drop reasons per stage with a few real rejected examples each, located by rejects.jsonl line."""

from __future__ import annotations

import polars as pl

from pipeline.report.chat_preview import preview
from pipeline.report.run_data import RunData, rows_text

SAMPLES_PER_REASON = 3


def _pct(n: int, of: int) -> float | None:
    return round(100 * n / of, 1) if of else None


def funnel(data: RunData) -> dict:
    stats = data.stats
    stages = stats.get("stages") or []
    rows_by_source = stats.get("rows_by_source") or {}
    sources = []
    for s in stats.get("sources") or []:
        acc = rows_by_source.get(s.get("file"), {})
        sources.append({**s, "exported_rows": acc.get("exported"), "rejected_rows": acc.get("rejected"),
                        "notes": _source_notes(s.get("metadata"))})
    built = (stats.get("examples") or {}).get("built", 0)
    steps = []
    for s in stages[2:]:
        dropped = sum((s.get("dropped") or {}).values())
        steps.append({"name": s["name"], "in": s["in"], "out": s["out"], "dropped": dropped,
                      "pct_dropped": _pct(dropped, s["in"]), "pct_of_built": _pct(s["out"], built),
                      "seconds": s.get("seconds"), "cached": s.get("cached", False)})
    ingest = stages[0] if stages else {}
    convert = stages[1] if len(stages) > 1 else {}
    ex = stats.get("examples") or {}
    final = ex.get("train", 0) + ex.get("validation", 0)
    return {
        "sources": sources, "rows": stats.get("rows") or {}, "ingest": ingest, "convert": convert,
        "built": built, "steps": steps,
        "train": ex.get("train", 0), "validation": ex.get("validation", 0),
        "pct_train": _pct(ex.get("train", 0), final), "pct_validation": _pct(ex.get("validation", 0), final),
        "pct_exported": _pct(final, built),
    }


def _source_notes(metadata) -> list[str]:
    """One line per metadata join and for the `where` filter of a source (scalar facts only, bounded)."""
    if not isinstance(metadata, dict):
        return []
    parts = [("join", j) for j in (metadata.get("joins") or []) if isinstance(j, dict)]
    if isinstance(metadata.get("where"), dict):
        parts.append(("where", metadata["where"]))
    return [f"{kind}: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in fact.items()
                                    if isinstance(v, (str, int, float)))[:300] for kind, fact in parts[:10]]


def drop_reasons(data: RunData) -> list[dict]:
    """[{stage, unit, in, total, reasons: [{reason, n, pct, samples: [{line, source, rows, detail, preview}]}]}]."""
    rejects = data.rejects.with_row_index("line", offset=1)
    samples: dict[tuple[str, str], list[dict]] = {}
    if rejects.height:
        picked = (rejects.group_by("stage", "reason", maintain_order=True).head(SAMPLES_PER_REASON)
                  .select("line", "stage", "reason", "detail", "source_file", "source_rows", "example"))
        for r in picked.iter_rows(named=True):
            samples.setdefault((r["stage"], r["reason"]), []).append({
                "line": r["line"], "source": r["source_file"], "rows": rows_text(r["source_rows"]),
                "detail": (r["detail"] or "")[:1000], "preview": preview(r["example"], max_messages=4)})
    by_reason = data.stats.get("rejects_by_reason") or {}
    out = []
    for s in data.stats.get("stages") or []:
        name = s.get("name")
        counts = by_reason.get(name) or s.get("dropped") or {}
        if not counts:
            continue
        total = sum(counts.values())
        reasons = [{"reason": r, "n": n, "pct": _pct(n, s.get("in", 0)), "samples": samples.get((name, r), [])}
                   for r, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
        out.append({"stage": name, "unit": s.get("unit", "examples"), "in": s.get("in", 0), "total": total,
                    "reasons": reasons})
    return out


def source_contribution(data: RunData) -> dict:
    """Per source file: exported train / validation examples and rejected examples (for the stacked chart)."""
    files = [s.get("file") for s in data.stats.get("sources") or []]
    ex = data.examples
    counts: dict[tuple[str, str], int] = {}
    if ex.height and "split" in ex.columns:
        for f, split, n in ex.group_by("source_file", "split").len().iter_rows():
            counts[(f, split)] = n
    rejected = {}
    rej = data.rejects.filter(pl.col("example").is_not_null())
    if rej.height:
        rejected = dict(rej.group_by("source_file").len().iter_rows())
    return {"labels": files,
            "parts": {"train": [counts.get((f, "train"), 0) for f in files],
                      "validation": [counts.get((f, "validation"), 0) for f in files],
                      "rejected": [rejected.get(f, 0) for f in files]}}
