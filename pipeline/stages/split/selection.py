"""Which groups of the auto share go to validation: deterministic, capped, optionally stratified.

Every group has a rank (a seeded hash of its key) and, with `stratify`, a stratum (without it, all
groups are one stratum). The validation target is shared among the strata by largest remainder: each
stratum's quota is target × its examples / all examples, rounded down, and the examples left over go one
each to the strata with the largest remainders (ties: a seeded hash of the stratum's value). So the
validation share is the fraction overall, and a stratum is represented only as far as the fraction
allows: 100 strata of 2 examples at 0.1 give 20 validation examples from 20 strata, not one from each.

The strata are then visited in the order of that hash, each taking its groups in rank order while the
count is under the quotas due so far (what an earlier stratum took beyond its quota, because its last
group was larger, comes off the next one's). A group that would pass `validation_max` is skipped. The
count ends within one group's size of the target and never above the cap, and reruns are identical.
"""

from __future__ import annotations

import hashlib

import polars as pl

STRATUM, SIZE, RANK = "stratum", "n", "rank"


def seeded_rank(value: str, seed: int) -> str:
    return hashlib.blake2b(f"{seed}\x00{value}".encode(), digest_size=8).hexdigest()


def validation_groups(groups: pl.DataFrame, key: str, target: int, cap: int | None, seed: int) -> list:
    """The keys of the groups chosen for validation. `groups` has one row per group: `key`, SIZE
    (examples), RANK (seeded hash of the key) and STRATUM (null for every group without `stratify`)."""
    strata = {value[0]: part for value, part in
              groups.sort(RANK, key, maintain_order=True).partition_by(STRATUM, as_dict=True, maintain_order=True).items()}
    order = {s: seeded_rank("" if s is None else str(s), seed) for s in strata}
    quotas = _largest_remainder(target, {s: int(part[SIZE].sum()) for s, part in strata.items()}, order)
    limit = cap if cap is not None else float("inf")
    chosen, taken, due = [], 0, 0
    for s in sorted(strata, key=lambda s: (order[s], "" if s is None else str(s))):
        due += quotas[s]
        for group, n in strata[s].select(key, SIZE).iter_rows():
            if taken >= due:
                break
            if taken + n <= limit:
                chosen.append(group)
                taken += n
    return chosen


def _largest_remainder(target: int, sizes: dict, order: dict) -> dict:
    """Each stratum's share of `target` in proportion to its size, summing to `target` exactly."""
    total = sum(sizes.values())
    if not total:
        return dict.fromkeys(sizes, 0)
    quotas = {s: target * n // total for s, n in sizes.items()}
    left = target - sum(quotas.values())
    by_remainder = sorted(sizes, key=lambda s: (-(target * sizes[s] % total), order[s], "" if s is None else str(s)))
    for s in by_remainder[:left]:
        quotas[s] += 1
    return quotas
