"""The near-duplicate tokens of a whole batch, tokenised and hashed in one vectorised pass over its text.

A batch's examples write their near tokens into a TokenStream, in order: marker tokens (a role marker, ...)
taken as they are, and casefolded texts to be split into tokens. `hashes()` then splits every text of the
batch at once with numpy over the batch's UTF-8 bytes (no Python string per token), hashes each distinct
token once (pyarrow's dictionary encoding finds them; TokenHasher hashes them) and puts the markers back in
place. The result equals, token for token, `TOKEN.findall` on each text with every token hashed
(tests/test_dedup_fast_path.py checks it on random and real text):

  - TOKEN's two alternatives are disjoint classes of single characters: a maximal run of word characters,
    or one character of a script written without spaces. So a token boundary depends only on each
    character's class, and `char_classes()` holds that class for every code point, found once per process
    by running the two classes over every code point with Python's own `re`;
  - texts are joined with "\n" (not a token character) and encoded once (surrogates as by surrogatepass, as
    TokenHasher hashes them); a character's class is looked up from its byte when it is ASCII and from its
    decoded code point otherwise, and given to all of its bytes, so a token is a run of bytes.
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.stages.dedup.near_duplicates.shingles import SINGLE_CHAR, WORD_CHAR, TokenHasher

OTHER, WORD, SINGLE, UNDECIDED = 0, 1, 2, 3   # character classes; UNDECIDED: a byte of a non-ASCII character


@lru_cache(maxsize=1)
def char_classes() -> np.ndarray:
    """uint8 class (OTHER, WORD or SINGLE) of every code point, as TOKEN's classes take them."""
    every = "".join(map(chr, range(0x110000)))
    classes = np.zeros(0x110000, np.uint8)
    for cls, pattern in ((WORD, WORD_CHAR), (SINGLE, SINGLE_CHAR)):
        for m in re.finditer(f"{pattern}+", every):
            classes[m.start():m.end()] = cls
    return classes


@lru_cache(maxsize=1)
def _byte_classes() -> bytes:
    """bytes.translate table: the class of an ASCII byte; UNDECIDED for the bytes of other characters."""
    return bytes(char_classes()[:128].tolist() + [UNDECIDED] * 128)


_LOW_BYTES = np.array([(1 << (8 * n)) - 1 for n in range(9)], dtype=np.uint64)
_PACKED = 16       # tokens of up to this many bytes are told apart by their bytes packed into two uint64
_PAD = _PACKED     # trailing separators, so that a packed read from any token's first byte stays in the data


