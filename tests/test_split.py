"""split: deterministic, grouped, capped, stratified."""

from __future__ import annotations

import math

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

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


def sized_frame(sizes: list[int], strata: list[int]) -> pl.DataFrame:
    """Group g has sizes[g] examples, all in stratum strata[g]."""
    rows = [(f"e{g}_{k}", f"g{g}", f"s{strata[g]}") for g, size in enumerate(sizes) for k in range(size)]
    return pl.DataFrame(rows, schema={"example_id": pl.Utf8, "group_id": pl.Utf8, "meta.kind": pl.Utf8},
                        orient="row")


def test_stratify_gives_the_fraction_overall_not_one_group_per_stratum():
    f = sized_frame([1] * 200, [g // 2 for g in range(200)])  # 100 strata of 2 examples
    out = run(f, validation_fraction=0.1, stratify="kind")
    assert out.facts["validation"] == 20  # not 100
    strata_in_validation = out.frame.filter(pl.col("split") == "validation")["meta.kind"].n_unique()
    assert strata_in_validation == 20


def test_stratify_represents_small_strata_only_as_far_as_the_fraction_allows():
    f = sized_frame([1] * 1020, [0] * 1000 + [1 + g // 2 for g in range(20)])  # one big stratum, 10 of 2
    out = run(f, validation_fraction=0.1, stratify="kind")
    assert out.facts["validation"] == 102
    per = dict(out.frame.filter(pl.col("split") == "validation").group_by("meta.kind").len().iter_rows())
    assert per.pop("s0") == 100 and sum(per.values()) == 2  # the ten small strata: 0.2 each, 2 in all


def test_validation_max_is_enforced_with_big_groups_and_strata():
    f = sized_frame([3] * 300, [g % 7 for g in range(300)])
    for kw in ({}, {"stratify": "kind"}):
        out = run(f, validation_fraction=0.5, validation_max=40, **kw)
        assert 40 - 3 < out.facts["validation"] <= 40


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 6), st.integers(0, 12)), min_size=1, max_size=150),
       st.floats(0.0, 0.95), st.one_of(st.none(), st.integers(0, 200)), st.booleans(), st.integers(0, 3))
def test_validation_count_matches_fraction_within_one_group_and_never_passes_the_cap(groups, fraction, cap,
                                                                                     stratified, seed):
    sizes, strata = [s for s, _ in groups], [k for _, k in groups]
    f = sized_frame(sizes, strata)
    kw = {"validation_fraction": fraction, "validation_max": cap, "seed": seed,
          **({"stratify": "kind"} if stratified else {})}
    out = run(f, **kw)
    n_val = out.facts["validation"]
    target = round(f.height * fraction) if cap is None else min(round(f.height * fraction), cap)
    assert abs(n_val - target) < max(sizes)
    assert cap is None or n_val <= cap
    assert n_val == (out.frame["split"] == "validation").sum()
    assert out.frame.group_by("group_id").agg(pl.col("split").n_unique())["split"].max() == 1
    again = run(f, **kw)
    assert again.frame["split"].to_list() == out.frame["split"].to_list()  # reruns are identical
    shuffled = run(f.sample(fraction=1.0, shuffle=True, seed=seed), **kw).frame  # and row order does not matter
    assert dict(shuffled.select("example_id", "split").iter_rows()) == dict(out.frame.select("example_id", "split").iter_rows())


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 9), min_size=1, max_size=300), st.floats(0.0, 0.95), st.integers(0, 3))
def test_each_stratum_gets_its_quota_rounded_down_or_up(strata, fraction, seed):
    f = sized_frame([1] * len(strata), strata)
    out = run(f, validation_fraction=fraction, seed=seed, stratify="kind").frame
    target = round(f.height * fraction)
    assert (out["split"] == "validation").sum() == target
    for part in out.partition_by("meta.kind"):
        quota = target * part.height / f.height
        assert math.floor(quota) <= (part["split"] == "validation").sum() <= math.ceil(quota)
