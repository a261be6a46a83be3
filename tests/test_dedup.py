"""dedup: exact / prompt / near-duplicates, LSH machinery against datasketch, planted recall/precision,
keep policies, clusters, group action + split straddle check, real files (fastchat, agentune)."""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from datasketch import MinHash, MinHashLSH
from datasketch.lsh import _optimal_param
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from tqdm import tqdm

from bench.planted_duplicates import jaccard, planted_corpus, shingle_set
from pipeline.engine.executor import LocalExecutor, SerialExecutor
from pipeline.engine.records import EXAMPLE_SCHEMA, dumps_example, example_id
from pipeline.engine.stage import StageContext
from pipeline.errors import UserError
from pipeline.stages.dedup import fingerprints as fingerprints_mod
from pipeline.stages.dedup import stage as dedup_stage
from pipeline.stages.dedup.fingerprints import (
    FingerprintSpec,
    fingerprint_examples,
    pair_jaccard,
    shingle_sets,
)
from pipeline.stages.dedup.near_duplicates import (
    LshSettings,
    candidate_probability,
    choose_banding,
    connected_components,
    near_duplicate_pairs,
    split_straddle_facts,
)
from pipeline.stages.dedup.near_duplicates.banding import candidate_pairs
from pipeline.stages.dedup.near_duplicates.pairs import packed_jaccard
from pipeline.stages.dedup.near_duplicates.shingles import TokenHasher, shingle_ids, tokens
from pipeline.stages.dedup.near_duplicates.signatures import (
    SignatureRows,
    estimated_jaccard,
    minhash_signatures,
)
from pipeline.stages.split import stage as split_stage
from schemas.config import Config
from schemas.stages.dedup import DedupParams
from schemas.stages.split import SplitParams
from tests.conftest import read_jsonl

CTX = StageContext(config=None, out_dir=Path("."), cache_dir=Path("."),
                   progress=lambda **kw: tqdm(disable=True, **kw), warn=lambda m: None)


def params(**kw) -> DedupParams:
    return DedupParams(name="dedup", **kw)


def frame_of(convs: list, meta: dict[str, list] | None = None, groups: list[str] | None = None) -> pl.DataFrame:
    rows = []
    for i, c in enumerate(convs, start=1):
        obj = c if isinstance(c, dict) else {"messages": c}
        rows.append({"example_id": example_id("t.jsonl", i), "source_file": "t.jsonl", "source_rows": [i],
                     "group_id": groups[i - 1] if groups else f"conv-{i}", "example": dumps_example(obj), "flags": []})
    frame = pl.DataFrame(rows, schema=EXAMPLE_SCHEMA)
    for name, values in (meta or {}).items():
        frame = frame.with_columns(pl.Series(f"meta.{name}", values, pl.Utf8))
    return frame


def chat(user: str, assistant: str, system: str | None = None) -> list[dict]:
    msgs = [{"role": "system", "content": system}] if system else []
    return msgs + [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]


