"""Which groups of the auto share go to validation: deterministic, capped, optionally stratified.

Every group has a rank (a seeded hash of its key) and, with `stratify`, a stratum. A group's position
is the middle of its examples on its stratum's line, with the stratum's groups laid out in rank order:
(examples ranked before it in the stratum + half its own) / the stratum's examples, a number in (0, 1).
Groups are taken in order of position (ties: rank), so at every cut each stratum has given about the
same share of its examples, and a stratum is represented only as far as the fraction allows: 100
strata of 2 examples at 0.1 give 20 validation examples from 20 strata, not one from each. Without
`stratify` there is one stratum and the order is the rank order.

A group is taken while the count is under the target, and never when it would pass `validation_max`:
the count ends within one group's size of the target, and never above the cap.
"""

from __future__ import annotations

import polars as pl

STRATUM, SIZE, RANK = "stratum", "n", "rank"


def validation_groups(groups: pl.DataFrame, key: str, target: int, cap: int | None) -> list:
    """The keys of the groups chosen for validation. `groups` has one row per group: `key`, SIZE
    (examples), RANK (seeded hash) and STRATUM (null for every group without `stratify`)."""
    before = pl.col(SIZE).cum_sum().over(STRATUM) - pl.col(SIZE)
    position = (2 * before + pl.col(SIZE)) / (2 * pl.col(SIZE).sum().over(STRATUM))
    ordered = (groups.sort(STRATUM, RANK, key, maintain_order=True)
               .with_columns(position.alias("position"))
               .sort("position", RANK, key, maintain_order=True))
    limit = cap if cap is not None else float("inf")
    chosen, taken = [], 0
    for group, n in ordered.select(key, SIZE).iter_rows():
        if taken >= target:
            break
        if taken + n <= limit:
            chosen.append(group)
            taken += n
    return chosen
