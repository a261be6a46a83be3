"""`make bench`: the default pipeline at 100k and 1M conversations, side by side with peers, on the
synthetic text and on real messages (bench/synthetic.py --text synthetic|real).

Prints per-stage seconds and throughput, wall time, peak RSS, the scaling ratio (1M / 100k), the warm
rerun speed-up, the Ray backend against the local one at the smallest size on the first kind of text (a local
Ray instance with this machine's CPUs, started by the run: its start-up is part of its time), the
OpenAI-cookbook loop and Data-Juicer on the same data, for each kind of text, and
writes it all as JSON to bench/results/bench.json (`texts.<synthetic|real>`; a kind that could not be made
is under `skipped`). Not part of `make test`; no test asserts a time.

    python -m bench                      # 100k and 1M, both texts, peers included
    python -m bench --sizes 20000 --no-peers --no-ray --text real
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

from bench import cookbook_baseline, data_juicer, real_text, synthetic

ROOT = Path(__file__).resolve().parents[1]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def bench_config(csv: Path, work: Path, moderation: bool, backend: str = "local") -> Path:
    cfg = yaml.safe_load((ROOT / "configs" / "default.yaml").read_text())
    cfg["inputs"] = [{"name": "synthetic", "path": str(csv), "layout": "messages",
                      "columns": {"conversation_id": "conversation_id", "role": "speaker", "content": "text"},
                      "roles": {"customer": "user", "agent": "assistant"}}]
    cfg["stages"] = [s for s in cfg["stages"] if moderation or s["name"] != "moderation"]
    for s in cfg["stages"]:
        if s["name"] == "language":
            s.pop("allowed", None)  # the synthetic data is multilingual on purpose; keep the detector running
    cfg["output"] = {"dir": str(work / "out")}
    cfg["cache"] = {"dir": str(work / f"cache-{backend}")}
    if backend != "local":
        cfg["execution"] = {"backend": backend, "ray": {"object_store_mb": 1000}}
    path = work / f"bench-{backend}.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def _tree_rss_kb(root: int) -> int:
    """Resident memory of `root` and all its descendants (from /proc), in kB."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/status") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
        except OSError:
            continue
        pid = int(entry.name)
        children.setdefault(int(fields["PPid"]), []).append(pid)
        rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0])
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack += children.get(pid, [])
    return total


