"""py3langid's naive Bayes language identifier run over many texts at once (same model, same answers).

py3langid (`LanguageIdentifier.classify`) walks a byte-level DFA through one text at a time in a Python
loop, counts the n-gram features the walk emits, and scores them with log1p(count) @ model table. Here a
batch of texts advances one byte position per numpy step (texts sorted by length, so step p only touches
the texts longer than p); the count of each (feature, text) pair comes from one sort of int32 keys; and
the scores from one sparse product, feature-major (scipy CSC @ dense table), so each model row is read
once per batch. The softmax with temperature sqrt(bytes) and the folding of aliased columns (sr/srl)
follow the library. 5-8x faster than classify on 200-character samples (bench/bench_language.py).

Answers: the same language as py3langid's classify (tests/test_batched_langid.py checks it on real
text); confidences agree to ~1e-6 (float32 sums in another order). A text's answer depends only on that
text, never on the other texts of its batch, so any batching or chunking gives bit-identical results.

`languages` restricts the candidate languages like py3langid's set_languages (softmax over that set).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

import numpy as np
from scipy import sparse

TEXT_BITS = 13
TEXT_MASK = (1 << TEXT_BITS) - 1
MIN_PROBABILITY = 1e-3  # rank(): runners-up less likely than this are left out (they never decide anything)
MIN_PROBABILITY_DEFAULT = MIN_PROBABILITY
BATCH_TEXTS = 1 << TEXT_BITS  # texts per numpy pass: bounded memory, and (feature, text) keys fit int32


def encode(text: str) -> bytes:
    """The library's input normalisation: all-caps text lower-cased, NFC, UTF-8 (surrogates passed)."""
    if text.isupper():
        text = text.lower()
    if text.isascii():  # NFC leaves ASCII alone
        return text.encode("ascii")
    return unicodedata.normalize("NFC", text).encode("utf-8", "surrogatepass")


