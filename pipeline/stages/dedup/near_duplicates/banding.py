"""LSH banding: split each signature into `bands` bands of `rows` values; documents that agree on a
whole band share a bucket and become a candidate pair.

Two documents with Jaccard similarity J collide in at least one band with probability
P(J) = 1 - (1 - J**rows)**bands (the S-curve). datasketch's MinHashLSH picks (bands, rows) by
minimising weighted false-positive + false-negative areas, which leaves the curve's knee near the
threshold, so many pairs just above it are never candidates. `choose_banding` instead takes the
largest `rows` (fewest false candidates) whose curve still reaches RECALL_AT_THRESHOLD at the threshold.
For threshold 0.8 and 128 permutations that is 21 bands x 6 rows: P(0.3) = 0.015, P(0.5) = 0.28,
P(0.7) = 0.93, P(0.75) = 0.984, P(0.8) = 0.998, P(0.85) = 0.99995 (candidates below the threshold are
removed by verification). datasketch's own choice for 0.8 is 9 x 13 with P(0.8) = 0.40, P(0.85) = 0.69:
on the planted set of bench/bench_minhash.py it finds 81% of the pairs at or above 0.8, 21 x 6 all of them.
"""

from __future__ import annotations

import numpy as np

from pipeline.engine.executor import Executor, SerialExecutor
from pipeline.stages.dedup.near_duplicates.shingles import fmix64
from pipeline.stages.dedup.near_duplicates.signatures import SignatureRows

RECALL_AT_THRESHOLD = 0.995
_ROW_MULT = np.array([0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB, 0xD6E8FEB86659FD93,
                      0xA0761D6478BD642F, 0xE7037ED1A0B428DB, 0x8EBC6AF09C88C6E3, 0x589965CC75374CC3],
                     dtype=np.uint64)


def candidate_probability(jaccard: float, bands: int, rows: int) -> float:
    return 1.0 - (1.0 - jaccard ** rows) ** bands


def choose_banding(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows) with the most rows whose S-curve is >= RECALL_AT_THRESHOLD at `threshold`."""
    best = (num_perm, 1)
    for rows in range(1, num_perm + 1):
        bands = num_perm // rows
        if candidate_probability(threshold, bands, rows) >= RECALL_AT_THRESHOLD:
            best = (bands, rows)
    return best


def s_curve(bands: int, rows: int, points=None) -> list[list[float]]:
    """[[jaccard, candidate probability], ...] for the report."""
    points = points if points is not None else [round(0.3 + 0.05 * i, 2) for i in range(15)]
    return [[j, round(candidate_probability(j, bands, rows), 5)] for j in points]


def _band_key(block: np.ndarray) -> np.ndarray:
    """One 64-bit key per row of a (docs x rows) uint32 block (a key collision only adds a candidate)."""
    acc = np.zeros(block.shape[0], np.uint64)
    for j in range(block.shape[1]):
        acc = fmix64(acc ^ (block[:, j].astype(np.uint64) * _ROW_MULT[j % len(_ROW_MULT)] + np.uint64(j)))
    return acc


def candidate_pairs(signatures: np.ndarray | SignatureRows, bands: int, rows: int, bucket_limit: int,
                    executor: Executor | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """Unique candidate pairs (left < right, row indices into `signatures`) and the number of buckets
    larger than `bucket_limit + 1`, where each member was compared only with the `bucket_limit`
    members before it (in row order) instead of with all of them.

    Each band is an independent shuffle (bucket by band key, pair within buckets), so bands are tasks on the
    executor: a task gets its band's columns of the signatures and returns that band's pair codes; the union
    does not depend on how the bands were cut or where they ran."""
    signatures = SignatureRows.of(signatures)
    n = signatures.shape[0]
    executor = executor or SerialExecutor()
    workers = executor.workers_for(n, bands)
    every = np.arange(n, dtype=np.int64)
    # one band per task, n x rows values each, gathered as the task is handed out (never all bands at once)
    tasks = ((signatures.take(every, b * rows, (b + 1) * rows), rows, bucket_limit) for b in range(bands))
    found, capped = [], 0
    for codes, band_capped in executor.map(band_pairs, tasks, workers):
        found.append(codes)
        capped += band_capped
    codes = np.unique(np.concatenate(found)) if found else np.empty(0, np.int64)
    return codes // max(n, 1), codes % max(n, 1), capped


def band_pairs(block: np.ndarray, rows: int, bucket_limit: int) -> tuple[np.ndarray, int]:
    """The pairs of the bands in `block` (docs x k*rows: k bands) as unique codes left * n + right, and the
    number of capped buckets."""
    n = block.shape[0]
    found: list[np.ndarray] = []
    capped = 0
    idx = np.arange(n, dtype=np.int64)
    for band in range(block.shape[1] // rows):
        keys = _band_key(block[:, band * rows:(band + 1) * rows])
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        new_bucket = np.ones(n, dtype=bool)
        new_bucket[1:] = sorted_keys[1:] != sorted_keys[:-1]
        bucket_start = np.maximum.accumulate(np.where(new_bucket, idx, 0))
        rank = idx - bucket_start
        capped += int(np.count_nonzero(rank == bucket_limit + 1))
        per = np.minimum(rank, bucket_limit)                     # partners before each member in its bucket
        total = int(per.sum())
        if total == 0:
            continue
        right = np.repeat(order, per)
        back = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(per) - per, per)
        left = order[np.repeat(idx, per) - 1 - back]
        lo, hi = np.minimum(left, right), np.maximum(left, right)
        found.append(np.unique(lo * n + hi))
    codes = np.unique(np.concatenate(found)) if found else np.empty(0, np.int64)
    return codes, capped