def words(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz"), 7)) for _ in range(n)]


def edit(ws: list[str], positions: list[int], seed: int) -> list[str]:
    out = list(ws)
    for p, new in zip(positions, words(len(positions), seed)):
        out[p] = new
    return out


def run(frame: pl.DataFrame, **kw):
    return dedup_stage.run(frame, params(**kw), CTX)


def reasons(out) -> list:
    return out.frame["drop_reason"].to_list()


# --------------------------------------------------------------------------- MinHash machinery vs datasketch

@settings(max_examples=40, deadline=None)
@given(docs=st.lists(st.lists(st.sampled_from(["a", "b", "c", "d", "e", "fox", "日", "本"]), max_size=12), max_size=6),
       k=st.integers(1, 5), seed=st.integers(0, 5))
def test_signatures_equal_datasketch_minhash(docs, k, seed):
    hasher = TokenHasher()
    ids, counts = shingle_ids(hasher.hashes([t for d in docs for t in d]), np.array([len(d) for d in docs]), k)
    sig = minhash_signatures(ids, counts, 64, seed)
    offsets = np.cumsum(counts) - counts
    for n, doc in enumerate(docs):
        assert counts[n] == (len(doc) - k + 1 if len(doc) >= k else min(len(doc), 1))
        if counts[n] == 0:
            assert (sig[n] == 0xFFFFFFFF).all()
            continue
        reference = MinHash(num_perm=64, seed=seed, hashfunc=lambda v: v)
        reference.update_batch(ids[offsets[n]:offsets[n] + counts[n]].tolist())
        assert np.array_equal(reference.hashvalues, sig[n])
        # equal shingles get equal ids, different shingles (almost surely) different ones
        assert len(set(ids[offsets[n]:offsets[n] + counts[n]].tolist())) == len(shingle_set(doc, k))


def test_signatures_across_chunk_boundaries_equal_datasketch():
    rng = np.random.default_rng(4)
    counts = np.array([0, 3, 70_000, 1, 0, *rng.integers(1, 400, 400).tolist(), 66_000, 2])
    ids = rng.integers(0, 2**32, int(counts.sum()), dtype=np.uint64).astype(np.uint32)
    sig = minhash_signatures(ids, counts, 128, 1)
    offsets = np.cumsum(counts) - counts
    for n in [0, 1, 2, 3, 4, 5, 200, len(counts) - 2, len(counts) - 1]:
        if counts[n] == 0:
            assert (sig[n] == 0xFFFFFFFF).all()
            continue
        reference = MinHash(num_perm=128, seed=1, hashfunc=lambda v: v)
        reference.update_batch(ids[offsets[n]:offsets[n] + counts[n]].tolist())
        assert np.array_equal(reference.hashvalues, sig[n]), n


def test_tokens_split_scripts_without_spaces_into_characters():
    assert tokens("Hello, World! it's 2024") == ["hello", "world", "it", "s", "2024"]
    assert tokens("日本語のテキスト") == list("日本語のテキスト")
    assert tokens("Straße STRASSE") == ["strasse", "strasse"]


def test_banding_reaches_high_recall_at_threshold_unlike_datasketch_default():
    bands, rows = choose_banding(0.8, 128)
    assert bands * rows <= 128
    assert candidate_probability(0.8, bands, rows) >= 0.995
    # one more row per band would fall below the target: rows is the most selective choice
    assert candidate_probability(0.8, 128 // (rows + 1), rows + 1) < 0.995
    ds_bands, ds_rows = _optimal_param(0.8, 128, 0.5, 0.5)
    assert candidate_probability(0.8, ds_bands, ds_rows) < candidate_probability(0.8, bands, rows)
    for t in (0.5, 0.7, 0.9, 0.95):
        b, r = choose_banding(t, 128)
        assert candidate_probability(t, b, r) >= 0.995


def test_candidate_pairs_equal_datasketch_lsh_buckets():
    corpus = planted_corpus(n_singletons=150, pairs_per_level=10, seed=3)
    fp = fingerprint_examples(corpus.examples, FingerprintSpec(3, 128, 1, False))
    bands, rows = 16, 8
    left, right, capped = candidate_pairs(fp.signatures, bands, rows, bucket_limit=10_000)
    ours = set(zip(left.tolist(), right.tolist()))
    lsh = MinHashLSH(num_perm=128, params=(bands, rows))
    for i, s in enumerate(fp.signatures):
        lsh.insert(i, MinHash(num_perm=128, seed=1, hashvalues=s, scheme="affine32"))
    theirs = {tuple(sorted((i, j))) for i, s in enumerate(fp.signatures)
              for j in lsh.query(MinHash(num_perm=128, seed=1, hashvalues=s, scheme="affine32")) if j != i}
    assert capped == 0
    assert ours == theirs
    high = [p for p, j in corpus.pairs.items() if j >= 0.9]   # P(candidate) >= 0.9999 at 16 x 8
    assert high and all(p in ours for p in high)


class _FanOut(SerialExecutor):
    """Claims three workers (so callers cut their work into tasks) and runs the tasks here, counting them."""

    def __init__(self):
        super().__init__()
        self.tasks = 0

    def workers_for(self, n_items: int, n_tasks: int) -> int:
        return 3

    def map(self, fn, tasks, workers):
        for task in tasks:
            self.tasks += 1
            yield fn(*task)


def test_banding_and_verification_as_tasks_give_the_same_pairs(monkeypatch):
    """The LSH shuffle band by band and the exact check in tasks of a few pairs (what the Executor fans out
    on a pool or Ray) find exactly the pairs and similarities of the one-pass, in-process path."""
    corpus = planted_corpus(n_singletons=150, pairs_per_level=10, seed=3)
    spec = FingerprintSpec(3, 128, 1, False)
    fp = fingerprint_examples(corpus.examples, spec)
    signatures = np.concatenate([fp.signatures, fp.signatures[:5], fp.signatures[:5]])  # buckets of 3: capped
    one = candidate_pairs(signatures, 21, 6, bucket_limit=1)
    fan = _FanOut()
    split = candidate_pairs(signatures, 21, 6, bucket_limit=1, executor=fan)
    assert fan.tasks == 21 and one[2] == split[2] > 0
    assert np.array_equal(one[0], split[0]) and np.array_equal(one[1], split[1]) and len(one[0]) > 50
    examples = corpus.examples + corpus.examples[:5] * 2
    texts_of = lambda rows_: [examples[i] for i in rows_.tolist()]
    whole = pair_jaccard(one[0], one[1], texts_of, spec)
    monkeypatch.setattr(fingerprints_mod, "SETS_PER_TASK", 7)
    fan = _FanOut()
    assert np.array_equal(pair_jaccard(one[0], one[1], texts_of, spec, fan), whole)
    assert fan.tasks == -(-len(np.unique(np.concatenate(one[:2]))) // 7)
    sets = shingle_sets(examples, spec)
    assert whole.tolist() == [len(np.intersect1d(sets[a], sets[b])) / len(np.union1d(sets[a], sets[b]))
                              for a, b in zip(one[0].tolist(), one[1].tolist())]


@pytest.mark.parametrize("chunk", [1, 37, 1 << 22])
def test_packed_jaccard_equals_set_jaccard_whatever_the_chunk(chunk):
    """The vectorised comparison of packed shingle sets gives each pair's exact Jaccard, in chunks of any size
    (a chunk smaller than one pair still takes that pair)."""
    rng = np.random.default_rng(5)
    sets = [np.unique(rng.integers(0, 2**32, rng.integers(1, 60), dtype=np.uint64).astype(np.uint32) % 97)
            for _ in range(40)]
    sets += [sets[0].copy(), sets[1][:1].copy()]
    ids, counts = np.concatenate(sets), np.array([s.size for s in sets])
    left, right = rng.integers(0, len(sets), 300), rng.integers(0, len(sets), 300)
    left, right = np.append(left, [0, 1, 2]), np.append(right, [40, 41, 2])
    expected = [np.intersect1d(sets[a], sets[b]).size / np.union1d(sets[a], sets[b]).size
                for a, b in zip(left.tolist(), right.tolist())]
    assert packed_jaccard(ids, counts, left, right, chunk=chunk).tolist() == expected


def test_signature_row_blocks_act_as_the_whole_matrix():
    """Signatures kept as the row blocks of the feature column's chunks (never copied into one array) give the
    same rows, bands, estimates and LSH candidates as the whole matrix, for a selection of rows too."""
    rng = np.random.default_rng(2)
    whole = rng.integers(0, 4, (50, 12), dtype=np.uint32)
    blocks = SignatureRows([whole[:7], whole[7:7], whole[7:30], whole[30:]])
    rows = rng.permutation(50)[:31]
    assert np.array_equal(blocks.take(rows), whole[rows])
    assert np.array_equal(blocks.take(rows, 3, 9), whole[rows, 3:9])
    chosen = np.sort(rows)
    assert np.array_equal(blocks.select(chosen).take(np.array([4, 0, 30, 4])), whole[chosen[[4, 0, 30, 4]]])
    left, right = rng.integers(0, 50, 80), rng.integers(0, 50, 80)
    assert np.array_equal(estimated_jaccard(blocks, left, right, chunk=9), estimated_jaccard(whole, left, right))
    by_blocks = candidate_pairs(blocks.select(chosen), 4, 3, bucket_limit=3)
    by_array = candidate_pairs(whole[chosen], 4, 3, bucket_limit=3)
    assert all(np.array_equal(a, b) for a, b in zip(by_blocks[:2], by_array[:2])) and by_blocks[2] == by_array[2]
    assert len(by_blocks[0]) > 0


def test_bucket_limit_bounds_work_but_keeps_giant_clusters_connected():
    base = words(60, 1)
    convs = [chat(" ".join(base), " ".join(edit(base, [i % 60], 100 + i))) for i in range(40)]
    frame = frame_of(convs)
    full = run(frame)
    capped = run(frame, bucket_limit=2)
    assert capped.facts["near"]["capped_buckets"] > 0
    assert capped.facts["near"]["candidate_pairs"] < full.facts["near"]["candidate_pairs"]
    assert reasons(capped).count("near_duplicate") == reasons(full).count("near_duplicate") == 39


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 40), edges=st.lists(st.tuples(st.integers(0, 39), st.integers(0, 39)), max_size=60))
def test_connected_components_match_python_union_find(n, edges):
    edges = [(a % n, b % n) for a, b in edges]
    parent = list(range(n))

    def find(x):
        while parent[x] != x:
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        parent[max(ra, rb)] = min(ra, rb)
    expected = [min(j for j in range(n) if find(j) == find(i)) for i in range(n)]
    labels = connected_components(n, np.array([a for a, _ in edges], dtype=np.int64),
                                  np.array([b for _, b in edges], dtype=np.int64))
    assert labels.tolist() == expected


# --------------------------------------------------------------------------- planted recall / precision

def _measure(corpus, verify: str, threshold: float = 0.8):
    spec = FingerprintSpec(corpus.shingle_size, 128, 1, False)
    fp = fingerprint_examples(corpus.examples, spec)
    bands, rows = choose_banding(threshold, 128)

    def exact(left, right):
        return pair_jaccard(left, right, lambda rows_: [corpus.examples[i] for i in rows_.tolist()], spec)

    found = near_duplicate_pairs(fp.signatures, LshSettings(threshold, bands, rows, 200, verify), exact)
    pairs = dict(zip(zip(found.left.tolist(), found.right.tolist()), found.similarity.tolist()))
    true_j = {p: corpus.pairs.get(p) for p in pairs}
    for p, j in true_j.items():   # a pair nobody planted: measure it instead of assuming it is unrelated
        if j is None:
            true_j[p] = jaccard(corpus.tokens[p[0]], corpus.tokens[p[1]], corpus.shingle_size)
    return pairs, true_j


@pytest.fixture(scope="module")
def corpus():
    return planted_corpus(n_singletons=800, pairs_per_level=75, seed=0)   # 2,000 conversations


def test_planted_recall_and_precision_exact_verification(corpus):
    pairs, true_j = _measure(corpus, "exact")
    well_above = [p for p, j in corpus.pairs.items() if j >= 0.85]
    above = [p for p, j in corpus.pairs.items() if j >= 0.8]
    assert len(well_above) >= 150
    recall_well_above = sum(p in pairs for p in well_above) / len(well_above)
    recall_above = sum(p in pairs for p in above) / len(above)
    precision = sum(true_j[p] >= 0.8 for p in pairs) / len(pairs)
    assert recall_well_above >= 0.99, recall_well_above
    assert recall_above >= 0.97, recall_above
    assert precision >= 0.99, precision
    # the reported similarity is the exact Jaccard of the shingle sets
    for p, sim in pairs.items():
        assert sim == pytest.approx(true_j[p], abs=1e-9)


def test_planted_recall_and_precision_estimated_verification(corpus):
    pairs, true_j = _measure(corpus, "estimate")
    well_above = [p for p, j in corpus.pairs.items() if j >= 0.85]
    recall = sum(p in pairs for p in well_above) / len(well_above)
    precision = sum(true_j[p] >= 0.8 for p in pairs) / len(pairs)
    near_miss = sum(true_j[p] >= 0.7 for p in pairs) / len(pairs)
    assert recall >= 0.95, recall
    assert precision >= 0.85, precision    # measured 0.91: the estimate (+-0.035) admits some pairs at 0.7-0.8
    assert near_miss == 1.0
    assert not any((i, j) in pairs for (i, j), jj in corpus.pairs.items() if jj < 0.6)


# --------------------------------------------------------------------------- stage: exact, prompt, near

def test_exact_duplicates_ignore_case_whitespace_and_tool_call_ids():
    call = lambda cid: [{"role": "user", "content": "Weather in Paris?"},
                        {"role": "assistant", "content": None,
                         "tool_calls": [{"id": cid, "type": "function",
                                         "function": {"name": "weather", "arguments": "{\"city\": \"Paris\"}"}}]},
                        {"role": "tool", "tool_call_id": cid, "content": "18C"},
                        {"role": "assistant", "content": "It is 18C."}]
    convs = [chat("Hello there", "Hi!  How can I help?"), chat("hello   THERE", "hi! how can i\nhelp?"),
             call("call_1"), call("call_2"), chat("Hello there", "Hi! How can I help?", system="Be brief.")]
    out = run(frame_of(convs), near=False)
    assert reasons(out) == [None, "exact_duplicate", None, "exact_duplicate", None]
    detail = out.frame["drop_detail"][1]
    assert "kept example t.jsonl row 1" in detail and "casefolding" in detail
    assert out.facts["exact_duplicates"] == 2 and out.facts["clusters"] == 2
    assert out.frame["dup_cluster"].to_list() == [out.frame["example_id"][0], out.frame["example_id"][0],
                                                  out.frame["example_id"][2], out.frame["example_id"][2], None]


def test_system_prompt_difference_is_not_exact_but_is_near_unless_include_system():
    convs = [chat("What is the refund window?", "Thirty days from delivery.", system="You are Acme support."),
             chat("What is the refund window?", "Thirty days from delivery.", system="You are Bolt support.")]
    out = run(frame_of(convs))
    assert reasons(out) == [None, "near_duplicate"]
    assert "Jaccard 1.00" in out.frame["drop_detail"][1]
    assert reasons(run(frame_of(convs), include_system=True)) == [None, None]


def test_shared_long_system_prompt_does_not_make_examples_near_duplicates():
    system = " ".join(words(300, 7))
    convs = [chat(f"question {' '.join(words(8, s))}", " ".join(words(12, s + 50)), system=system) for s in range(5)]
    assert reasons(run(frame_of(convs))) == [None] * 5
    assert reasons(run(frame_of(convs), include_system=True)) == [None] + ["near_duplicate"] * 4


def test_prompt_duplicates_only_when_enabled():
    convs = [chat("How do I reset my password?", "Use the reset link on the login page."),
             chat("How do I reset my password?", "Call support and ask them to send a reset email to you.")]
    assert reasons(run(frame_of(convs))) == [None, None]
    out = run(frame_of(convs), exact_prompt=True)
    assert reasons(out) == [None, "prompt_duplicate"]
    assert "same prompt as kept example t.jsonl row 1" in out.frame["drop_detail"][1]
    assert out.facts["prompt_duplicates"] == 1


def test_preference_pairs_differ_by_their_rejected_reply():
    """One prompt and one chosen reply against two different rejected replies (a rated reply in two pairs) are
    two pairs, not duplicates; the same pair twice (case and spaces aside) is one."""
    def pair(rejected: str) -> dict:
        return {"messages": chat("Which plan suits a family of four?", "The family plan: four lines, shared data."),
                "preference": {"rejected": {"role": "assistant", "content": rejected}, "signal": "ratings"}}

    convs = [pair("Any plan works."), pair("Buy four single plans, each with its own data allowance."),
             pair("any   PLAN works.")]
    out = run(frame_of(convs, groups=["p"] * 3))
    assert reasons(out) == [None, None, "exact_duplicate"]
    assert reasons(run(frame_of(convs[:2]), exact_prompt=True)) == [None, "prompt_duplicate"]  # the prompt key is the prompt's


def test_ratings_pairs_of_one_prompt_are_never_near_duplicates_of_each_other():
    """A rated reply paired against several short worse replies: prompt + chosen dominate the shingles, yet the
    pairs are distinct on purpose. A ratings pair of another, near-identical prompt is still a near duplicate."""
    prompt, best = " ".join(words(40, 11)), " ".join(words(60, 12))

    def pair(user: str, rejected: str) -> dict:
        return {"messages": chat(user, best),
                "preference": {"rejected": {"role": "assistant", "content": rejected}, "signal": "ratings"}}

    convs = [pair(prompt, "No idea."), pair(prompt, "Ask the shop."), pair(prompt, "Try again later."),
             pair(prompt.replace(words(40, 11)[5], "zzz"), "No idea.")]
    out = run(frame_of(convs, groups=["a", "a", "a", "b"]))
    assert reasons(out) == [None, None, None, "near_duplicate"]
    assert out.facts["near"]["ratings_siblings_kept_apart"] >= 2


def test_explicit_and_edits_pairs_are_keyed_on_prompt_and_chosen():
    """Outside ratings, a pair is keyed on prompt + chosen (issue 16): the same preferred reply to the same prompt
    against another rejected reply teaches the same preference twice."""
    def pair(rejected: str, signal: str) -> dict:
        return {"messages": chat("Which plan suits a family of four?", "The family plan: four lines, shared data."),
                "preference": {"rejected": {"role": "assistant", "content": rejected}, "signal": signal}}

    for signal in ("explicit", "edits"):
        convs = [pair("Any plan works.", signal), pair("Buy four single plans, each with its own data.", signal)]
        assert reasons(run(frame_of(convs, groups=["p"] * 2))) == [None, "exact_duplicate"], signal


def test_near_duplicate_detail_names_kept_example_and_similarity():
    base = words(80, 2)
    convs = [chat(" ".join(base[:40]), " ".join(base[40:])), chat(" ".join(words(30, 3)), " ".join(words(30, 4))),
             chat(" ".join(base[:40]), " ".join(edit(base, [50], 9)[40:]))]
    out = run(frame_of(convs))
    assert reasons(out) == [None, None, "near_duplicate"]
    expected = jaccard(*[["\x00user", *base[:40], "\x00assistant", *b[40:]] for b in (base, edit(base, [50], 9))], 3)
    assert f"Jaccard {expected:.2f}" in out.frame["drop_detail"][2]
    assert "t.jsonl row 1" in out.frame["drop_detail"][2]


def test_chain_a_b_c_forms_one_cluster():
    base = words(100, 5)
    a = base
    b = edit(a, [10, 60], 11)
    c = edit(b, [30, 85], 12)
    toks = lambda w: ["\x00user", *w[:50], "\x00assistant", *w[50:]]
    assert jaccard(toks(a), toks(b), 3) >= 0.8 and jaccard(toks(b), toks(c), 3) >= 0.8
    assert jaccard(toks(a), toks(c), 3) < 0.8
    out = run(frame_of([chat(" ".join(w[:50]), " ".join(w[50:])) for w in (a, b, c)]))
    assert reasons(out) == [None, "near_duplicate", "near_duplicate"]
    assert out.facts["clusters"] == 1 and out.facts["top_clusters"][0]["size"] == 3
    assert "linked through other members" in out.frame["drop_detail"][2]
    members = out.facts["top_clusters"][0]["members"]
    assert [m["direct"] for m in members] == [True, False]


def test_short_texts_match_only_when_identical_after_tokenizing():
    convs = [chat("Hi", "Hello!"), chat("hi!!", "hello"), chat("Hi", "Hey")]
    out = run(frame_of(convs), exact=False)
    assert reasons(out) == [None, "near_duplicate", None]


def test_examples_without_words_are_left_out_of_near_search():
    convs = [chat("?!", "..."), chat("!!", "…"), chat("real words here", "and an answer")]
    out = run(frame_of(convs))
    assert reasons(out) == [None, None, None]
    assert out.facts["no_text"] == 2


# --------------------------------------------------------------------------- keep policies

def _dups():
    base = words(60, 21)
    return [chat(" ".join(base), "short"), chat(" ".join(base), "short"),
            chat(" ".join(base), "short but a little longer answer")]


def test_keep_first_longest_and_meta():
    first = run(frame_of(_dups()), exact_prompt=True)
    assert reasons(first) == [None, "exact_duplicate", "prompt_duplicate"]
    longest = run(frame_of(_dups()), exact_prompt=True, keep="longest")
    assert reasons(longest) == ["prompt_duplicate", "prompt_duplicate", None]
    assert "kept example t.jsonl row 3" in longest.frame["drop_detail"][0]
    meta = run(frame_of(_dups(), meta={"score": ["0.5", "0.9", None]}), exact_prompt=True, keep="meta:score")
    assert reasons(meta) == ["exact_duplicate", None, "prompt_duplicate"]
    assert meta.facts["keep_missing_scores"] == 1
    tie = run(frame_of(_dups(), meta={"score": ["2", "2", "1"]}), exact_prompt=True, keep="meta:score")
    assert reasons(tie) == [None, "exact_duplicate", "prompt_duplicate"]


def test_keep_meta_errors_are_clear():
    with pytest.raises(UserError, match="column 'rating' not found; metadata columns: meta.score"):
        run(frame_of(_dups(), meta={"score": ["1", "2", "3"]}), keep="meta:rating")
    with pytest.raises(UserError, match="must hold numbers"):
        run(frame_of(_dups(), meta={"score": ["high", "low", "mid"]}), keep="meta:score")


def test_params_validation():
    with pytest.raises(ValidationError, match="set both bands and rows"):
        params(bands=20)
    with pytest.raises(ValidationError, match="exceeds num_perm"):
        params(bands=40, rows=4)
    with pytest.raises(ValidationError, match="'first', 'longest' or 'meta:<column>'"):
        params(keep="best")
    with pytest.raises(ValidationError, match="nothing to do"):
        params(exact=False, near=False)


def test_config_requires_dedup_before_split():
    inputs = [{"path": "x.jsonl", "layout": "conversations"}]
    Config.model_validate({"inputs": inputs, "stages": [{"name": "dedup"}, {"name": "split"}, {"name": "export"}]})
    with pytest.raises(ValidationError, match="'dedup' must come before 'split'"):
        Config.model_validate({"inputs": inputs, "stages": [{"name": "split"}, {"name": "dedup"}, {"name": "export"}]})


# --------------------------------------------------------------------------- group action and the split check

def _split(frame: pl.DataFrame, **kw) -> tuple[pl.DataFrame, dict]:
    out = split_stage.run(frame, SplitParams(name="split", **kw), CTX)
    return out.frame, out.facts


def test_group_action_keeps_everything_and_keeps_clusters_in_one_split():
    convs, groups = [], []
    for c in range(30):            # 30 clusters of 3 near-identical chats, each chat its own conversation group
        base = words(40, 1000 + c)
        for m in range(3):
            convs.append(chat(" ".join(base), f"answer {m}" if m else "answer"))
            groups.append(f"conv-{c}-{m}")
    convs += [chat(" ".join(words(40, 5000 + s)), "solo") for s in range(20)]
    groups += [f"solo-{s}" for s in range(20)]
    # a second example of conversation conv-0-1's group that is not a duplicate of anything: it must move too
    convs.append(chat(" ".join(words(40, 9999)), "follow-up"))
    groups.append("conv-0-1")
    out = run(frame_of(convs, groups=groups), action="group")
    assert reasons(out) == [None] * len(convs)
    assert out.facts["dropped"] == 0 and out.facts["near_duplicates"] == 60 and out.facts["groups_merged"] == 60
    frame = out.frame.drop("drop_reason", "drop_detail")
    assert frame["group_id"][0] == frame["group_id"][1] == frame["group_id"][2] == frame["group_id"][-1] == "conv-0-0"
    _, facts = _split(frame, validation_fraction=0.3)
    assert facts["validation"] > 0
    assert facts["straddling_pairs"] == 0 and facts["straddling_clusters"] == 0
    # the checker itself does see a straddle when the split ignores the merged groups
    ungrouped = frame.with_columns(pl.Series("meta.row", [str(i) for i in range(frame.height)]))
    _, bad = _split(ungrouped, validation_fraction=0.3, group_by="meta.row", seed=3)
    assert bad["straddling_pairs"] > 0


def test_split_straddle_facts_counts_pairs():
    frame = pl.DataFrame({"dup_cluster": ["a", "a", "a", "b", "b", None, None],
                          "split": ["train", "train", "validation", "train", "train", "train", "validation"]})
    assert split_straddle_facts(frame) == {"straddling_pairs": 2, "straddling_clusters": 1}
    assert split_straddle_facts(frame.drop("dup_cluster")) == {}


def test_drop_action_then_split_has_no_straddling_pairs(corpus):
    frame = frame_of([json.loads(e) for e in corpus.examples])
    out = run(frame)
    kept = out.frame.filter(pl.col("drop_reason").is_null()).drop("drop_reason", "drop_detail")
    assert out.facts["near_duplicates"] > 200
    _, facts = _split(kept, validation_fraction=0.2)
    assert facts["straddling_pairs"] == 0


def test_stage_contract_and_facts_are_bounded(corpus):
    frame = frame_of([json.loads(e) for e in corpus.examples])
    out = run(frame)
    assert out.frame["example_id"].equals(frame["example_id"])
    dropped = sum(r is not None for r in reasons(out))
    assert dropped == out.facts["exact_duplicates"] + out.facts["near_duplicates"] == out.facts["dropped"]
    assert out.facts["examples_in_clusters"] == dropped + out.facts["clusters"]
    assert sum(out.facts["cluster_sizes"].values()) == out.facts["clusters"]
    assert len(out.facts["top_clusters"]) <= 50
    assert all(len(c["members"]) <= 10 for c in out.facts["top_clusters"])
    curve = {j: p for j, p in out.facts["near"]["s_curve"]}
    assert curve[0.8] >= 0.995
    json.dumps(out.facts)
    assert run(frame).facts == out.facts   # deterministic


def test_empty_frame():
    out = run(frame_of([]))
    assert out.frame.height == 0 and "dup_cluster" in out.frame.columns


@pytest.mark.slow
def test_process_pool_gives_the_same_result(corpus):
    examples = corpus.examples * 2 + corpus.examples[:200]     # > one batch per worker
    spec = FingerprintSpec(3, 128, 1, False)
    executor = LocalExecutor(2)
    try:
        one = fingerprint_examples(examples, spec)
        two = fingerprint_examples(examples, spec, executor)
        frame = frame_of([json.loads(e) for e in examples])       # the stage streams batches from the Series
        single, pooled = run(frame), dedup_stage.run(frame, params(), replace(CTX, executor=executor))
    finally:
        executor.close()
    assert np.array_equal(one.signatures, two.signatures)
    assert one.exact == two.exact and one.prompt == two.prompt and one.near_key == two.near_key
    assert single.frame.equals(pooled.frame) and single.facts == pooled.facts


# --------------------------------------------------------------------------- real files

FASTCHAT = {"path": None, "layout": "conversations",
            "columns": {"id": "id", "messages": "conversations", "role_key": "from", "content_key": "value"},
            "roles": {"human": "user", "gpt": "assistant"}}


def _brute_force_clusters(token_lists: list[list[str]], k: int, threshold: float) -> list[int]:
    n = len(token_lists)
    sets = [shingle_set(t, k) for t in token_lists]
    parent = list(range(n))

    def find(x):
        while parent[x] != x:
            x = parent[x]
        return x

    for a, b in itertools.combinations(range(n), 2):
        if len(sets[a] & sets[b]) / len(sets[a] | sets[b]) >= threshold:
            ra, rb = find(a), find(b)
            parent[max(ra, rb)] = min(ra, rb)
    return [find(i) for i in range(n)]


def test_fastchat_templated_identity_chats(realdata, run_config):
    path = realdata / "fastchat-dummy" / "dummy_conversation.json"
    result, out = run_config({"inputs": [{**FASTCHAT, "path": str(path)}],
                              "stages": [{"name": "dedup"}, {"name": "split"}, {"name": "export"}]})
    facts = result.stats["facts"]["dedup"]
    raw = json.loads(path.read_text())
    toks = [[t for m in r["conversations"] for t in [f"\x00{'user' if m['from'] == 'human' else 'assistant'}",
                                                      *tokens(m["value"])]] for r in raw]
    roots = _brute_force_clusters(toks, 3, 0.8)
    expected_drops = len(roots) - len(set(roots))
    assert facts["near_duplicates"] == expected_drops > 100      # heavily templated: many near-duplicates
    assert facts["exact_duplicates"] == 0                       # ... but no two conversations are identical
    assert facts["clusters"] == sum(1 for r in set(roots) if roots.count(r) > 1)
    rejects = [r for r in read_jsonl(out / "rejects.jsonl") if r["stage"] == "dedup"]
    assert len(rejects) == expected_drops
    kept_rows = {row for r in read_jsonl(out / "provenance.jsonl") for row in r["source"]["rows"]}
    for r in rejects[:20]:
        row = r["source"]["rows"][0]
        kept = int(re.search(r"kept example \S+ row (\d+)", r["detail"]).group(1))
        assert roots[row - 1] == roots[kept - 1]                # the named survivor is in the same cluster
        assert kept in kept_rows and row not in kept_rows
    assert result.stats["facts"]["split"]["straddling_pairs"] == 0
    assert any(p["code"] == "many_duplicates" for p in result.stats["problems"])


def test_agentune_repeated_utterances_are_not_duplicate_calls(realdata, run_config):
    folder = realdata / "agentune-insurance-calls"
    result, _ = run_config({
        "inputs": [{"path": str(folder / "messages.csv"), "layout": "messages",
                    "columns": {"conversation_id": "conversation_id", "role": "author", "content": "message"},
                    "roles": {"agent": "assistant", "customer": "user"}}],
        "stages": [{"name": "dedup", "exact_prompt": True}, {"name": "split"}, {"name": "export"}]})
    facts = result.stats["facts"]["dedup"]
    assert facts["examples"] >= 100
    assert facts["dropped"] == 0 and facts["near"]["verified_pairs"] == 0


@pytest.mark.parametrize("action", ["drop", "group"])
def test_runner_path_equals_in_memory_dedup(tmp_path, action):
    """The runner gives dedup the frame without text plus fingerprints computed part by part (`features`)
    and fetches texts on demand; decisions, details, clusters and facts equal dedup on the whole frame."""
    from pipeline.engine.parts import write_parts
    from pipeline.engine.segments import Segment, run_segment

    corpus = planted_corpus(n_singletons=150, pairs_per_level=8, seed=5)
    convs = [json.loads(e)["messages"] for e in corpus.examples]
    frame = frame_of(convs + convs[:20] + [[{"role": "user", "content": "?"}, {"role": "assistant", "content": "!"}]] * 3)
    p = params(action=action)
    direct = dedup_stage.run(frame, p, CTX)
    parts = write_parts(frame, tmp_path / "in", "examples", 37)
    kept, (result,) = run_segment(Segment([(p, dedup_stage)], False), parts, tmp_path / "out", CTX)
    expect_kept = direct.frame.filter(pl.col("drop_reason").is_null()).drop("drop_reason", "drop_detail")
    got_kept = kept.read_all()
    assert got_kept.columns == expect_kept.columns                       # no fingerprint columns leak
    assert got_kept.equals(expect_kept)
    expect_dropped = direct.frame.filter(pl.col("drop_reason").is_not_null())
    assert result.dropped.read_all().equals(expect_dropped)
    assert result.facts == direct.facts and result.n_out == expect_kept.height
    if action == "drop":
        assert result.reasons["exact_duplicate"] >= 20 and result.facts["top_clusters"][0]["representative"]["preview"]
