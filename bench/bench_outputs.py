"""The warm rerun (every step cached, a new output folder): CPU seconds and peak RSS of `python -m pipeline
prepare`, least of --repeat runs, and a digest of what it wrote, to compare code before and after a change.

    python -m bench.bench_outputs --config <work>/bench-local.yaml [--repeat 3] [--python <other checkout>]
        [--reference <out dir of the cold run>]

The config's cache must hold a finished run of the same code (run it once first). The digest covers
train/validation/provenance/rejects, stats.json without its timings, and the report's data block (charts and
sample viewer); --reference also compares every file except stats.json, manifest.json and report.html (which
hold the run's timings) byte for byte with a cold run's output folder.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pipeline.cli import EXIT_NOT_READY, EXIT_OK

TIMED = ("seconds", "cpu_seconds")  # per-run values in stats.json's stages
LINE_FILES = ("train.jsonl", "validation.jsonl", "provenance.jsonl", "rejects.jsonl")


def _untimed(stats: dict) -> dict:
    """stats.json without what depends on when and after what the steps ran: their seconds, and the language
    detection cache's hits and misses (a cold run after another code version's finds its answers cached)."""
    stats = json.loads(json.dumps(stats))
    stats["stages"] = [{k: v for k, v in s.items() if k not in TIMED + ("cached",)} for s in stats["stages"]]
    stats.get("facts", {}).get("language", {}).pop("cache", None)
    return stats


def digest(out: Path) -> str:
    h = hashlib.sha256()
    for name in LINE_FILES:
        with open(out / name, "rb") as f:
            while block := f.read(1 << 24):
                h.update(block)
    h.update(json.dumps(_untimed(json.loads((out / "stats.json").read_text())), sort_keys=True).encode())
    html = (out / "report.html").read_text()
    h.update(re.search(r'id="report-data">(.*?)</script>', html, re.DOTALL).group(1).encode())
    return h.hexdigest()[:16]


def same_files(out: Path, reference: Path) -> list[str]:
    """The files (not stats/manifest/report) that differ from the reference folder's."""
    skip = {"stats.json", "manifest.json", "report.html"}
    names = sorted({p.name for p in out.iterdir() if p.is_file()} | {p.name for p in reference.iterdir() if p.is_file()})
    differ = []
    for name in names:
        if name in skip:
            continue
        a, b = out / name, reference / name
        if not (a.is_file() and b.is_file()) or subprocess.run(["cmp", "-s", a, b], check=False).returncode:
            differ.append(name)
    return differ


def run_once(config: Path, out: Path, pythonpath: str | None) -> dict:
    env = {**os.environ, **({"PYTHONPATH": pythonpath} if pythonpath else {})}
    before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pipeline", "prepare", "--quiet", "--config", str(config),
                           "--out", str(out)], check=False, env=env, stdout=subprocess.DEVNULL, cwd=pythonpath or None)
    if done.returncode not in (EXIT_OK, EXIT_NOT_READY):  # not ready (e.g. a file over the destination's limit)
        raise SystemExit(f"the run failed with exit code {done.returncode}")  # still writes every file
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"cpu_s": round(cpu, 2), "wall_s": round(time.perf_counter() - start, 1), "max_rss_gb": round(after.ru_maxrss / 2**20, 2)}  # largest child so far


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", type=Path, required=True)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--python", help="a checkout to run instead of this one (its folder goes first on PYTHONPATH)")
    ap.add_argument("--reference", type=Path, help="a cold run's output folder to compare files with")
    args = ap.parse_args()
    runs = []
    for _ in range(args.repeat):
        out = Path(tempfile.mkdtemp(prefix="bench-outputs-"))
        try:
            run = run_once(args.config, out, args.python)
            run["digest"] = digest(out)
            if args.reference:
                run["differ"] = same_files(out, args.reference)
            runs.append(run)
            print(json.dumps(run), file=sys.stderr)
        finally:
            shutil.rmtree(out, ignore_errors=True)
    best = min(runs, key=lambda r: r["cpu_s"])
    print(json.dumps({"least_cpu_s": best["cpu_s"], "max_rss_gb": max(r["max_rss_gb"] for r in runs),
                      "digests": sorted({r["digest"] for r in runs}), "runs": runs}))


if __name__ == "__main__":
    main()