class BatchedLangid:
    def __init__(self, languages: Sequence[str] | None = None):
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        if languages:
            ident.set_languages(sorted(set(languages)))  # ValueError names unknown codes
        self.classes: list[str] = list(ident.nb_classes)
        self.table = np.ascontiguousarray(np.asarray(ident.nb_ptc, dtype=np.float32))
        self.prior = np.asarray(ident.nb_pc, dtype=np.float32)
        self.nextmove = np.frombuffer(ident.tk_nextmove, dtype=_uint(ident.tk_nextmove)).astype(np.intp)
        self.rowbase = np.frombuffer(ident.tk_row, dtype=_uint(ident.tk_row)).astype(np.intp) << 8
        self.n_features = self.table.shape[0]
        feature_bits = self.n_features.bit_length()  # 2**bits - 1 > every feature: the "no feature" mark
        if feature_bits + TEXT_BITS > 31:
            raise ValueError(f"py3langid model with {self.n_features} features: keys overflow int32")
        self.no_feature = ((1 << feature_bits) - 1) << TEXT_BITS
        feature = np.asarray(ident.tk_output, dtype=np.int32)
        self.shifted_feature = np.where(feature >= 0, feature << TEXT_BITS, self.no_feature).astype(np.int32)
        # the state after each byte is kept; a text's positions past its end hold PAST_END, which emits nothing
        self.past_end = len(self.shifted_feature)
        self.emitted = np.append(self.shifted_feature, np.int32(self.no_feature))
        first: dict[str, int] = {}
        self.alias_pairs = []  # (first column, duplicate column) of a label listed twice
        for i, c in enumerate(self.classes):
            if c in first:
                self.alias_pairs.append((first[c], i))
            else:
                first[c] = i

    def classify(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        """(language, confidence) per text, in order."""
        return [ranked[0] for ranked in self.rank(texts, 1)]

    def rank(self, texts: Sequence[str], k: int, never: Sequence[str] = ()) -> list[tuple[tuple[str, float], ...]]:
        """The k most probable (language, probability) per text, best first, in order of the texts; classes
        in `never` are scored (the probabilities of the others do not change) but never answered."""
        never_columns = [i for i, c in enumerate(self.classes) if c in set(never)]
        encoded = [encode(t) for t in texts]
        n = len(encoded)
        lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=n)
        order = np.argsort(-lengths, kind="stable")
        k = min(k, len(self.classes))
        best = np.zeros((n, k), dtype=np.intp)
        probability = np.zeros((n, k), dtype=np.float64)
        for start in range(0, n, BATCH_TEXTS):
            idx = order[start:start + BATCH_TEXTS]
            probs = self._probabilities([encoded[i] for i in idx.tolist()])
            probs[:, never_columns] = -1.0
            # most texts are sure: a best class above 1 - MIN_PROBABILITY leaves every runner-up below
            # MIN_PROBABILITY, so it is answered alone (argmax: ties go to the lower class index)
            top1 = probs.argmax(axis=1)
            p1 = probs[np.arange(len(idx)), top1]
            sure = p1 > 1.0 - MIN_PROBABILITY
            best[idx[sure], 0], probability[idx[sure], 0] = top1[sure], p1[sure]
            if sure.all():
                continue
            idx, probs = idx[~sure], probs[~sure]
            top = np.argpartition(-probs, k - 1, axis=1)[:, :k] if k < probs.shape[1] else np.argsort(-probs, axis=1)
            p = np.take_along_axis(probs, top, axis=1)
            # best first; ties: the lower class index first, as argmax
            rank = np.lexsort((top, -p), axis=1)
            best[idx] = np.take_along_axis(top, rank, axis=1)
            probability[idx] = np.take_along_axis(p, rank, axis=1)
        names = np.array(self.classes, dtype=object)
        kept = 1 + (probability[:, 1:] >= MIN_PROBABILITY).sum(axis=1)  # sorted: the first ones
        out = [((lang, p),) for lang, p in zip(names[best[:, 0]].tolist(), probability[:, 0].tolist())]
        for i in np.flatnonzero(kept > 1).tolist():  # the few with runners-up
            m = int(kept[i])
            out[i] = tuple(zip(names[best[i, :m]].tolist(), probability[i, :m].tolist()))
        return out

    def _probabilities(self, encoded: list[bytes]) -> np.ndarray:
        """Softmax scores (texts x classes) for texts sorted by byte length, longest first."""
        n = len(encoded)
        lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=n)
        longest = int(lengths[0]) if n else 0
        # byte p of every text in one contiguous row (texts padded to the longest), and the states likewise
        by_position = np.ascontiguousarray(
            np.frombuffer(b"".join(e.ljust(longest, b"\0") for e in encoded), dtype=np.uint8).reshape(n, longest).T)
        states = np.full((longest, n), self.past_end, dtype=np.intp)  # the DFA's state after byte p
        active = np.searchsorted(-lengths, -np.arange(longest), side="left")  # texts longer than p
        state = np.zeros(n, dtype=np.intp)
        at = np.empty(n, dtype=np.intp)
        for p in range(longest):
            k = int(active[p])
            np.take(self.rowbase, state[:k], out=at[:k])
            at[:k] += by_position[p, :k]
            np.take(self.nextmove, at[:k], out=states[p, :k])
            state = states[p]
        keys = np.take(self.emitted, states)  # feature emitted << TEXT_BITS, or the "no feature" mark
        keys |= np.arange(n, dtype=np.int32)  # | text
        keys = keys[keys < self.no_feature]  # the pairs only (flat)
        # count each (feature, text) pair: one sort, then run lengths
        keys.sort()
        first = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
        counts = np.diff(first, append=keys.size).astype(np.float32)
        distinct = keys[first]
        feature = distinct >> TEXT_BITS
        indptr = np.zeros(self.n_features + 1, dtype=np.int32)  # int32 like the indices: scipy copies neither
        np.cumsum(np.bincount(feature, minlength=self.n_features), out=indptr[1:])
        # feature-major (CSC): each model row is read once per batch, not once per text that has it
        matrix = sparse.csc_matrix((np.log1p(counts), distinct & TEXT_MASK, indptr), shape=(n, self.n_features))
        scores = np.asarray(matrix @ self.table, dtype=np.float32) + self.prior
        scores[np.bincount(distinct & TEXT_MASK, minlength=n) == 0] = 0.0  # featureless: uniform, as py3langid
        scores *= (1.0 / np.sqrt(np.maximum(lengths, 1))).astype(np.float32)[:, None]
        np.exp(scores - scores.max(axis=1, keepdims=True), out=scores)
        scores /= scores.sum(axis=1, keepdims=True)
        for i, j in self.alias_pairs:
            scores[:, i] += scores[:, j]
            scores[:, j] = 0.0
        return scores


def _uint(arr) -> type:
    return {2: np.uint16, 4: np.uint32, 8: np.uint64}[arr.itemsize]

