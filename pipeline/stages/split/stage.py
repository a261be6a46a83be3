"""split (global): assign each example to train or validation, deterministically and by group.

Groups (by default the source conversation) are ranked by a seeded blake2b hash of their key; the
lowest-ranked groups go to validation until the target count is reached, per stratum when `stratify`
is set. The same input and config always give the same split, and adding unrelated groups moves few.
"""

from __future__ import annotations

import hashlib

import polars as pl

from pipeline.engine.stage import StageContext, StageOutput, keep_all
from pipeline.errors import UserError
from pipeline.stages.dedup.near_duplicates import split_straddle_facts

RUNS = "whole_without_text"  # groups and strata only: the example text stays on disk


def _rank(key: str, seed: int) -> str:
    return hashlib.blake2b(f"{seed}\x00{key}".encode(), digest_size=8).hexdigest()


def _column(frame: pl.DataFrame, name: str, key: str) -> str:
    col = name if name in frame.columns else f"meta.{name.removeprefix('meta.')}"
    if col not in frame.columns:
        meta = [c for c in frame.columns if c.startswith("meta.")]
        raise UserError(f"stages.split.{key}: column {name!r} not found; metadata columns: {', '.join(meta) or 'none'} "
                        f"(list raw columns under inputs[].metadata to carry them)")
    return col


def run(frame: pl.DataFrame, params, ctx: StageContext) -> StageOutput:
    group_col = "group_id" if params.group_by == "conversation" else _column(frame, params.group_by, "group_by")
    strat_col = _column(frame, params.stratify, "stratify") if params.stratify else None
    groups = (
        frame.group_by(group_col, *( [strat_col] if strat_col else [] ), maintain_order=True)
        .agg(pl.len().alias("n"))
        .with_columns(pl.col(group_col).cast(pl.Utf8).fill_null("").map_elements(
            lambda k: _rank(k, params.seed), return_dtype=pl.Utf8).alias("rank"))
    )
    total = frame.height
    target = round(total * params.validation_fraction)
    if params.validation_max is not None:
        target = min(target, params.validation_max)
    chosen: list = []
    strata = groups.partition_by(strat_col, maintain_order=True) if strat_col else [groups]
    for part in strata:
        share = target * part["n"].sum() / total if total else 0
        taken = 0
        for g, n in part.sort("rank").select(group_col, "n").iter_rows():
            if taken >= share:
                break
            chosen.append(g)
            taken += n
    out = frame.with_columns(
        pl.when(pl.col(group_col).is_in(pl.Series(chosen, dtype=frame.schema[group_col]).implode()))
        .then(pl.lit("validation")).otherwise(pl.lit("train")).alias("split")
    )
    counts = dict(out.group_by("split").len().iter_rows())
    facts = {"train": counts.get("train", 0), "validation": counts.get("validation", 0),
             "target_validation": target, "groups": groups.height}
    facts.update(split_straddle_facts(out))  # duplicate clusters across train/validation (expected 0)
    if strat_col:
        by = out.group_by(strat_col, "split").len().sort(strat_col, "split")
        facts["stratified"] = [dict(zip(("value", "split", "n"), r)) for r in by.iter_rows()]
    return StageOutput(keep_all(out), facts)
