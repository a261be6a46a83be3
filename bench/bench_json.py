"""Parsing example JSON: json.loads against records.loads_example (msgspec's decoder, json.loads where it refuses).

Every batch stage parses each example it reads (normalize, pii, validate, heuristics, tokens, ...), so
this is paid several times per example in a run. Parses the synthetic bench conversations (as compact
example JSON, bench/bench_heuristics.py) one at a time, --repeat times; CPU time of this process, the
least of the runs counts. orjson is timed too when it is installed (it is no dependency: it reads an
integer beyond 64 bits as a float, where json.loads keeps the int). No test asserts a time.

    python -m bench.bench_json --n 100000
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from bench.bench_heuristics import ROOT, examples_frame
from pipeline.engine.records import loads_example


def _cpu(parse, texts: list[str], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.process_time()
        for text in texts:
            parse(text)
        best = min(best, time.process_time() - t)
    return best


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000, help="examples")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--data", type=Path, default=ROOT / "bench" / "data", help="folder of synthetic_<n>.parquet")
    args = ap.parse_args(argv)
    texts = examples_frame(args.n, args.data)["example"].to_list()
    parsers = {"json.loads": json.loads, "records.loads_example": loads_example}
    try:
        import orjson

        parsers["orjson.loads (not used)"] = orjson.loads
    except ImportError:
        pass
    mismatched = sum(loads_example(t) != json.loads(t) for t in texts)
    if mismatched:
        raise SystemExit(f"loads_example differs from json.loads on {mismatched} examples")
    print(f"{len(texts):,} examples, {sum(map(len, texts)) / len(texts):,.0f} characters on average")
    results = {}
    for name, parse in parsers.items():
        results[name] = seconds = _cpu(parse, texts, args.repeat)
        print(f"{name:<26} {seconds:>6.3f} CPU s  {len(texts) / seconds:>10,.0f} examples/CPU s  "
              f"{results['json.loads'] / seconds:>5.2f}× json.loads")
    return results


if __name__ == "__main__":
    main()
