"""CPU time per example of the batch stages, run as the engine runs them, on the bench's synthetic data.

The synthetic conversations of bench/synthetic.py (messages-layout CSV, as `make bench` uses) are read and
converted once with the bench's config (bench/__main__.py: the default stages without moderation), then
every part goes through the batch segment normalize → pii → validate → heuristics → language in this
process, one stage after the other on what the previous one kept (pipeline/engine/segments.py does the
same in each pool worker), and tokens runs on the segment's output (dedup, a whole-frame stage between
them, is left out: tokens' cost per example does not depend on it). Each stage's time is the CPU time of
a fresh process (time.process_time, one process per --repeat), so other jobs on the machine change it
little; in-process memos and the on-disk language detections start empty and each model is loaded once,
as in a pool worker of a cold run. The digest covers every stage's kept and dropped rows
and its merged facts: two runs of different code on the same data agree exactly when their outputs do.
No test asserts a time.

    python -m bench.bench_stages                     # 100,000 conversations
    python -m bench.bench_stages --n 20000 --repeat 3 --profile language
    python -m bench.bench_stages --json bench/results/stages.json
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import json
import multiprocessing
import os
import pstats
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import polars as pl
from tqdm import tqdm

from bench import synthetic
from bench.__main__ import bench_config
from pipeline.config_loader import load_config
from pipeline.convert.step import example_schema, read_and_convert
from pipeline.engine import executor, segments
from pipeline.engine.parts import PartWriter
from pipeline.engine.segments import split_decisions, stage_facts
from pipeline.engine.stage import StageContext
from pipeline.ingest import resolve_sources
from pipeline.stages import stage_module

ROOT = Path(__file__).resolve().parents[1]
SEGMENT = ("normalize", "pii", "validate", "heuristics", "language")
STAGES = (*SEGMENT, "tokens")


def convert(n: int, data: Path, work: Path, csv: Path | None = None) -> tuple[object, list[Path]]:
    """The bench config for n synthetic conversations (or the bench-shaped CSV `csv`), and its converted
    example parts (written in `work`)."""
    csv = csv or synthetic.write(n, data)["csv"]
    config = load_config(bench_config(csv, work, moderation=False))
    writer = PartWriter(work / "parts", "examples", config.execution.chunk_size, example_schema(config))
    read_and_convert(config, resolve_sources(config.inputs), writer, lambda *a: None)
    return config, writer.parts().paths


def _digest(h, frame: pl.DataFrame) -> None:
    buf = io.BytesIO()
    frame.write_ipc(buf)
    h.update(buf.getvalue())


def run_once(config, paths: list[Path], stages: list[str], profile: str | None, cache: Path) -> tuple[dict, str, str]:
    """CPU seconds per stage over every part, the digest of all outputs, and the profile of `profile` (text)."""
    params = {p.name: p for p in config.stages}
    getattr(executor, "tune_garbage_collector", lambda: None)()  # as a pool worker starts (absent before it was)
    ctx = StageContext(config, cache, cache, lambda **kw: tqdm(disable=True, **kw), lambda m: None)
    cpu = dict.fromkeys(stages, 0.0)
    facts: dict[str, list] = {s: [] for s in stages}
    rows = dict.fromkeys(stages, 0)
    digest = hashlib.sha256()
    prof = cProfile.Profile() if profile else None
    segment = [s for s in stages if s in SEGMENT]
    after = [s for s in stages if s not in SEGMENT]
    outputs = []
    for group in (segment, after):
        inputs, outputs = outputs or [pl.read_parquet(p) for p in paths], []
        for chunk in inputs:
            for name in group:
                module = stage_module(name)
                rows[name] += chunk.height
                if prof is not None and name == profile:
                    prof.enable()
                t = time.process_time()
                out = module.run(chunk, params[name], ctx)
                kept, dropped = split_decisions(name, chunk, out.frame)
                cpu[name] += time.process_time() - t
                if prof is not None and name == profile:
                    prof.disable()
                _digest(digest, kept)
                _digest(digest, dropped)
                facts[name].append(out.facts)
                chunk = kept
            outputs.append(chunk)
        finish_run = getattr(segments, "finish_run", None)  # absent in versions before the hook
        for name in group if finish_run else ():  # once all parts ran, as the engine does
            t = time.process_time()
            finish_run(stage_module(name), params[name], ctx)
            cpu[name] += time.process_time() - t
    for name in stages:
        rendered = stage_facts(stage_module(name), params[name], facts[name])
        digest.update(json.dumps(rendered, sort_keys=True, default=str).encode())
    text = io.StringIO()
    if prof is not None:
        pstats.Stats(prof, stream=text).sort_stats("tottime").print_stats(30)
    return {"cpu": cpu, "rows": rows}, digest.hexdigest()[:16], text.getvalue()


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000, help="synthetic conversations")
    ap.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    ap.add_argument("--repeat", type=int, default=1, help="runs; the least CPU time per stage counts")
    ap.add_argument("--profile", choices=STAGES, help="print the cProfile of this stage (last run)")
    ap.add_argument("--data", type=Path, default=ROOT / "bench" / "data", help="folder of synthetic_<n>.csv")
    ap.add_argument("--csv", type=Path, help="another CSV of the synthetic one's columns (conversation_id, speaker, "
                    "text), e.g. one of real messages; --n is then ignored")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(ROOT.parent / "shared" / "tiktoken_cache"))
    stages = [s for s in STAGES if s in args.stages]
    with tempfile.TemporaryDirectory(prefix="bench-stages-") as tmp:
        config, paths = convert(args.n, args.data, Path(tmp), args.csv)
        best: dict[str, float] = {}
        digests = set()
        for k in range(args.repeat):
            # a fresh process each time: empty memos, models loaded once, as in a pool worker
            with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
                result, digest, prof = pool.submit(run_once, config, paths, stages, args.profile,
                                                   Path(tmp) / f"cache{k}").result()
            digests.add(digest)
            best = {s: min(best.get(s, float("inf")), result["cpu"][s]) for s in stages}
    if len(digests) != 1:
        raise SystemExit(f"outputs differ between runs: {sorted(digests)}")
    rows = result["rows"]
    for s in stages:
        print(f"{s:<11} {rows[s]:>9,} examples  {best[s]:>7.2f} CPU s  {rows[s] / best[s]:>9,.0f} examples/CPU s")
    print(f"{'total':<11} {'':>9}           {sum(best.values()):>7.2f} CPU s   outputs digest {digest}")
    print(prof, end="")
    results = {"n": args.n, "csv": str(args.csv or ""), "python": sys.version.split()[0], "digest": digest,
               "stages": {s: {"examples": rows[s], "cpu_seconds": round(best[s], 3)} for s in stages}}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
