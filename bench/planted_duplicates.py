"""Synthetic conversations with planted near-duplicate pairs at controlled Jaccard similarities.

Words are random letter strings from a large vocabulary, so unrelated conversations share almost no
shingles. Each planted pair is a base conversation and a copy in which `s` words, at positions at
least `k` apart, are replaced by fresh words: each replacement removes `k` shingles and adds `k` new
ones, so J = (S - s*k) / (S + s*k) for S shingles; `s` is solved for the target similarity. The true
Jaccard of every pair is then measured on the token tuples (not assumed), independently of the
pipeline's own shingling code. Used by tests/test_dedup.py and bench/bench_minhash.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

LETTERS = np.array(list("abcdefghijklmnopqrstuvwxyz"))


@dataclass
class PlantedCorpus:
    examples: list[str]                         # OpenAI-format JSON text
    tokens: list[list[str]]                     # role marker + words per message, as the pipeline tokenizes them
    pairs: dict[tuple[int, int], float]         # planted (i, j), i < j -> true Jaccard of k-word shingles
    shingle_size: int


def shingle_set(tokens: list[str], k: int) -> set[tuple[str, ...]]:
    if len(tokens) < k:
        return {tuple(tokens)} if tokens else set()
    return {tuple(tokens[i:i + k]) for i in range(len(tokens) - k + 1)}


def jaccard(a: list[str], b: list[str], k: int) -> float:
    sa, sb = shingle_set(a, k), shingle_set(b, k)
    return len(sa & sb) / len(sa | sb) if sa or sb else 1.0


def _vocabulary(rng: np.random.Generator, size: int) -> list[str]:
    lengths = rng.integers(4, 11, size)
    letters = rng.integers(0, 26, int(lengths.sum()))
    words, pos = set(), 0
    for n in lengths.tolist():
        words.add("".join(LETTERS[letters[pos:pos + n]]))
        pos += n
    return sorted(words)


def _conversation(rng, vocab, min_words, max_words) -> list[list[str]]:
    turns = int(rng.integers(1, 4)) * 2
    total = int(rng.integers(min_words, max_words + 1))
    cuts = np.sort(rng.choice(np.arange(1, total), turns - 1, replace=False))
    sizes = np.diff(np.concatenate([[0], cuts, [total]]))
    return [[vocab[i] for i in rng.integers(0, len(vocab), int(s))] for s in sizes]


def _flatten(messages: list[list[str]]) -> list[str]:
    out = []
    for n, words in enumerate(messages):
        out.append("\x00user" if n % 2 == 0 else "\x00assistant")
        out += words
    return out


def _variant(rng, vocab, messages, target: float, k: int) -> list[list[str]]:
    flat = _flatten(messages)
    n_shingles = max(1, len(flat) - k + 1)
    subs = round(n_shingles * (1 - target) / (k * (1 + target)))
    word_pos = [(m, w) for m, words in enumerate(messages) for w in range(len(words))]
    flat_index = {}
    pos = 0
    for m, words in enumerate(messages):
        pos += 1
        for w in range(len(words)):
            flat_index[(m, w)] = pos
            pos += 1
    blocked = np.zeros(len(flat) + k, dtype=bool)
    out = [list(w) for w in messages]
    done = 0
    for j in rng.permutation(len(word_pos)).tolist():
        if done >= subs:
            break
        m, w = word_pos[j]
        p = flat_index[(m, w)]
        if blocked[max(0, p - k + 1):p + k].any():
            continue
        blocked[p] = True
        out[m][w] = vocab[int(rng.integers(0, len(vocab)))]
        done += 1
    return out


def planted_corpus(n_singletons: int = 800, levels=(0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95),
                   pairs_per_level: int = 75, shingle_size: int = 3, min_words: int = 40, max_words: int = 250,
                   seed: int = 0) -> PlantedCorpus:
    rng = np.random.default_rng(seed)
    vocab = _vocabulary(rng, 60_000)
    convs: list[list[list[str]]] = []
    partner: list[int] = []
    for _ in range(n_singletons):
        convs.append(_conversation(rng, vocab, min_words, max_words))
        partner.append(-1)
    for level in levels:
        for _ in range(pairs_per_level):
            base = _conversation(rng, vocab, min_words, max_words)
            convs += [base, _variant(rng, vocab, base, level, shingle_size)]
            partner += [len(convs) - 1, len(convs) - 2]
    order = rng.permutation(len(convs)).tolist()
    new_index = {old: new for new, old in enumerate(order)}
    convs = [convs[o] for o in order]
    tokens = [_flatten(c) for c in convs]
    pairs = {}
    for old, p in enumerate(partner):
        if p > old:
            i, j = sorted((new_index[old], new_index[p]))
            pairs[(i, j)] = jaccard(tokens[i], tokens[j], shingle_size)
    examples = [json.dumps({"messages": [{"role": "user" if n % 2 == 0 else "assistant", "content": " ".join(words)}
                                         for n, words in enumerate(c)]}) for c in convs]
    return PlantedCorpus(examples, tokens, pairs, shingle_size)
