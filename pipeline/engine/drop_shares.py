"""Drop shares: what each step of a run dropped as a share of what entered it, overall and per value of
some keys (a source file, a language, ...). The engine knows no step by name: the steps are data.

`outcomes` has one row per unit that entered the first step (an example; or, with an `n` column, `n`
units at once): `dropped_at` names the step that dropped it (null = it passed every step) and one column
per key holds its group (null is grouped as "null"). A step's input is every unit dropped at that step or
a later one, or kept; so for each key value the shares of consecutive steps chain exactly:
in(step k+1) = in(step k) - dropped(step k).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

DROPPED_AT = "dropped_at"
UNITS = "n"  # optional column: how many units the row stands for (default 1)


def share(dropped: int, entered: int) -> float:
    """dropped / entered, rounded for stats.json (0.0 when nothing entered)."""
    return round(dropped / entered, 6) if entered else 0.0


def drop_shares(steps: Sequence[str], outcomes: pl.DataFrame, keys: Sequence[str] = ()) -> dict[str, dict]:
    """{step: {"in", "dropped", "share", "by_<key>": {value: {"in", "dropped", "share"}}}} for every step in
    run order. Per key, only the values that entered the step are listed, in order of first appearance in
    `outcomes` (so the result depends only on the outcomes' order)."""
    unknown = sorted(set(outcomes[DROPPED_AT].drop_nulls().unique().to_list()) - set(steps))
    if unknown:
        raise ValueError(f"outcomes name steps that are not in the run: {unknown[:5]}")
    index = pl.col(DROPPED_AT).replace_strict({s: i for i, s in enumerate(steps)}, default=len(steps),
                                              return_dtype=pl.Int64)
    units = pl.col(UNITS).cast(pl.Int64) if UNITS in outcomes.columns else pl.lit(1, pl.Int64)
    frame = outcomes.select(index.alias("step"), units.alias("units"),
                            *(pl.col(k).cast(pl.Utf8).fill_null("null") for k in keys))
    entered, dropped = _matrix(frame, [], len(steps))
    out = {s: {"in": int(entered[0, i]), "dropped": int(dropped[0, i]),
               "share": share(int(dropped[0, i]), int(entered[0, i]))} for i, s in enumerate(steps)}
    for key in keys:
        values, (entered, dropped) = _values(frame, key), _matrix(frame, [key], len(steps))
        for i, s in enumerate(steps):
            out[s][f"by_{key}"] = {v: {"in": int(entered[j, i]), "dropped": int(dropped[j, i]),
                                       "share": share(int(dropped[j, i]), int(entered[j, i]))}
                                   for j, v in enumerate(values) if entered[j, i]}
    return out


def _values(frame: pl.DataFrame, key: str) -> list[str]:
    return frame[key].unique(maintain_order=True).to_list()


def _matrix(frame: pl.DataFrame, key: list[str], n_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """(entered, dropped) as [value, step] arrays (one row when `key` is empty): dropped[v, i] counts the
    units of value v dropped at step i; entered[v, i] those dropped at step i or later, or kept."""
    rows = {v: j for j, v in enumerate(_values(frame, key[0]))} if key else {None: 0}
    counts = np.zeros((len(rows), n_steps + 1), dtype=np.int64)
    grouped = frame.group_by([*key, "step"]).agg(pl.col("units").sum())
    for row in grouped.iter_rows():
        value, step, units = (row[0], row[1], row[2]) if key else (None, row[0], row[1])
        counts[rows[value], step] += units
    entered = np.cumsum(counts[:, ::-1], axis=1)[:, ::-1]
    return entered[:, :n_steps], counts[:, :n_steps]