def measured_run(config: Path, out: Path) -> dict:
    """Run the pipeline in a fresh process: wall seconds, peak RSS of its largest process (getrusage) and
    of the whole process tree (main + pool workers, sampled from /proc every 0.2 s), stats.json."""
    code = ("import resource, subprocess, sys, json, time; t=time.perf_counter(); "
            "r=subprocess.run(sys.argv[1:]); w=time.perf_counter()-t; "
            "print(json.dumps({'rc': r.returncode, 'wall': w, "
            "'rss_kb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))")
    cmd = [sys.executable, "-c", code, sys.executable, "-m", "pipeline", "prepare", "--quiet",
           "--config", str(config), "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    peak_tree = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak_tree
        while not done.is_set():
            peak_tree = max(peak_tree, _tree_rss_kb(proc.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = proc.communicate()
    done.set()
    sampler.join()
    m = json.loads(stdout.strip().splitlines()[-1])
    if m["rc"] not in (0, 1) or not (out / "stats.json").exists():  # 1 = finished, not ready; a crash leaves no stats
        raise SystemExit(f"pipeline failed on {config} (exit {m['rc']}):\n{stderr[-3000:]}")
    stats = json.loads((out / "stats.json").read_text())
    return {"wall_s": round(m["wall"], 2), "peak_rss_mb": round(m["rss_kb"] / 1024),
            "peak_tree_rss_mb": round(peak_tree / 1024), "stats": stats}


def table(rows: list[dict]) -> str:
    lines = []
    for r in rows:
        st = r["stats"]
        lines.append(f"\n== {r['label']}: {st['examples']['built']:,} conversations, wall {r['wall_s']:.1f} s, "
                     f"peak RSS {r['peak_rss_mb']:,} MB (largest process), "
                     f"{r['peak_tree_rss_mb']:,} MB (all processes)")
        lines.append(f"   {'stage':<12}{'in':>11}{'out':>11}{'seconds':>10}{'per s':>12}")
        for s in st["stages"]:
            rate = f"{s['in'] / s['seconds']:>12,.0f}" if s["seconds"] and not s.get("cached") else f"{'cached':>12}"
            lines.append(f"   {s['name']:<12}{s['in']:>11,}{s['out']:>11,}{s['seconds']:>10.2f}{rate}")
    return "\n".join(lines)


def ray_vs_local(n: int, csv: Path, work: Path, moderation: bool, local: dict) -> dict:
    """The same cold run with execution.backend: ray (a local Ray instance sized to this machine's CPUs):
    wall time against the local backend's, per stage, and whether the data files are byte-identical."""
    log(f"running the pipeline on {n:,} with the Ray backend …")
    config = bench_config(csv, work, moderation, "ray")
    ray = measured_run(config, work / "out-ray")
    ray["label"] = f"{n:,} cold, Ray backend"
    same = all((work / "out" / f).read_bytes() == (work / "out-ray" / f).read_bytes()
               for f in ("train.jsonl", "validation.jsonl", "provenance.jsonl", "rejects.jsonl"))
    print(table([ray]))
    by_stage = {s["name"]: s["seconds"] for s in local["stats"]["stages"]}
    print(f"\nRay backend at {n:,}: wall {ray['wall_s']:.1f} s vs local {local['wall_s']:.1f} s "
          f"({ray['wall_s'] / local['wall_s'] - 1:+.0%}); data files byte-identical: {same}")
    for s in ray["stats"]["stages"]:
        print(f"   {s['name']:<12}{by_stage.get(s['name'], 0):>8.2f} s local {s['seconds']:>8.2f} s ray")
    return {"local": {k: v for k, v in local.items() if k != "stats"} | {"stages": local["stats"]["stages"]},
            "ray": ray, "overhead": round(ray["wall_s"] / local["wall_s"] - 1, 3), "identical": same}


def run_text(text: str, args) -> dict:
    """Every size on one kind of text (cold + warm), the cookbook loop and Data-Juicer at the smallest size.
    {"skipped": why} (printed too) when the data cannot be made, e.g. `real` without ../shared/realdata."""
    results: dict = {"sizes": {}, "peers": {}}
    runs = []
    for n in args.sizes:
        log(f"generating {n:,} conversations ({text} text) …")
        try:
            paths = synthetic.write(n, args.data, text=text)
        except real_text.RealDataMissing as e:
            print(f"\n--text {text} skipped: {e}")
            return {"skipped": str(e)}
        work = Path(tempfile.mkdtemp(prefix=f"bench-{text}-{n}-"))
        config = bench_config(paths["csv"], work, args.moderation)
        log(f"running the pipeline on {n:,} ({text} text) …")
        cold = measured_run(config, work / "out")
        cold["label"] = f"{n:,} cold, {text} text"
        warm = measured_run(config, work / "out-warm")
        warm["label"] = f"{n:,} warm rerun, {text} text"
        runs += [cold, warm]
        results["sizes"][n] = {"cold": cold, "warm": warm, "rerun_speedup": round(cold["wall_s"] / warm["wall_s"], 1),
                               "work": str(work), "data": str(paths["csv"])}
    print(table(runs))
    sizes = sorted(results["sizes"])
    if len(sizes) >= 2:
        a, b = results["sizes"][sizes[0]]["cold"]["wall_s"], results["sizes"][sizes[-1]]["cold"]["wall_s"]
        results["scaling_ratio"] = round(b / a, 2)
        print(f"\nscaling ({text} text): {sizes[-1]:,} / {sizes[0]:,} conversations took {b / a:.2f}× the time "
              f"(data ×{sizes[-1] / sizes[0]:.0f})")
    base = sizes[0]
    if not args.no_ray and text == args.text[0]:
        results["ray"] = ray_vs_local(base, Path(results["sizes"][base]["data"]), Path(results["sizes"][base]["work"]),
                                      args.moderation, results["sizes"][base]["cold"])
    train = Path(results["sizes"][base]["work"]) / "out" / "train.jsonl"
    cook = cookbook_baseline.run(train)
    ours = results["sizes"][base]["cold"]["stats"]["stages"]
    ours_s = sum(s["seconds"] for s in ours if s["name"] in ("validate", "tokens"))
    results["peers"]["cookbook"] = {**cook, "ours_validate_tokens_s": ours_s}
    print(f"\nOpenAI cookbook loop (validate + count) on {cook['examples']:,} exported examples: {cook['seconds']:.1f} s"
          f" — ours (validate + tokens stages): {ours_s:.1f} s → {cook['seconds'] / ours_s:.1f}× " if ours_s else "")
    for n in sizes:
        print(f"warm rerun at {n:,} ({text} text): {results['sizes'][n]['rerun_speedup']}× faster than cold")
    if not args.no_peers:
        log(f"Data-Juicer on {base:,} conversations ({text} text) …")
        dj = data_juicer.run(synthetic.write(base, args.data, text=text)["parquet"], log)
        results["peers"]["data_juicer"] = dj
        if dj["available"]:
            ours_wall = results["sizes"][base]["cold"]["wall_s"]
            print(f"Data-Juicer {dj['version']} on {base:,} ({text} text): {dj['seconds']:.0f} s wall — ours "
                  f"{ours_wall:.0f} s (all stages) → {dj['seconds'] / ours_wall:.1f}× faster")
        else:
            print(f"Data-Juicer not run: {dj['why']}")
    for n in [*results["sizes"].values(), *([results["ray"]] if "ray" in results else [])]:
        for k in ("cold", "warm", "local", "ray"):
            if k in n and "stats" in n[k]:
                n[k]["stages"] = n[k].pop("stats")["stages"]
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--text", nargs="+", choices=synthetic.TEXTS, default=list(synthetic.TEXTS),
                    help="the data's text: random words (synthetic), real messages from ../shared/realdata (real), "
                         "or both (default; real is skipped with a message when the folder is absent)")
    ap.add_argument("--no-peers", action="store_true", help="skip Data-Juicer (its install takes minutes)")
    ap.add_argument("--moderation", action="store_true", help="keep the moderation stage (needs a server)")
    ap.add_argument("--no-ray", action="store_true", help="skip the Ray backend run (needs make setup-ray)")
    ap.add_argument("--data", type=Path, default=ROOT / "bench" / "data")
    args = ap.parse_args()
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(ROOT.parent / "shared" / "tiktoken_cache"))
    results: dict = {"texts": {}, "skipped": {}}
    for text in dict.fromkeys(args.text):
        got = run_text(text, args)
        if "skipped" in got:
            results["skipped"][text] = got["skipped"]
        else:
            results["texts"][text] = got
    out = ROOT / "bench" / "results" / "bench.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"\nfigures written to {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    t = time.perf_counter()
    code = main()
    log(f"bench finished in {time.perf_counter() - t:.0f} s")
    sys.exit(code)
