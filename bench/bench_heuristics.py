"""Per-example speed of the batch stages heuristics, normalize, validate and tokens on synthetic bench data.

Each stage runs in this process on the same examples frame (one core; the runner's chunk pool is not
involved), --repeat times; the best time gives examples/s. The examples are the synthetic
conversations of bench/synthetic.py (conversations layout Parquet, made when missing), one compact
OpenAI JSON object each, as the stages see them after convert. Timings are wall clock on a possibly
busy machine: compare runs made under the same conditions. No test asserts a time.

    python -m bench.bench_heuristics                       # heuristics on 20,000 examples
    python -m bench.bench_heuristics --stages heuristics normalize validate tokens --n 20000
    python -m bench.bench_heuristics --json bench/results/per_example_stages.json
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import polars as pl
from tqdm import tqdm

from bench import synthetic
from pipeline.engine.records import EXAMPLE_SCHEMA, dumps_example
from pipeline.engine.stage import StageContext
from schemas.stages import STAGE_NAMES, STAGE_PARAMS

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CHATPREP_SHARED", ROOT.parent / "shared"))
STAGES = ("heuristics", "normalize", "validate", "tokens")


def examples_frame(n: int, data: Path) -> pl.DataFrame:
    """The first n synthetic conversations as an examples frame (the smallest stored file holding n)."""
    stored = sorted((int(p.stem.split("_")[1]), p) for p in data.glob("synthetic_*.parquet")
                    if p.stem.split("_")[1].isdigit())
    path = next((p for size, p in stored if size >= n), None) or synthetic.write(n, data)["parquet"]
    raw = pl.read_parquet(path, n_rows=n)
    rows = [{"example_id": cid, "source_file": path.name, "source_rows": [i + 1], "group_id": cid,
             "example": dumps_example({"messages": messages}), "flags": []}
            for i, (cid, messages) in enumerate(raw.select("conversation_id", "messages").iter_rows())]
    return pl.DataFrame(rows, schema=EXAMPLE_SCHEMA)


def _params(stage: str):
    return STAGE_PARAMS[STAGE_NAMES.index(stage)](name=stage)  # the defaults, as in configs/default.yaml


def measure(stage: str, frame: pl.DataFrame, repeat: int, cache_dir: Path) -> dict:
    module = importlib.import_module(f"pipeline.stages.{stage}.stage")
    params = _params(stage)
    ctx = StageContext(None, cache_dir, cache_dir, lambda **kw: tqdm(disable=True, **kw), lambda m: None)
    if stage == "tokens":
        module.run(frame.head(10), params, ctx)  # load the encoding outside the timing
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = module.run(frame, params, ctx)
        times.append(time.perf_counter() - t)
    dropped = int(out.frame["drop_reason"].is_not_null().sum())
    return {"examples": frame.height, "best_seconds": round(min(times), 3),
            "examples_per_second": round(frame.height / min(times)), "dropped": dropped}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stages", nargs="+", choices=STAGES, default=["heuristics"])
    ap.add_argument("--n", type=int, default=20_000, help="examples")
    ap.add_argument("--repeat", type=int, default=3, help="runs per stage; the best counts")
    ap.add_argument("--data", type=Path, default=ROOT / "bench" / "data", help="folder of synthetic_<n>.parquet")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)
    if "TIKTOKEN_CACHE_DIR" not in os.environ and (SHARED / "tiktoken_cache").is_dir():
        os.environ["TIKTOKEN_CACHE_DIR"] = str(SHARED / "tiktoken_cache")
    frame = examples_frame(args.n, args.data)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for stage in args.stages:
            results[stage] = r = measure(stage, frame, args.repeat, Path(tmp))
            print(f"{stage:<11} {r['examples']:>8,} examples  best {r['best_seconds']:>7.3f} s  "
                  f"{r['examples_per_second']:>9,} examples/s  (dropped {r['dropped']:,})", flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"python": sys.version.split()[0], "stages": results}, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
