"""MinHash + LSH for dedup: speed of the ways to get datasketch signatures, and recall on planted pairs.

    .venv/bin/python -m bench.bench_minhash --n 20000 [--workers 2] [--json out.json]
    .venv/bin/python -m bench.bench_minhash --n 100000 --sections fingerprint_cpu --json after.json \
        --compare before.json

Compares, on the planted corpus of bench/planted_duplicates.py (n conversations, 40-250 words):
  signatures  datasketch MinHash.bulk over shingle strings (sha1 per shingle: the library's usual path),
              MinHash.bulk over our 32-bit shingle ids, and pipeline.stages.dedup.near_duplicates.signatures (numpy,
              all documents of a batch at once); the last two must give identical values.
  fingerprint the dedup stage's whole per-example work (JSON, exact/prompt hashes, tokens, signatures)
              with 1 and `--workers` processes.
  lsh         datasketch MinHashLSH (insert + query every document) with its default (bands, rows) for
              the threshold, against our banding (`choose_banding`) with numpy buckets: time, candidate
              pairs, and candidate recall on planted pairs with true Jaccard >= threshold and >= +0.05.
  fingerprint_cpu
              CPU seconds (time.process_time, the least of `--repeat` runs, one process) of dedup's
              fingerprints and of the shingle sets exact verification recomputes (for a tenth of the
              examples), on three corpora: the planted one; `make bench`'s synthetic conversations
              (bench/synthetic.py, n of them); and, when ../shared/realdata is there, conversations from its
              real files (persuasionforgood dialogs and windows of them, xdailydialog in en/de/it/zh, the
              cookbook's drone tool calls, agentune's insurance calls). CPU time, not wall time: the machine
              may be shared. `--compare` reads an earlier run's --json (say, of the previous commit: run this
              file with that commit's `pipeline` first on PYTHONPATH) and adds before/after ratios.
Timings are wall-clock on a possibly shared machine (but fingerprint_cpu): compare rows of one run, not runs.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import time
from functools import partial
from pathlib import Path

import numpy as np
from datasketch import MinHash, MinHashLSH
from datasketch.lsh import _optimal_param

from bench import synthetic
from bench.planted_duplicates import planted_corpus
from pipeline.engine.executor import LocalExecutor
from pipeline.engine.records import dumps_example
from pipeline.stages.dedup.fingerprints import FingerprintSpec, fingerprint_examples, shingle_sets
from pipeline.stages.dedup.near_duplicates import candidate_probability, choose_banding
from pipeline.stages.dedup.near_duplicates.banding import candidate_pairs
from pipeline.stages.dedup.near_duplicates.shingles import TokenHasher, shingle_ids
from pipeline.stages.dedup.near_duplicates.signatures import minhash_signatures

K, NUM_PERM, SEED, THRESHOLD = 3, 128, 1, 0.8
REALDATA = Path(os.environ.get("CHATPREP_SHARED", Path(__file__).resolve().parents[2] / "shared")) / "realdata"


def _rate(n: int, seconds: float) -> dict:
    return {"seconds": round(seconds, 3), "docs_per_s": round(n / seconds) if seconds else None}


def bench_signatures(token_lists: list[list[str]]) -> dict:
    n = len(token_lists)
    t = time.perf_counter()
    shingles = [[" ".join(toks[i:i + K]).encode() for i in range(max(1, len(toks) - K + 1))] for toks in token_lists]
    datasketch_sha1 = MinHash.bulk(shingles, num_perm=NUM_PERM, seed=SEED)
    t_sha1 = time.perf_counter() - t
    del datasketch_sha1

    flat = [tok for toks in token_lists for tok in toks]
    hasher = TokenHasher()
    hasher.hashes(flat)                                   # warm the per-process token cache first
    t = time.perf_counter()
    ids, counts = shingle_ids(hasher.hashes(flat), np.array([len(x) for x in token_lists]), K)
    t_ids = time.perf_counter() - t
    offsets = np.cumsum(counts) - counts
    per_doc = [ids[o:o + c].tolist() for o, c in zip(offsets, counts)]
    t = time.perf_counter()
    datasketch_ids = MinHash.bulk(per_doc, num_perm=NUM_PERM, seed=SEED, hashfunc=lambda v: v)
    t_bulk = time.perf_counter() - t
    t = time.perf_counter()
    ours = minhash_signatures(ids, counts, NUM_PERM, SEED)
    t_ours = time.perf_counter() - t
    same = all(np.array_equal(m.hashvalues, s) for m, s in zip(datasketch_ids, ours))
    return {"datasketch_bulk_sha1_shingle_strings (shingling + hashing + signatures)": _rate(n, t_sha1),
            "our_shingle_ids (warm token cache)": _rate(n, t_ids),
            "datasketch_bulk_over_our_ids (signatures only)": _rate(n, t_bulk),
            "numpy_batch_over_our_ids (signatures only)": _rate(n, t_ours),
            "identical_to_datasketch": same}


def bench_fingerprints(examples: list[str], workers: int) -> dict:
    spec = FingerprintSpec(K, NUM_PERM, SEED, False)
    out = {}
    for w in sorted({1, workers}):
        executor = LocalExecutor(w)
        t = time.perf_counter()
        fingerprint_examples(examples, spec, executor)
        out[f"workers_{w}"] = _rate(len(examples), time.perf_counter() - t)
        executor.close()
    return out


def _recall(found: set, planted: dict, at_least: float) -> float:
    wanted = [p for p, j in planted.items() if j >= at_least]
    return round(sum(p in found for p in wanted) / len(wanted), 4) if wanted else None


def bench_lsh(signatures: np.ndarray, planted: dict) -> dict:
    n = len(signatures)
    out = {}
    ds_bands, ds_rows = _optimal_param(THRESHOLD, NUM_PERM, 0.5, 0.5)
    t = time.perf_counter()
    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM)
    sketches = [MinHash(num_perm=NUM_PERM, seed=SEED, hashvalues=s, scheme="affine32") for s in signatures]
    for i, m in enumerate(sketches):
        lsh.insert(i, m)
    found = {tuple(sorted((i, j))) for i, m in enumerate(sketches) for j in lsh.query(m) if j != i}
    out["datasketch_MinHashLSH_default"] = {
        "bands": ds_bands, "rows": ds_rows, **_rate(n, time.perf_counter() - t), "candidate_pairs": len(found),
        "P_candidate_at_threshold": round(candidate_probability(THRESHOLD, ds_bands, ds_rows), 4),
        "recall_at_threshold": _recall(found, planted, THRESHOLD),
        "recall_at_threshold_plus_0.05": _recall(found, planted, THRESHOLD + 0.05)}
    bands, rows = choose_banding(THRESHOLD, NUM_PERM)
    t = time.perf_counter()
    left, right, _ = candidate_pairs(signatures, bands, rows, 200)
    found = set(zip(left.tolist(), right.tolist()))
    out["numpy_buckets_chosen_banding"] = {
        "bands": bands, "rows": rows, **_rate(n, time.perf_counter() - t), "candidate_pairs": len(found),
        "P_candidate_at_threshold": round(candidate_probability(THRESHOLD, bands, rows), 4),
        "recall_at_threshold": _recall(found, planted, THRESHOLD),
        "recall_at_threshold_plus_0.05": _recall(found, planted, THRESHOLD + 0.05)}
    return out


def _cpu_seconds(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.process_time()
        fn()
        best = min(best, time.process_time() - t)
    return round(best, 3)


def synthetic_examples(n: int) -> list[str]:
    """`make bench`'s synthetic conversations (bench/synthetic.py) as the pipeline's example texts."""
    _, conversations = synthetic.generate(n)
    return [dumps_example({"messages": m}) for m in conversations["messages"].to_list()]


def realdata_examples(root: Path = REALDATA) -> list[str]:
    """Example texts from the shared real files (read at run time, never copied): persuasionforgood dialogs and
    windows of 6 turns of them, xdailydialog's en/de/it/zh test dialogs, the cookbook's drone tool calls, and
    agentune's insurance calls in windows of 14 (agent turns named). Empty when the folder is absent."""
    if not root.is_dir():
        return []
    out: list[str] = []
    dialogs: dict[str, list[dict]] = {}
    with open(root / "persuasionforgood/full_dialog.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            dialogs.setdefault(row["B2"], []).append({"role": ("user", "assistant")[int(row["B4"])], "content": row["Unit"]})
    for msgs in dialogs.values():
        out += [dumps_example({"messages": msgs})] + [dumps_example({"messages": msgs[w:w + 6]})
                                                      for w in range(0, len(msgs) - 4, 4)]
    for lang in ("en", "de", "it", "zh"):
        for line in (root / f"xdailydialog/{lang}_test_human.txt").read_text(encoding="utf-8").splitlines():
            turns = [t for t in line.split("\t")[0].split("__eou__") if t.strip()]
            out.append(dumps_example({"messages": [{"role": ("user", "assistant")[i % 2], "content": t}
                                                   for i, t in enumerate(turns)]}))
    out += [dumps_example(json.loads(line)) for line in
            (root / "openai-cookbook-ft/drone_training.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    calls: dict[str, list[dict]] = {}
    with open(root / "agentune-insurance-calls/messages.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            agent = row["author"] != "Customer"
            calls.setdefault(row["conversation_id"], []).append(
                {"role": "assistant" if agent else "user", "content": row["message"], **({"name": "agent"} if agent else {})})
    for msgs in calls.values():
        out += [dumps_example({"messages": msgs[w:w + 14]}) for w in range(0, len(msgs), 12)]
    return out


def bench_fingerprint_cpu(corpora: dict[str, list[str]], repeat: int) -> dict:
    spec = FingerprintSpec(K, NUM_PERM, SEED, False)
    sets_spec = FingerprintSpec(K, NUM_PERM, SEED, False, False)
    out = {}
    for name, examples in corpora.items():
        fingerprint_examples(examples[:2000], spec)          # per-process tables and caches, as a pool worker has
        tenth = examples[:max(1, len(examples) // 10)]
        out[name] = {"examples": len(examples),
                     "fingerprints_cpu_s": _cpu_seconds(partial(fingerprint_examples, examples, spec), repeat),
                     "shingle_sets_tenth_cpu_s": _cpu_seconds(partial(shingle_sets, tenth, sets_spec), repeat)}
    return out


def compare(before: dict, after: dict) -> dict:
    """before/after ratio of each CPU figure both runs have (> 1: faster now)."""
    out = {}
    for corpus, figures in after.items():
        old = before.get(corpus, {})
        if old.get("examples") != figures["examples"]:
            continue
        out[corpus] = {k: round(old[k] / v, 2) for k, v in figures.items() if k.endswith("_cpu_s") and k in old and v}
    return out


SECTIONS = ("signatures", "fingerprints", "lsh", "fingerprint_cpu")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20_000, help="conversations (about a third are in planted pairs)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    ap.add_argument("--repeat", type=int, default=3, help="fingerprint_cpu: runs per figure (the least counts)")
    ap.add_argument("--compare", help="fingerprint_cpu: an earlier run's --json, for before/after ratios")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    pairs_per_level = max(1, args.n // 48)
    corpus = planted_corpus(n_singletons=max(0, args.n - 16 * pairs_per_level), pairs_per_level=pairs_per_level)
    results = {"n": len(corpus.examples), "planted_pairs": len(corpus.pairs), "python": platform.python_version(),
               "machine": platform.machine()}
    if "signatures" in args.sections:
        results["signatures"] = bench_signatures(corpus.tokens)
    if "fingerprints" in args.sections:
        results["fingerprints"] = bench_fingerprints(corpus.examples, args.workers)
    if "lsh" in args.sections:
        spec = FingerprintSpec(K, NUM_PERM, SEED, False)
        results["lsh"] = bench_lsh(fingerprint_examples(corpus.examples, spec).signatures, corpus.pairs)
    if "fingerprint_cpu" in args.sections:
        corpora = {"planted": corpus.examples, "synthetic": synthetic_examples(args.n), "realdata": realdata_examples()}
        results["fingerprint_cpu"] = bench_fingerprint_cpu({k: v for k, v in corpora.items() if v}, args.repeat)
        if args.compare:
            with open(args.compare, encoding="utf-8") as f:
                before = json.load(f).get("fingerprint_cpu", {})
            results["fingerprint_cpu_before_over_after"] = compare(before, results["fingerprint_cpu"])
    print(json.dumps(results, indent=2))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
