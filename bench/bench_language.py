"""Language detector benchmark on real text: speed and accuracy of each backend of the `language` stage.

Text: XDailyDialog's test dialogues (../shared/realdata/xdailydialog), the same 996 dialogues translated
into de, en, it and zh, so every text has a known language. Two workloads:
  dialog  each dialogue's turns joined, first 500 characters (what the stage detects per side)
  turn    single utterances of >= 20 characters (short text: where detectors get unsure)
Detectors are called directly (no cache). Numbers go to stdout as a table and, with --json, to a file.

    python -m bench.bench_language [--limit N] [--json bench/results/language.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from pipeline.language_detection import BACKENDS, backend_id, detector

ROOT = Path(__file__).resolve().parents[1]
REALDATA = Path(os.environ.get("CHATPREP_SHARED", ROOT.parent / "shared")) / "realdata"
LANGS = ("de", "en", "it", "zh")
SAMPLE_CHARS = 500


def load(limit: int) -> dict[str, dict[str, list[str]]]:
    folder = REALDATA / "xdailydialog"
    if not folder.is_dir():
        sys.exit(f"real data not found at {folder} (set CHATPREP_SHARED to the folder holding realdata/)")
    work: dict[str, dict[str, list[str]]] = {"dialog": {}, "turn": {}}
    for lang in LANGS:
        lines = (folder / f"{lang}_test_human.txt").read_text(encoding="utf-8").splitlines()[:limit]
        turns = [[t.strip() for t in line.split("\t")[0].split("__eou__") if t.strip()] for line in lines]
        work["dialog"][lang] = ["\n".join(ts)[:SAMPLE_CHARS] for ts in turns]
        work["turn"][lang] = [t for ts in turns for t in ts if len(t) >= 20][: limit * 2]
    return work


def measure(backend: str, texts: dict[str, list[str]]) -> dict:
    detect = detector(backend)
    detect("warm up the model")
    correct: dict[str, int] = {}
    confident_wrong = 0
    below = {0.5: 0, 0.8: 0}
    n = 0
    t0 = time.perf_counter()
    for lang, items in texts.items():
        correct[lang] = 0
        for text in items:
            got = detect(text)
            n += 1
            below = {c: k + (got.confidence < c) for c, k in below.items()}
            if got.lang == lang:
                correct[lang] += 1
            elif got.confidence >= 0.9:
                confident_wrong += 1
    seconds = time.perf_counter() - t0
    return {"texts": n, "seconds": round(seconds, 3), "texts_per_second": round(n / seconds),
            "accuracy": round(sum(correct.values()) / n, 4),
            "accuracy_by_language": {k: round(v / len(texts[k]), 4) for k, v in correct.items()},
            "wrong_with_confidence_ge_0.9": confident_wrong,
            "share_confidence_below": {str(c): round(k / n, 4) for c, k in below.items()}}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=996, help="dialogues per language (max 996)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)
    work = load(args.limit)
    results: dict = {"backends": {b: backend_id(b) for b in BACKENDS}, "workloads": {}}
    for name, texts in work.items():
        for backend in BACKENDS:
            t0 = time.perf_counter()
            detector(backend)
            load_s = time.perf_counter() - t0
            r = measure(backend, texts)
            r["model_load_seconds"] = round(load_s, 3)
            results["workloads"].setdefault(name, {})[backend] = r
    print(f"{'workload':8} {'backend':10} {'texts':>6} {'texts/s':>8} {'accuracy':>8}  per language")
    for name, per in results["workloads"].items():
        for backend, r in per.items():
            by = " ".join(f"{k}={v:.3f}" for k, v in r["accuracy_by_language"].items())
            print(f"{name:8} {backend:10} {r['texts']:>6} {r['texts_per_second']:>8} {r['accuracy']:>8.4f}  {by}"
                  f"  (wrong at conf>=0.9: {r['wrong_with_confidence_ge_0.9']}; "
                  f"conf<0.5: {r['share_confidence_below']['0.5']:.1%}, <0.8: {r['share_confidence_below']['0.8']:.1%})")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
