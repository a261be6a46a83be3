"""split (global): assign each example to train or validation, deterministically and by group.

Groups (by default the source conversation; `group_by` a metadata column; dedup's `action: group` merges
a cluster's groups) never straddle train and validation. An input's `split: train | validation` (the
`input_split` column the read+convert step writes) sends its groups there whole. A group holding examples
of such an input and of an auto input follows the input's split (counted as
`auto_examples_in_assigned_groups`); a group holding examples of a train input and of a validation input
goes to validation, so nothing marked held-out is trained on (`train_examples_sent_to_validation`, with a
warning). The other groups, the auto share, are ranked by a seeded blake2b hash of their key, and
selection.py takes round(validation_fraction × auto examples) examples' worth of them for validation
(within one group's size), never more than `validation_max`, shared among the strata by largest
remainder when `stratify` is set. The same input and config always give the same
split, and adding unrelated groups moves few.
"""

from __future__ import annotations

import polars as pl

from pipeline.engine.records import INPUT_SPLIT
from pipeline.engine.stage import Problem, StageContext, StageOutput, keep_all
from pipeline.errors import UserError
from pipeline.stages.dedup.near_duplicates import split_straddle_facts
from pipeline.stages.split.selection import RANK, SIZE, STRATUM, seeded_rank, validation_groups

PREFERENCE = True  # pairs: group_id is the prompt's hash, so the pairs of one prompt stay on one side
RUNS = "whole_without_text"  # groups and strata only: the example text stays on disk
ASSIGNED = "assigned"  # per group: the split its inputs ask for (null: the auto share)
AUTO_MEMBERS = "auto_members"  # per group: its examples from inputs without `split:`


def _column(frame: pl.DataFrame, name: str, key: str) -> str:
    col = name if name in frame.columns else f"meta.{name.removeprefix('meta.')}"
    if col not in frame.columns:
        meta = [c for c in frame.columns if c.startswith("meta.")]
        raise UserError(f"stages.split.{key}: column {name!r} not found; metadata columns: {', '.join(meta) or 'none'} "
                        f"(list raw columns under inputs[].metadata to carry them)")
    return col


def _groups(frame: pl.DataFrame, group_col: str, strat_col: str | None, seed: int) -> pl.DataFrame:
    """One row per group: its key, size, stratum (that of its first example), rank and, when inputs set
    `split:`, the split they assign it (validation wins over train: a group never straddles) and how many
    of its examples come from auto inputs."""
    aggs = [pl.len().alias(SIZE), (pl.col(strat_col).first() if strat_col else pl.lit(None, pl.Utf8)).alias(STRATUM)]
    if INPUT_SPLIT in frame.columns:
        aggs += [pl.when((pl.col(INPUT_SPLIT) == "validation").any()).then(pl.lit("validation"))
                 .when((pl.col(INPUT_SPLIT) == "train").any()).then(pl.lit("train")).alias(ASSIGNED),
                 pl.col(INPUT_SPLIT).is_null().sum().alias(AUTO_MEMBERS)]
    else:
        aggs += [pl.lit(None, pl.Utf8).alias(ASSIGNED)]
    return (frame.group_by(group_col, maintain_order=True).agg(aggs)
            .with_columns(pl.col(group_col).cast(pl.Utf8).fill_null("").map_elements(
                lambda k: seeded_rank(k, seed), return_dtype=pl.Utf8).alias(RANK)))


def run(frame: pl.DataFrame, params, ctx: StageContext) -> StageOutput:
    group_col = "group_id" if params.group_by == "conversation" else _column(frame, params.group_by, "group_by")
    strat_col = _column(frame, params.stratify, "stratify") if params.stratify else None
    groups = _groups(frame, group_col, strat_col, params.seed)
    auto = groups.filter(pl.col(ASSIGNED).is_null())
    n_auto = int(auto[SIZE].sum())
    target = round(n_auto * params.validation_fraction)
    if params.validation_max is not None:
        target = min(target, params.validation_max)
    chosen = validation_groups(auto, group_col, target, params.validation_max, params.seed)
    chosen += groups.filter(pl.col(ASSIGNED) == "validation")[group_col].to_list()
    out = frame.with_columns(
        pl.when(pl.col(group_col).is_in(pl.Series(chosen, dtype=frame.schema[group_col]).implode(), nulls_equal=True))
        .then(pl.lit("validation")).otherwise(pl.lit("train")).alias("split")
    )
    counts = dict(out.group_by("split").len().iter_rows())
    facts = {"train": counts.get("train", 0), "validation": counts.get("validation", 0),
             "target_validation": target, "groups": groups.height}
    problems = []
    if INPUT_SPLIT in frame.columns:
        facts.update(_input_split_facts(out, groups, n_auto))
        problems = _conflict_problems(facts)
    facts.update(split_straddle_facts(out))  # duplicate clusters across train/validation (expected 0)
    if strat_col:
        by = out.group_by(strat_col, "split").len().sort(strat_col, "split")
        facts["stratified"] = [dict(zip(("value", "split", "n"), r)) for r in by.iter_rows()]
    return StageOutput(keep_all(out), facts, problems)


def _input_split_facts(out: pl.DataFrame, groups: pl.DataFrame, n_auto: int) -> dict:
    """What the inputs' `split:` did: per source file where its examples went, the groups the inputs
    decided, and the examples that followed their group rather than their input."""
    asked = pl.col(INPUT_SPLIT).fill_null("auto")
    by_file = (out.group_by("source_file", asked.alias("input_split"), maintain_order=True)
               .agg(pl.len().alias("examples"), (pl.col("split") == "train").sum().alias("train"),
                    (pl.col("split") == "validation").sum().alias("validation")))
    assigned = groups.filter(pl.col(ASSIGNED).is_not_null())
    return {
        "by_input": by_file.to_dicts(),
        "auto_examples": n_auto,
        "groups_assigned_by_input": dict(sorted(assigned.group_by(ASSIGNED).len().iter_rows())),
        "auto_examples_in_assigned_groups": int(assigned[AUTO_MEMBERS].sum()),
        "train_examples_sent_to_validation": out.filter(asked == "train", pl.col("split") == "validation").height,
    }


def _conflict_problems(facts: dict) -> list[Problem]:
    moved = facts["train_examples_sent_to_validation"]
    if not moved:
        return []
    return [Problem("warning", "train_input_sent_to_validation",
                    f"{moved} examples of inputs marked split: train went to validation: their split group (the "
                    "conversation, stages.split.group_by or a dedup cluster with action: group) also holds "
                    "examples of an input marked split: validation, and a group never straddles")]
