"""Row accounting: every source row ends in exactly one place — an exported example or a reject."""

from __future__ import annotations

import polars as pl

from pipeline.errors import InternalInvariantError


def _rows(frame: pl.DataFrame) -> pl.DataFrame:
    return (frame.select("source_file", pl.col("source_rows").alias("row")).explode("row")
            .drop_nulls().unique())


def account_rows(universe: pl.DataFrame, exported: pl.DataFrame, rejects: pl.DataFrame) -> dict:
    """Counts per source; raises if a row is unaccounted for, or an exported row is not a real row."""
    out_rows = _rows(exported)
    rej_rows = _rows(rejects)
    phantom = out_rows.join(universe, on=["source_file", "row"], how="anti")
    if phantom.height:
        raise InternalInvariantError(f"exported examples cite rows that were never read: {phantom.head(5).rows()}")
    rejected = universe.join(out_rows, on=["source_file", "row"], how="anti")
    lost = rejected.join(rej_rows, on=["source_file", "row"], how="anti")
    if lost.height:
        raise InternalInvariantError(f"{lost.height} source rows were neither exported nor rejected: {lost.head(5).rows()}")
    by_source = {}
    for (f,), part in universe.group_by(["source_file"], maintain_order=True):
        e = out_rows.filter(pl.col("source_file") == f).height
        by_source[f] = {"input": part.height, "exported": e, "rejected": part.height - e}
    total = {"input": universe.height, "exported": out_rows.height, "rejected": rejected.height}
    if total["input"] != total["exported"] + total["rejected"]:
        raise InternalInvariantError(f"row accounting does not add up: {total}")
    return {"total": total, "by_source": by_source}
