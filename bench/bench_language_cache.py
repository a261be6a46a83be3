"""The language stage's on-disk detection cache at scale: what storing and looking up answers costs the workers.

Simulates a cold run of the language stage on `--workers` pool workers that each run `--parts` parts of
`--texts` new side texts (20k conversations give ~40k distinct side texts; 1M conversations are 50 parts:
the default, 2 workers x 25 parts): per part, as DetectionCache.detect_all does, the texts' keys are hashed,
looked up in the SQLite file and the answers stored; then, once every part is done, the run's merge
(detection.merge_stored, in the main process, as the stage's finish_run) when the code has one. Answers
are made up (detecting them is not what is measured). Prints per worker the CPU seconds and the wall
seconds spent in the cache and the bytes it wrote (/proc/self/io), the merge's, and the file's size.
No test asserts a time.

    python -m bench.bench_language_cache                    # 2 workers x 25 parts x 40,000 texts
    python -m bench.bench_language_cache --parts 5
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import tempfile
import time
from pathlib import Path

from pipeline.stages.language import detection


def _written() -> int:
    with open("/proc/self/io") as f:
        return int(dict(line.split(": ") for line in f.read().splitlines())["write_bytes"])


def worker(directory: Path, worker_id: int, parts: int, texts: int) -> dict:
    rng = random.Random(worker_id)
    cpu = wall = 0.0
    before = _written()
    for part in range(parts):
        batch = [f"worker {worker_id} part {part} text {i} {rng.random()}" for i in range(texts)]
        answers = [detection.Detection("en", 0.99, (("en", 0.99), ("de", 0.01))) if i % 3 else
                   detection.Detection("de", 1.0, (("de", 1.0),)) for i in range(texts)]
        cache = detection.DetectionCache("py3langid", directory)
        t, w = time.process_time(), time.perf_counter()
        keys = detection._keys(batch)  # what detect_all does with the texts the process has not met
        cache._read(batch, keys)
        cache._write(keys[0], keys[1], answers)
        cpu += time.process_time() - t
        wall += time.perf_counter() - w
    return {"cpu_s": round(cpu, 2), "wall_s": round(wall, 2), "written_mb": round((_written() - before) / 1e6)}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--parts", type=int, default=25, help="parts per worker")
    ap.add_argument("--texts", type=int, default=40_000, help="new side texts per part")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-language-cache-") as tmp:
        directory = Path(tmp)
        t = time.perf_counter()
        with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
            workers = pool.starmap(worker, [(directory, w, args.parts, args.texts) for w in range(args.workers)])
        merge = None
        if hasattr(detection, "merge_stored"):
            before, c, w = _written(), time.process_time(), time.perf_counter()
            detection.merge_stored(directory)
            merge = {"cpu_s": round(time.process_time() - c, 2), "wall_s": round(time.perf_counter() - w, 2),
                     "written_mb": round((_written() - before) / 1e6)}
        size = sum(p.stat().st_size for p in directory.iterdir()) / 1e6
        total = time.perf_counter() - t
    rows = args.workers * args.parts * args.texts
    print(f"{rows:,} answers stored by {args.workers} workers x {args.parts} parts x {args.texts:,} texts")
    for i, r in enumerate(workers):
        print(f"worker {i}: {r['cpu_s']:>6.2f} CPU s  {r['wall_s']:>6.2f} s in the cache  {r['written_mb']:>6,} MB written")
    if merge:
        print(f"merge:    {merge['cpu_s']:>6.2f} CPU s  {merge['wall_s']:>6.2f} s             {merge['written_mb']:>6,} MB written")
    print(f"cache file {size:,.0f} MB; {total:.1f} s in all")
    return {"workers": workers, "merge": merge, "file_mb": round(size), "seconds": round(total, 1)}


if __name__ == "__main__":
    main()
