"""stats.json `preference` (preference runs only; docs/preference-design.md, 5): what export recorded about the
pairs it wrote (pipeline/stages/export/preference_facts.py), each destination's preference format, and the
acceptance rate of the edits layout, which only the rejects can tell.

  pairs, by_signal, margin, length_bias   as export recorded them
  by_source     {source file: {layout, rows, pairs}}: rows read and pairs exported, per source in input order
  targets       {folder: {label, pairs: {train, validation}, refused: {reason: n}, format, format_source}}
  edits         null without an edits input; else {rows, accepted_as_is, acceptance_rate}: a draft sent as is
                gives a pair whose two replies are identical, rejected as identical_pair; the rate is those rows
                over every row of the edits inputs
"""

from __future__ import annotations

import polars as pl

from pipeline.targets.base import Target

EDITS_LAYOUT = "preference_edits"  # the layout whose pairs have signal "edits" (design, 4)
ACCEPTED_AS_IS = "identical_pair"


def preference_stats(pairs: dict, stats: dict, rejects: pl.DataFrame, targets: list[Target]) -> dict:
    """stats.json `preference` from export's facts `pairs`, the run's stats so far (sources, rows_by_source),
    its rejects (common to every target) and its destinations."""
    rows = stats.get("rows_by_source") or {}
    layouts = {s["file"]: s.get("layout") for s in stats.get("sources") or []}
    exported = pairs.get("by_source") or {}
    by_source = {f: {"layout": layouts.get(f), "rows": (rows.get(f) or {}).get("input", 0),
                     "pairs": exported.get(f, 0)} for f in [*layouts, *(f for f in exported if f not in layouts)]}
    per_target = pairs.get("targets") or {}
    return {
        "pairs": pairs.get("pairs") or {"train": 0, "validation": 0},
        "targets": {t.folder: {"label": f"{t.provider} {t.model}", **_target_pairs(per_target.get(t.folder)),
                               **_format(t)} for t in targets},
        "by_source": by_source,
        "by_signal": pairs.get("by_signal") or {},
        "margin": pairs.get("margin"),
        "length_bias": pairs.get("length_bias"),
        "edits": _edits(by_source, rejects),
    }


def _target_pairs(found: dict | None) -> dict:
    found = found or {}
    return {"pairs": found.get("pairs") or {"train": 0, "validation": 0}, "refused": found.get("refused") or {}}


def _format(target: Target) -> dict:
    fact = getattr(target.module, "PREFERENCE", None)
    return {"format": getattr(fact, "value", None), "format_source": getattr(fact, "source", None)}


def _edits(by_source: dict, rejects: pl.DataFrame) -> dict | None:
    files = [f for f, s in by_source.items() if s["layout"] == EDITS_LAYOUT]
    if not files:
        return None
    n_rows = sum(by_source[f]["rows"] for f in files)
    mine = (pl.col("reason") == ACCEPTED_AS_IS) & pl.col("source_file").is_in(pl.Series(files, dtype=pl.Utf8).implode())
    accepted = (rejects.filter(mine).select("source_file", pl.col("source_rows").alias("row")).explode("row")
                .drop_nulls().unique().height)
    return {"rows": n_rows, "accepted_as_is": accepted,
            "acceptance_rate": round(accepted / n_rows, 4) if n_rows else None}
