"""PII stage benchmark: examples/s of `pipeline.stages.pii.stage.run` (default params) on three workloads.

    .venv/bin/python -m bench.bench_pii [--n 20000] [--data /tmp/benchdata] [--repeat 3] [--json out.json]

  synthetic  the first n conversations of the `make bench` data (bench/synthetic.py: ~11 messages, ~1.6 KB,
             2 % with one PII value); read from <data>/synthetic_100000.parquet when present, else generated
  dense      the same conversations with a look-alike (dates, amounts, versions, order numbers, '@handles')
             appended to every message and a real value (e-mail, phone, card, IBAN, key, ...) to every
             fifth example: the cost when most messages hold candidates
  realdata   real third-party chats from ../shared/realdata (skipped when absent): agentune insurance
             calls and persuasionforgood dialogues (one example per conversation), fastchat, alpaca
             (instruction + input -> output), twcs tweets and openai-moderation prompts (one message
             each): ~4.4k examples
Single process, best of --repeat runs, by wall clock and by process CPU time (polars threads included;
steadier when the machine is shared). Compare rows of one run, not runs.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import time
from pathlib import Path

import polars as pl

from bench import synthetic
from pipeline.engine.facts import render
from pipeline.engine.records import EXAMPLE_SCHEMA, dumps_example
from pipeline.engine.stage import StageContext
from pipeline.stages.pii import stage as pii
from schemas.stages.pii import PiiParams

ROOT = Path(__file__).resolve().parents[1]
REALDATA = Path(os.environ.get("CHATPREP_SHARED", ROOT.parent / "shared")) / "realdata"

LOOKALIKES = ["order 2023-10-12 shipped 12.10.2023 at 14:30", "ticket #555-123-4567, ref 00012345",
              "total 1,234,567.89 EUR", "update to version 1.2.3.4", "ping @AppleSupport about it",
              "ISBN 978-3-16-148410-0", "see std::vector and 12:30", "invoice 12345678 for 42 units"]
VALUES = ["mail jane.doe@example.com", "call +44 20 7946 0321", "card 4111 1111 1111 1111",
          "IBAN DE89 3704 0044 0532 0130 00", "from 203.0.113.57", "SSN 123-45-6789",
          "key sk-proj-Ab3dEfGh1jKlMn0pQrStUvWxYz12", "db postgres://admin:hunter2@db.internal:5432/app"]


def frame_of(examples: list[str]) -> pl.DataFrame:
    n = len(examples)
    return pl.DataFrame({"example_id": [f"e{i}" for i in range(n)], "source_file": ["bench"] * n,
                         "source_rows": [[i + 1] for i in range(n)], "group_id": [f"g{i}" for i in range(n)],
                         "example": examples, "flags": [[] for _ in range(n)]}, schema=EXAMPLE_SCHEMA)


def synthetic_conversations(n: int, data: Path) -> list[list[dict]]:
    path = data / "synthetic_100000.parquet"
    if path.exists() and n <= 100_000:
        convs = pl.read_parquet(path, n_rows=n)["messages"].to_list()
    else:
        convs = synthetic.generate(n)[1]["messages"].to_list()
    return convs


def _csv_groups(path: Path, key: str, text: str, speaker) -> list[list[dict]]:
    groups: dict[str, list[dict]] = {}
    with open(path, newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            msgs = groups.setdefault(r[key], [])
            msgs.append({"role": speaker(r, len(msgs)), "content": r[text]})
    return list(groups.values())


def real_conversations(folder: Path) -> list[list[dict]]:
    turn = ("user", "assistant")
    convs = _csv_groups(folder / "agentune-insurance-calls/messages.csv", "conversation_id", "message",
                        lambda r, k: "user" if r["author"] == "Customer" else "assistant")
    convs += _csv_groups(folder / "persuasionforgood/full_dialog.csv", "B2", "Unit", lambda r, k: turn[k % 2])
    for ex in json.loads((folder / "fastchat-dummy/dummy_conversation.json").read_text(encoding="utf-8")):
        turns = ex["conversations"]
        convs.append([{"role": turn[k % 2], "content": t["value"]} for k, t in enumerate(turns)])
    for ex in json.loads((folder / "llamafactory-demo/alpaca_en_demo.json").read_text(encoding="utf-8")):
        convs.append([{"role": "user", "content": f"{ex['instruction']}\n{ex['input']}"},
                      {"role": "assistant", "content": ex["output"]}])
    with open(folder / "twcs-sample/sample.csv", newline="", encoding="utf-8") as f:
        convs += [[{"role": "user", "content": r["text"]}] for r in csv.DictReader(f)]
    lines = (folder / "openai-moderation/samples-1680.jsonl").read_text(encoding="utf-8").splitlines()
    convs += [[{"role": "user", "content": json.loads(line)["prompt"]}] for line in lines]
    return convs


def workloads(n: int, data: Path) -> dict[str, list[str]]:
    convs = synthetic_conversations(n, data)
    work = {"synthetic": [dumps_example({"messages": c}) for c in convs]}
    dense = []
    for i, c in enumerate(convs):
        msgs = [{**m, "content": f"{m['content']} {LOOKALIKES[(i + k) % len(LOOKALIKES)]}"}
                for k, m in enumerate(c)]
        if i % 5 == 0:
            msgs[0]["content"] += " " + VALUES[(i // 5) % len(VALUES)]
        dense.append(dumps_example({"messages": msgs}))
    work["dense"] = dense
    if REALDATA.is_dir():
        work["realdata"] = [dumps_example({"messages": m}) for m in real_conversations(REALDATA)]
    return work


def measure(examples: list[str], repeat: int) -> dict:
    frame = frame_of(examples)
    params = PiiParams(name="pii")
    ctx = StageContext(None, Path("out"), Path("."), lambda **k: None, lambda m: None)
    best, best_cpu, out = float("inf"), float("inf"), None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        out = pii.run(frame, params, ctx)
        best, best_cpu = min(best, time.perf_counter() - t0), min(best_cpu, time.process_time() - c0)
    n, facts = len(examples), render(out.facts)
    return {"examples": n, "messages": facts["scanned_messages"], "seconds": round(best, 3),
            "examples_per_s": round(n / best), "cpu_seconds": round(best_cpu, 3),
            "examples_per_cpu_s": round(n / best_cpu) if best_cpu else None,
            "detections": facts["detections"], "changed_examples": facts["outcome"]["redacted"]}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20_000, help="conversations (synthetic, dense)")
    ap.add_argument("--data", type=Path, default=Path("/tmp/benchdata"), help="`make bench` data folder")
    ap.add_argument("--repeat", type=int, default=3, help="runs per workload; the fastest counts")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)
    work = workloads(args.n, args.data)
    results = {"machine": platform.processor() or platform.machine(), "python": platform.python_version(),
               "workloads": {name: measure(ex, args.repeat) for name, ex in work.items()}}
    print(f"{'workload':10} {'examples':>9} {'messages':>9} {'seconds':>8} {'examples/s':>11} {'ex/cpu-s':>9}"
          "  detections")
    for name, r in results["workloads"].items():
        print(f"{name:10} {r['examples']:>9} {r['messages']:>9} {r['seconds']:>8} {r['examples_per_s']:>11} "
              f"{r['examples_per_cpu_s']:>9}  {r['detections']}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
