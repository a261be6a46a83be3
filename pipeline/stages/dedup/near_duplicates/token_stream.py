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
  - texts are joined with the byte 0xFF, which UTF-8 never contains (surrogates encode as by surrogatepass,
    as TokenHasher hashes them), or with "\n" when all are ASCII; a character's class is looked up from its
    byte when it is ASCII and from its decoded code point otherwise, and given to all of its bytes, so a
    token is a run of bytes.
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.stages.dedup.near_duplicates.shingles import SINGLE_CHAR, WORD_CHAR, TokenHasher

OTHER, WORD, SINGLE, UNDECIDED = 0, 1, 2, 3   # character classes; UNDECIDED: a byte of a non-ASCII character
_SEPARATOR = b"\xff"


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
    """bytes.translate table: the class of an ASCII byte; UNDECIDED for the others (0xFF, the separator: OTHER)."""
    ascii_classes = char_classes()[:128].tolist()
    return bytes(ascii_classes + [UNDECIDED] * 127 + [OTHER])


def _decode_non_ascii(data: np.ndarray, classes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Give every byte of each non-ASCII character its character's class (in place); return the start and end
    byte of each SINGLE character (a token on its own)."""
    lead = np.flatnonzero((data >= 0xC0) & (data != 0xFF))
    b0 = data[lead].astype(np.uint32)
    size = np.where(b0 < 0xE0, 2, np.where(b0 < 0xF0, 3, 4))
    padded = np.concatenate([data, np.zeros(3, np.uint8)]).astype(np.uint32)
    b1, b2, b3 = padded[lead + 1] & 0x3F, padded[lead + 2] & 0x3F, padded[lead + 3] & 0x3F
    code = np.where(size == 2, (b0 & 0x1F) << 6 | b1,
                    np.where(size == 3, (b0 & 0x0F) << 12 | b1 << 6 | b2, (b0 & 0x07) << 18 | b1 << 12 | b2 << 6 | b3))
    cls = char_classes()[code]
    for k in range(4):
        inside = size > k
        classes[lead[inside] + k] = cls[inside]
    single = cls == SINGLE
    return lead[single], lead[single] + size[single]


def text_token_hashes(texts: list[str], hasher: TokenHasher) -> tuple[np.ndarray, np.ndarray]:
    """(hashes of the tokens of every text, concatenated in order; tokens per text). Texts are casefolded."""
    if not texts:
        return np.empty(0, np.uint64), np.empty(0, np.int64)
    single_start = single_end = np.empty(0, np.int64)
    if all(map(str.isascii, texts)):        # one byte per character: text ends are known from the lengths
        joined = "\n".join(texts).encode("ascii")
        text_end = np.cumsum(np.fromiter(map(len, texts), np.int64, len(texts)) + 1) - 1
        data = np.frombuffer(joined, np.uint8)
        classes = np.frombuffer(joined.translate(_byte_classes()), np.uint8)
    else:
        joined = _SEPARATOR.join([t.encode("utf-8", "surrogatepass") for t in texts])
        data = np.frombuffer(joined, np.uint8)
        text_end = np.append(np.flatnonzero(data == 0xFF), data.size)
        classes = np.frombuffer(joined.translate(_byte_classes()), np.uint8).copy()
        single_start, single_end = _decode_non_ascii(data, classes)
    edges = np.diff((classes == WORD).view(np.int8), prepend=np.int8(0), append=np.int8(0))
    start, end = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    if single_start.size:
        start, end = np.concatenate([start, single_start]), np.concatenate([end, single_end])
        order = np.argsort(start, kind="stable")
        start, end = start[order], end[order]
    counts = np.diff(np.searchsorted(start, text_end), prepend=0).astype(np.int64)
    if start.size == 0:
        return np.empty(0, np.uint64), counts
    offsets = np.zeros(start.size + 1, np.int64)
    np.cumsum(end - start, out=offsets[1:])
    token_bytes = data[classes != OTHER]
    tokens = pa.LargeBinaryArray.from_buffers(pa.large_binary(), start.size,
                                              [None, pa.py_buffer(offsets), pa.py_buffer(token_bytes)])
    encoded = pc.dictionary_encode(tokens)
    values = hasher.utf8_hashes(encoded.dictionary.to_pylist())
    return values[encoded.indices.to_numpy()], counts


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
