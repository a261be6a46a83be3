"""The dedup stage as the runner runs it, phase by phase: CPU seconds and the main process's peak memory.

Given the converted examples of a run (a checkpoint folder `.cache/checkpoints/<key>` whose meta.json lists
`parts.examples`: run `chatprep prepare` once with a config whose stages are [dedup, export]), runs the dedup
segment (pipeline/engine/segments.run_segment) on a LocalExecutor pool of --workers processes, in a fresh
process per --repeat, and reports per phase: the main process's CPU seconds, the CPU seconds of the whole
process tree (main + pool workers, from /proc), and the main process's peak RSS during the phase (VmHWM,
reset before each phase through /proc/self/clear_refs). Phases: read (the frame without text), features
(fingerprints on the pool), exact keys, banding (LSH candidates), verify (exact Jaccard of candidates),
components, top clusters, run (the whole stage's run()), write-back (kept/dropped parts written on the pool).
The digest covers every kept and dropped row and the stage's facts: two versions of the code agree exactly
when their outputs do. No test asserts a time.

    python -m bench.bench_dedup_stage --examples /tmp/dedup-work/n100000/cache-local/checkpoints/<key>
    python -m bench.bench_dedup_stage --examples DIR --repeat 3 --json after.json --compare before.json
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import json
import os
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

PHASES = (  # (module, attribute, phase name); a missing attribute is skipped (the code may have moved)
    ("pipeline.engine.parts", "Parts.read_all", "read"),
    ("pipeline.engine.segments", "_features", "features"),
    ("pipeline.stages.dedup.stage", "_first_equal", "exact keys"),
    ("pipeline.stages.dedup.near_duplicates.pairs", "candidate_pairs", "banding"),
    ("pipeline.stages.dedup.stage", "pair_jaccard", "verify"),
    ("pipeline.stages.dedup.stage", "connected_components", "components"),
    ("pipeline.stages.dedup.stage", "_top_clusters", "top clusters"),
    ("pipeline.stages.dedup.stage", "run", "run"),
    ("pipeline.engine.segments", "_check_contract", "contract check"),   # resets the peak before the write-back
)
_TICK = os.sysconf("SC_CLK_TCK")


def _tree_cpu() -> float:
    """CPU seconds (user + system) of this process and its live descendants."""
    stats: dict[int, tuple[int, float]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                fields = Path(f"/proc/{entry.name}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK)
    total, stack = 0.0, [os.getpid()]
    while stack:
        pid = stack.pop()
        total += stats.get(pid, (0, 0.0))[1]
        stack += [p for p, (ppid, _) in stats.items() if ppid == pid]
    return total


def _hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _reset_hwm() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def _instrument(record: dict) -> None:
    import importlib

    for module_name, attr, phase in PHASES:
        owner = importlib.import_module(module_name)
        *path, name = attr.split(".")
        for p in path:
            owner = getattr(owner, p)
        fn = getattr(owner, name, None)
        if fn is None:
            continue

        def wrapped(*a, _fn=fn, _phase=phase, **kw):
            outer_peak = _hwm_mb()
            _reset_hwm()
            cpu, tree = time.process_time(), _tree_cpu()
            try:
                return _fn(*a, **kw)
            finally:
                r = record.setdefault(_phase, {"cpu": 0.0, "tree_cpu": 0.0, "peak_mb": 0.0, "calls": 0})
                r["cpu"] += time.process_time() - cpu
                r["tree_cpu"] += _tree_cpu() - tree
                r["peak_mb"] = max(r["peak_mb"], _hwm_mb())
                r["calls"] += 1
                if outer_peak > _hwm_mb():   # keep an enclosing phase's peak: it is measured as a maximum
                    record.setdefault("_outer_peaks", []).append(outer_peak)
        setattr(owner, name, wrapped)


def _digest(folder: Path, facts: dict) -> str:
    h = hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode())
    for path in sorted(folder.glob("*.parquet")):
        h.update(path.name.encode())
        h.update(pl.read_parquet(path).write_ndjson().encode())
    return h.hexdigest()


def one_run(examples: Path, workers: int, profile: bool = False) -> dict:
    from pipeline.config_loader import load_config
    from pipeline.engine.executor import LocalExecutor
    from pipeline.engine.parts import Parts
    from pipeline.engine.segments import Segment, run_segment
    from pipeline.engine.stage import StageContext
    from pipeline.stages import stage_module

    config_path = next(examples.parents[2].glob("bench-*.yaml"))
    config = load_config(config_path)
    params = next(p for p in config.stages if p.name == "dedup")
    parts = Parts.from_json(examples, json.loads((examples / "meta.json").read_text())["parts"]["examples"])
    record: dict = {}
    _instrument(record)
    executor = LocalExecutor(workers)
    with tempfile.TemporaryDirectory(prefix="bench-dedup-") as tmp:
        ctx = StageContext(config, Path(tmp) / "out", Path(tmp), _quiet, lambda m: None, executor=executor)
        list(executor.map(_noop, [()] * workers * 2, workers))  # start the pool first
        _reset_hwm()
        cpu, tree, wall = time.process_time(), _tree_cpu(), time.perf_counter()
        profiler = cProfile.Profile() if profile else None
        if profiler:
            profiler.enable()
        _, (result,) = run_segment(Segment([(params, stage_module("dedup"))]), parts, Path(tmp), ctx)
        if profiler:
            profiler.disable()
            pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumtime").print_stats(40)
        write_back_peak = _hwm_mb()   # since the contract check, which runs right before the write-back
        total = {"cpu": time.process_time() - cpu, "tree_cpu": _tree_cpu() - tree, "wall": time.perf_counter() - wall,
                 "peak_mb": max([write_back_peak, *record.pop("_outer_peaks", []),
                                 *(r["peak_mb"] for r in record.values() if isinstance(r, dict))])}
        executor.close()
        digest = _digest(Path(tmp), result.facts)
    inner = sum(record.get(p, {}).get("cpu", 0.0) for p in ("read", "features", "run"))
    record["write-back etc."] = {"cpu": total["cpu"] - inner, "tree_cpu": total["tree_cpu"] - sum(
        record.get(p, {}).get("tree_cpu", 0.0) for p in ("read", "features", "run")), "peak_mb": write_back_peak}
    return {"examples": parts.height, "total": total, "phases": record, "digest": digest,
            "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _noop() -> None:
    return None


def _quiet(**kw):
    from tqdm import tqdm

    return tqdm(disable=True, **kw)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--examples", type=Path, required=True, help="checkpoint folder holding the converted examples")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", type=Path, help="write the runs here")
    ap.add_argument("--compare", type=Path, help="an earlier --json: print before -> after and check the digest")
    ap.add_argument("--profile", action="store_true", help="one run in this process, cProfile of its main process")
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one or args.profile:
        print(json.dumps(one_run(args.examples, args.workers, args.profile)))
        return
    runs = []
    for _ in range(args.repeat):   # a fresh process each time: peak memory and caches start over
        out = subprocess.run([sys.executable, "-m", "bench.bench_dedup_stage", "--one", "--examples",
                              str(args.examples), "--workers", str(args.workers)],
                             check=True, capture_output=True, text=True).stdout
        runs.append(json.loads(out.strip().splitlines()[-1]))
    best = _least(runs)
    if args.json:
        args.json.write_text(json.dumps({"runs": runs, "least": best}, indent=1))
    before = json.loads(args.compare.read_text())["least"] if args.compare else None
    print(f"{best['examples']:,} examples, {args.workers} workers, least of {len(runs)} (CPU s; peak MB of the "
          f"main process) — digest {best['digest'][:16]}"
          + ("" if before is None else f" ({'SAME' if before['digest'] == best['digest'] else 'DIFFERENT'} as before)"))
    for name in [*best["phases"], "total"]:
        now = best["total"] if name == "total" else best["phases"][name]
        was = None if before is None else (before["total"] if name == "total" else before["phases"].get(name))
        line = f"  {name:16s} main {now['cpu']:7.2f}  tree {now['tree_cpu']:7.2f}  peak {now.get('peak_mb', 0):7.0f}"
        if was:
            line += f"   before: main {was['cpu']:7.2f}  tree {was['tree_cpu']:7.2f}  peak {was.get('peak_mb', 0):7.0f}"
        print(line)


def _least(runs: list[dict]) -> dict:
    """Per phase and measure, the least over the runs (the digests must all agree)."""
    if len({r["digest"] for r in runs}) != 1:
        raise SystemExit("dedup bench: runs gave different outputs")
    best = json.loads(json.dumps(runs[0]))
    for r in runs[1:]:
        for name, values in [("total", r["total"]), *r["phases"].items()]:
            target = best["total"] if name == "total" else best["phases"].setdefault(name, dict(values))
            for k, v in values.items():
                if isinstance(v, (int, float)) and k != "calls":
                    target[k] = min(target.get(k, v), v)
    return best


if __name__ == "__main__":
    main()
