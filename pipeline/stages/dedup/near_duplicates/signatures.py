"""MinHash signatures with datasketch's permutation family, computed for a whole batch at once.

datasketch (the `affine32` scheme, datasketch >= 2.0) defines the hash family: its `MinHash(num_perm,
seed)` supplies the permutation parameters (a, b), an input hash h is pre-mixed with the 32-bit
MurmurHash3 finalizer and permuted as a*h + b mod 2^32, and a signature keeps each permutation's
minimum. This module applies exactly that to many documents with numpy (one pass per block of
permutations over all shingles of a batch, then a segmented minimum), instead of one Python
`MinHash.update_batch` call per document. tests/test_dedup.py checks the values equal datasketch's.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from pipeline.errors import UserError

EMPTY = np.uint32(0xFFFFFFFF)  # a signature value no shingle produced (datasketch's empty sentinel)
_PERM_BLOCK = 32
_CHUNK_SHINGLES = 1 << 16


@lru_cache(maxsize=8)
def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's (a, b) permutation parameters for `num_perm` and `seed`, as uint32 arrays."""
    from datasketch import MinHash

    try:
        mh = MinHash(num_perm=num_perm, seed=seed, scheme="affine32")
    except TypeError:
        import datasketch

        raise UserError(f"stages.dedup needs datasketch >= 2.0 (its 'affine32' MinHash scheme); installed: "
                        f"{getattr(datasketch, '__version__', 'unknown')}. Run `make setup` to install the "
                        "locked versions.") from None
    a, b = mh.permutations
    return np.ascontiguousarray(a, dtype=np.uint32), np.ascontiguousarray(b, dtype=np.uint32)


def fmix32(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def minhash_signatures(ids: np.ndarray, counts: np.ndarray, num_perm: int, seed: int) -> np.ndarray:
    """Signatures (documents x num_perm, uint32) of shingle ids concatenated per document.

    A document with no shingles gets the EMPTY value everywhere; callers must keep such rows out of LSH.
    """
    a, b = permutations(num_perm, seed)
    counts = np.asarray(counts, dtype=np.int64)
    out = np.full((len(counts), num_perm), EMPTY, dtype=np.uint32)
    present = np.flatnonzero(counts > 0)
    if present.size == 0:
        return out
    ends = np.cumsum(counts)
    mixed_all = fmix32(np.asarray(ids, dtype=np.uint32))
    # documents in groups of about _CHUNK_SHINGLES shingles so a (permutations x shingles) block stays in
    # cache; the minimum runs along the contiguous axis (numpy's reduceat is ~20x slower across rows)
    group = (ends[present] - 1) // _CHUNK_SHINGLES
    # one work buffer for every block (a fresh block of this size costs page faults each time)
    buffer = np.empty(min(_PERM_BLOCK, num_perm) * (_CHUNK_SHINGLES + int(counts.max())), np.uint32)
    for g in np.unique(group):
        docs = present[group == g]
        first, last = ends[docs[0]] - counts[docs[0]], ends[docs[-1]]
        starts = ends[docs] - counts[docs] - first
        mixed = mixed_all[first:last]
        for lo in range(0, num_perm, _PERM_BLOCK):
            hi = min(lo + _PERM_BLOCK, num_perm)
            permuted = buffer[:(hi - lo) * mixed.size].reshape(hi - lo, mixed.size)
            np.multiply(a[lo:hi, None], mixed[None, :], out=permuted)   # wraps mod 2^32, as datasketch's does
            permuted += b[lo:hi, None]
            out[docs, lo:hi] = np.minimum.reduceat(permuted, starts, axis=1).T
    return out


class SignatureRows:
    """A signature matrix kept as the row blocks it arrived in (zero-copy views of a feature column's chunks, so
    the whole matrix is never copied into one array), or the rows `selected` of it; `take` gathers rows."""

    def __init__(self, blocks: list[np.ndarray], selected: np.ndarray | None = None, width: int = 0):
        self.blocks = [b for b in blocks if b.shape[0]]
        self.starts = np.cumsum([0] + [b.shape[0] for b in self.blocks])
        self.selected = selected
        width = self.blocks[0].shape[1] if self.blocks else width
        self.shape = (int(self.starts[-1]) if selected is None else len(selected), width)

    @staticmethod
    def of(signatures) -> SignatureRows:
        return signatures if isinstance(signatures, SignatureRows) else SignatureRows([signatures], None,
                                                                                      signatures.shape[1])

    def select(self, rows: np.ndarray) -> SignatureRows:
        rows = np.asarray(rows, dtype=np.int64)
        return SignatureRows(self.blocks, rows if self.selected is None else self.selected[rows], self.shape[1])

    def take(self, rows: np.ndarray, lo: int = 0, hi: int | None = None) -> np.ndarray:
        """Values lo:hi of `rows` (positions in this selection) as one new (rows x values) array."""
        rows = np.asarray(rows, dtype=np.int64)
        if self.selected is not None:
            rows = self.selected[rows]
        hi = self.shape[1] if hi is None else hi
        if len(self.blocks) == 1:
            return self.blocks[0][rows, lo:hi]
        out = np.empty((rows.size, hi - lo), np.uint32)
        order = np.argsort(rows, kind="stable") if rows.size > 1 and bool((np.diff(rows) < 0).any()) else None
        ordered = rows if order is None else rows[order]
        cut = np.searchsorted(ordered, self.starts)
        for b, block in enumerate(self.blocks):
            at = slice(cut[b], cut[b + 1])
            if at.start < at.stop:
                values = block[ordered[at] - self.starts[b], lo:hi]
                if order is None:
                    out[at] = values
                else:
                    out[order[at]] = values
        return out


def estimated_jaccard(signatures, left: np.ndarray, right: np.ndarray, chunk: int = 200_000) -> np.ndarray:
    """Share of equal signature values for each pair (left[i], right[i]); `signatures`: an array or SignatureRows."""
    signatures = SignatureRows.of(signatures)
    out = np.empty(len(left), dtype=np.float64)
    for lo in range(0, len(left), chunk):
        sl = slice(lo, lo + chunk)
        out[sl] = (signatures.take(left[sl]) == signatures.take(right[sl])).mean(axis=1)
    return out
