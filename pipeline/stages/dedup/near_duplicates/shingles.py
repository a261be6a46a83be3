"""Word tokens and word shingles, hashed to 32-bit ids, vectorised over a batch of documents.

Tokens: casefolded runs of word characters; scripts written without spaces (CJK, kana, Thai, Lao,
Myanmar, Khmer) give one token per character, so their shingles are character n-grams. Callers may
add marker tokens of their own (e.g. a role marker) that the regex can never produce.

Shingles: each run of `k` consecutive tokens inside one document. A document shorter than `k`
tokens gets one shingle of all its tokens (so short texts only match texts identical to them).
Each token is hashed once (blake2b, stable across runs and machines); a shingle's id is a position-
weighted sum of its token hashes mixed with the 64-bit MurmurHash3 finalizer, cut to 32 bits: the
input width datasketch's `affine32` MinHash scheme expects.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np

_NO_SPACE_SCRIPTS = "\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
WORD_CHAR = rf"[^\W{_NO_SPACE_SCRIPTS}]"      # a word character of a script written with spaces
SINGLE_CHAR = rf"[{_NO_SPACE_SCRIPTS}]"          # a character that is a token on its own
TOKEN = re.compile(f"{WORD_CHAR}+|{SINGLE_CHAR}")

# Odd 64-bit multipliers, one per position in a shingle (shingle_size is capped at len(_POSITION)).
_POSITION = np.array([
    0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93,
    0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53, 0x94D049BB133111EB, 0xBF58476D1CE4E5B9,
    0x2545F4914F6CDD1D, 0x9FB21C651E98DF25, 0xA0761D6478BD642F, 0xE7037ED1A0B428DB,
    0x8EBC6AF09C88C6E3, 0x589965CC75374CC3, 0x1D8E4E27C47D124F, 0xDB4F0B9175AE2165,
    0x87C37B91114253D5, 0x4CF5AD432745937F, 0x52DCE729DA3ED02D, 0xB492B66FBE98F273,
], dtype=np.uint64)
MAX_SHINGLE_SIZE = len(_POSITION)
_CACHE_LIMIT = 2_000_000


def tokens(text: str) -> list[str]:
    return TOKEN.findall(text.casefold())


class _TokenCache(dict):
    """token -> stable 64-bit hash (unsigned); a missing token is hashed on lookup and kept, up to _CACHE_LIMIT."""

    def __missing__(self, token: str) -> int:
        value = int.from_bytes(hashlib.blake2b(token.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")
        if len(self) >= _CACHE_LIMIT:
            self.clear()
        self[token] = value
        return value


class _Utf8TokenCache(dict):
    """The same hashes for tokens given as their UTF-8 bytes (surrogates encoded as by surrogatepass)."""

    def __missing__(self, token: bytes) -> int:
        value = int.from_bytes(hashlib.blake2b(token, digest_size=8).digest(), "little")
        if len(self) >= _CACHE_LIMIT:
            self.clear()
        self[token] = value
        return value


class _PackedTokenCache(dict):
    """The same hashes for tokens of at most 8 UTF-8 bytes given as those bytes packed little-endian into an
    int (a token never holds a zero byte, so the packing is one-to-one)."""

    def __missing__(self, key: int) -> int:
        token = key.to_bytes(8, "little").rstrip(b"\x00")
        value = int.from_bytes(hashlib.blake2b(token, digest_size=8).digest(), "little")
        if len(self) >= _CACHE_LIMIT:
            self.clear()
        self[key] = value
        return value


class TokenHasher:
    """Stable 64-bit token hashes with a bounded per-process cache (vocabularies repeat heavily)."""

    def __init__(self) -> None:
        self._cache = _TokenCache()
        self._utf8_cache = _Utf8TokenCache()
        self._packed_cache = _PackedTokenCache()

    def hashes(self, toks: list[str]) -> np.ndarray:
        """uint64 hash of each token, in order (C-speed lookups; only new tokens run Python code)."""
        return np.fromiter(map(self._cache.__getitem__, toks), dtype=np.uint64, count=len(toks))

    def utf8_hashes(self, toks: list[bytes]) -> np.ndarray:
        """`hashes` of tokens given as UTF-8 bytes: the same value as for the token's text."""
        return np.fromiter(map(self._utf8_cache.__getitem__, toks), dtype=np.uint64, count=len(toks))

    def packed_hashes(self, keys: np.ndarray) -> np.ndarray:
        """`hashes` of tokens of at most 8 UTF-8 bytes given packed little-endian into uint64 keys."""
        return np.fromiter(map(self._packed_cache.__getitem__, keys.tolist()), dtype=np.uint64, count=len(keys))


def fmix64(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> np.uint64(33))


def shingle_ids(token_hashes: np.ndarray, lengths: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Shingle ids of a batch. `token_hashes`: all documents' token hashes concatenated (uint64);
    `lengths`: tokens per document. Returns (ids uint32 concatenated in document order, count per document)."""
    if not 1 <= k <= MAX_SHINGLE_SIZE:
        raise ValueError(f"shingle size must be 1..{MAX_SHINGLE_SIZE}, got {k}")
    lengths = np.asarray(lengths, dtype=np.int64)
    total = int(lengths.sum())
    counts = np.where(lengths >= k, lengths - k + 1, np.minimum(lengths, 1))
    if total == 0:
        return np.empty(0, np.uint32), counts
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    pos = np.arange(total, dtype=np.int64) - starts          # position of each token inside its document
    remaining = np.repeat(lengths, lengths) - pos             # tokens left in the document from here on
    padded = np.concatenate([token_hashes.astype(np.uint64, copy=False), np.zeros(k - 1, np.uint64)])
    acc = np.zeros(total, np.uint64)
    for j in range(k):
        acc += padded[j:j + total] * _POSITION[j] * (remaining > j)
    keep = (remaining >= k) | ((pos == 0) & (remaining < k))
    return (fmix64(acc[keep]) >> np.uint64(32)).astype(np.uint32), counts
