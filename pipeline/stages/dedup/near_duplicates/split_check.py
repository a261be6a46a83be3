"""The check the split stage runs: no duplicate cluster may have members in both train and validation."""

from __future__ import annotations

import polars as pl

CLUSTER_COLUMN = "dup_cluster"


def split_straddle_facts(frame: pl.DataFrame) -> dict:
    """{"straddling_pairs", "straddling_clusters"} for a split frame with a `dup_cluster` column, else {}.

    A straddling pair is two examples of one duplicate cluster, one in train and one in validation
    (expected 0: dedup drops all but one member per cluster, or with `action: group` puts a cluster
    into one split group).
    """
    if CLUSTER_COLUMN not in frame.columns or "split" not in frame.columns:
        return {}
    per = (frame.filter(pl.col(CLUSTER_COLUMN).is_not_null())
           .group_by(CLUSTER_COLUMN)
           .agg((pl.col("split") == "train").sum().alias("train"), (pl.col("split") != "train").sum().alias("other")))
    pairs = per.select((pl.col("train").cast(pl.Int64) * pl.col("other").cast(pl.Int64)).alias("p"))["p"]
    return {"straddling_pairs": int(pairs.sum() or 0), "straddling_clusters": int((pairs > 0).sum())}