def _non_ascii(data: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(first byte, byte count, class) of each non-ASCII character of UTF-8 `data`."""
    lead = np.flatnonzero(data >= 0xC0)
    b0 = data[lead].astype(np.uint32)
    size = np.where(b0 < 0xE0, 2, np.where(b0 < 0xF0, 3, 4))
    padded = np.concatenate([data, np.zeros(3, np.uint8)])
    b1, b2, b3 = (padded[lead + k].astype(np.uint32) & 0x3F for k in (1, 2, 3))
    code = np.where(size == 2, (b0 & 0x1F) << 6 | b1,
                    np.where(size == 3, (b0 & 0x0F) << 12 | b1 << 6 | b2, (b0 & 0x07) << 18 | b1 << 12 | b2 << 6 | b3))
    return lead, size, char_classes()[code]


def _token_spans(texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(UTF-8 bytes of the texts joined with "\n" and followed by _PAD of them, first byte and end byte of each
    token in them, tokens per text)."""
    text_end = np.cumsum(np.fromiter(map(len, texts), np.int64, len(texts)) + 1) - 1    # in characters
    joined = "\n".join(texts + [""] * _PAD)
    raw = joined.encode("utf-8", "surrogatepass")
    data = np.frombuffer(raw, np.uint8)
    classes = np.frombuffer(raw.translate(_byte_classes()), np.uint8)
    if joined.isascii():
        start, end = _runs(classes, WORD)
    else:
        classes = classes.copy()
        lead, size, cls = _non_ascii(data)
        for k in range(4):                      # every byte of a character takes its class
            inside = size > k
            classes[lead[inside] + k] = cls[inside]
        start, end = _runs(classes, WORD)
        single = cls == SINGLE
        if single.any():
            start, end = np.concatenate([start, lead[single]]), np.concatenate([end, lead[single] + size[single]])
            order = np.argsort(start, kind="stable")
            start, end = start[order], end[order]
        extra = np.cumsum(size - 1)             # bytes beyond one per character, up to each non-ASCII character
        lead_char = lead - (extra - (size - 1))
        text_end = text_end + np.concatenate([[0], extra])[np.searchsorted(lead_char, text_end)]
    counts = np.diff(np.searchsorted(start, text_end), prepend=0).astype(np.int64)
    return data, start, end, counts


def _runs(classes: np.ndarray, cls: int) -> tuple[np.ndarray, np.ndarray]:
    """First index and end of each maximal run of `cls` in `classes`."""
    inside = np.zeros(classes.size + 2, np.int8)
    np.equal(classes, cls, out=inside[1:-1].view(bool))
    edges = np.flatnonzero(inside[1:] != inside[:-1])       # a run's start, then its end, alternately
    return edges[0::2], edges[1::2]


def _distinct(values: pa.Array) -> tuple[pa.Array, np.ndarray]:
    encoded = pc.dictionary_encode(values)
    return encoded.dictionary, encoded.indices.to_numpy()


def text_token_hashes(texts: list[str], hasher: TokenHasher) -> tuple[np.ndarray, np.ndarray]:
    """(hashes of the tokens of every text, concatenated in order; tokens per text). Texts are casefolded.

    Each distinct token is hashed once. Tokens of up to 16 bytes are told apart by those bytes zero-padded
    (no token holds a zero byte): packed into one uint64 when they fit in 8 bytes, else as 16 bytes;
    longer ones by their bytes."""
    if not texts:
        return np.empty(0, np.uint64), np.empty(0, np.int64)
    data, start, end, counts = _token_spans(texts)
    if start.size == 0:
        return np.empty(0, np.uint64), counts
    size = end - start
    window = np.ndarray((data.size - 7,), dtype="<u8", buffer=data, strides=(1,))   # i: bytes i..i+7
    # every token's packed bytes; 0 (no token's: tokens are not empty) for the longer ones, set below
    keys, at = _distinct(pa.array(window[start] & _LOW_BYTES[np.where(size <= 8, size, 0)], pa.uint64()))
    hashes = hasher.packed_hashes(keys.to_numpy())[at]
    middle = (size > 8) & (size <= _PACKED)
    if middle.any():
        pair = np.empty((int(middle.sum()), 2), "<u8")
        pair[:, 0] = window[start[middle]]
        pair[:, 1] = window[start[middle] + 8] & _LOW_BYTES[size[middle] - 8]
        keys, at = _distinct(pa.FixedSizeBinaryArray.from_buffers(pa.binary(16), len(pair), [None, pa.py_buffer(pair)]))
        hashes[middle] = hasher.utf8_hashes([k.rstrip(b"\x00") for k in keys.to_pylist()])[at]
    long_ = size > _PACKED
    if long_.any():
        long_start, long_size = start[long_], size[long_]
        offsets = np.zeros(long_start.size + 1, np.int64)
        np.cumsum(long_size, out=offsets[1:])
        token_bytes = data[np.repeat(long_start - offsets[:-1], long_size) + np.arange(offsets[-1])]
        tokens, at = _distinct(pa.LargeBinaryArray.from_buffers(
            pa.large_binary(), long_start.size, [None, pa.py_buffer(offsets), pa.py_buffer(token_bytes)]))
        hashes[long_] = hasher.utf8_hashes(tokens.to_pylist())[at]
    return hashes, counts


class TokenStream:
    """One batch's near tokens, example by example, as plain lists a caller appends to directly (the writing
    runs once per message): each marker token in `markers` is followed by one casefolded text in `texts`, or
    by `extra[marker index]` texts; `end_example()` closes an example."""

    def __init__(self) -> None:
        self.markers: list[str] = []
        self.texts: list[str] = []
        self.extra: dict[int, int] = {}
        self.ends: list[int] = []             # markers written at the end of each example

    def end_example(self) -> None:
        self.ends.append(len(self.markers))

    def hashes(self, hasher: TokenHasher) -> tuple[np.ndarray, np.ndarray]:
        """(token hashes of all examples concatenated, uint64; tokens per example). An example whose texts hold
        no word gets no tokens at all (markers alone do not make a document)."""
        n, n_markers = len(self.ends), len(self.markers)
        texts_after = np.ones(n_markers, np.int64)
        if self.extra:
            texts_after[np.fromiter(self.extra, np.int64)] = np.fromiter(self.extra.values(), np.int64)
        if int(texts_after.sum()) != len(self.texts):
            raise RuntimeError("dedup: token stream out of step (texts do not match their markers)")
        text_hashes, text_counts = text_token_hashes(self.texts, hasher)
        words = np.bincount(np.repeat(np.arange(n_markers), texts_after), weights=text_counts,
                            minlength=n_markers).astype(np.int64)      # word tokens after each marker
        example = np.repeat(np.arange(n), np.diff(np.asarray(self.ends, dtype=np.int64), prepend=0))
        lengths = np.bincount(example, weights=words + 1, minlength=n).astype(np.int64)
        has_words = np.bincount(example, weights=words, minlength=n) > 0
        out = np.empty(int(lengths.sum()), np.uint64)
        marker_slot = np.zeros(out.size, bool)
        marker_slot[np.cumsum(words + 1) - (words + 1)] = True
        out[marker_slot] = hasher.hashes(self.markers)
        out[~marker_slot] = text_hashes
        if not has_words.all():
            out = out[np.repeat(has_words, lengths)]
            lengths = np.where(has_words, lengths, 0)
        return out, lengths
