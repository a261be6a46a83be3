"""split: deterministic, grouped, capped, stratified."""

from __future__ import annotations

import polars as pl

from pipeline.stages.split import stage as split
from schemas.stages.split import SplitParams


def frame(n_groups: int, per_group: int = 1, strata: list[str] | None = None) -> pl.DataFrame:
    rows = [(f"e{g}_{k}", f"g{g}", (strata[g % len(strata)] if strata else None))
            for g in range(n_groups) for k in range(per_group)]
    return pl.DataFrame({"example_id": [r[0] for r in rows], "group_id": [r[1] for r in rows],
                         "meta.kind": [r[2] for r in rows]})


def run(f, **kw):
    return split.run(f, SplitParams(name="split", **kw), None)


def test_fraction_is_met_and_deterministic():
    f = frame(1000)
    a, b = run(f, validation_fraction=0.1), run(f, validation_fraction=0.1)
    assert a.frame["split"].to_list() == b.frame["split"].to_list()
    assert a.facts["validation"] == 100
    assert run(f, validation_fraction=0.1, seed=1).frame["split"].to_list() != a.frame["split"].to_list()


def test_groups_never_straddle():
    out = run(frame(300, per_group=3), validation_fraction=0.2).frame
    per_group = out.group_by("group_id").agg(pl.col("split").n_unique().alias("k"))
    assert per_group["k"].max() == 1
    assert 170 <= (out["split"] == "validation").sum() <= 190


def test_cap_and_zero_fraction():
    assert run(frame(1000), validation_fraction=0.5, validation_max=30).facts["validation"] == 30
    assert run(frame(50), validation_fraction=0.0).facts["validation"] == 0


def test_stratified_keeps_proportions():
    out = run(frame(1000, strata=["a", "a", "a", "b"]), validation_fraction=0.2, stratify="kind").frame
    share = out.group_by("meta.kind").agg((pl.col("split") == "validation").mean().alias("v")).sort("meta.kind")
    assert all(abs(v - 0.2) < 0.01 for v in share["v"])


def test_adding_groups_moves_few_existing_ones():
    small, big = run(frame(1000), validation_fraction=0.1).frame, run(frame(1100), validation_fraction=0.1).frame
    joined = small.join(big, on="example_id", suffix="_big")
    assert (joined["split"] != joined["split_big"]).sum() < 30
