"""Write a run's files into the output folder, in a byte-stable form, committed as a whole: all of them
are written into a staging folder inside it, a marker listing them is written last, then they are
moved into place. A run killed before the marker leaves the old outputs untouched (the next run
removes the staging folder); one killed while moving is completed by the next run."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from pipeline import __version__
from pipeline.config_loader import config_hash
from pipeline.engine.atomic_files import atomic_write, line_bytes, write_json
from pipeline.engine.environment import library_versions
from pipeline.engine.output_cache import OutputCache
from pipeline.engine.parts import Parts
from pipeline.report import render_report
from pipeline.report.run_data import RunData
from pipeline.report.verdict import verdict
from pipeline.secret_masking import masked
from pipeline.stages.export.stage import line_column
from pipeline.targets.base import Target
from pipeline.targets.files import file_problems, write_extras, write_splits
from pipeline.targets.summary import target_summary

OUTPUT_FILES = ("train.jsonl", "validation.jsonl", "provenance.jsonl", "rejects.jsonl", "stats.json",
                "manifest.json", "report.html")
STAGING = ".chatprep-staging"  # inside the output folder
COMMITTED = "COMMITTED"  # in the staging folder: the files in it are complete and are being moved in
# provenance and reject lines are built and written this many at a time: at 1M conversations the reject
# lines (with each rejected example's text) held whole, and copied twice on the way out, took ~1 GB
LINES_PER_SLICE = 50_000


def finish_interrupted_outputs(out_dir: Path) -> None:
    """Complete or undo an interrupted commit of outputs, and remove temp files of killed writes."""
    staging = out_dir / STAGING
    marker = staging / COMMITTED
    if marker.is_file():
        for name in json.loads(marker.read_text()):
            if (staging / name).exists():
                (out_dir / name).parent.mkdir(parents=True, exist_ok=True)
                os.replace(staging / name, out_dir / name)
    shutil.rmtree(staging, ignore_errors=True)
    if out_dir.is_dir():
        for name in OUTPUT_FILES:
            for tmp in (*out_dir.glob(f".{name}.*.tmp"), *out_dir.glob(f"*/.{name}.*.tmp")):
                tmp.unlink(missing_ok=True)


def _commit(staging: Path, out_dir: Path) -> None:
    names = sorted(str(p.relative_to(staging)) for p in staging.rglob("*") if p.is_file())
    write_json(staging / COMMITTED, names)
    finish_interrupted_outputs(out_dir)


def versions() -> dict:
    """chatprep's, Python's and those of the libraries that shape outputs (the ones checkpoint keys include)."""
    return {"chatprep": __version__, **library_versions()}


def provenance_lines(examples: pl.DataFrame, split: str, first_line: int = 1) -> pl.Series:
    """One JSON object per exported line of `split` in `examples`, numbered from `first_line`."""
    meta_cols = [c for c in examples.columns if c.startswith("meta.")]
    part = examples.filter(pl.col("split") == split).with_row_index("__line", offset=first_line)
    fields = [pl.lit(f"{split}.jsonl").alias("file"), pl.col("__line").cast(pl.Int64).alias("line"), "example_id",
              "group_id", pl.struct(pl.col("source_file").alias("file"), pl.col("source_rows").alias("rows")).alias("source"),
              pl.col("flags").fill_null(pl.lit([], dtype=pl.List(pl.Utf8)))]
    if meta_cols:
        fields.append(pl.struct([pl.col(c).alias(c.removeprefix("meta.")) for c in meta_cols]).alias("meta"))
        encoded = pl.struct(fields).struct.json_encode()
    else:  # a struct needs at least one field: splice an empty meta object in
        encoded = pl.concat_str([pl.struct(fields).struct.json_encode().str.strip_suffix("}"), pl.lit(',"meta":{}}')])
    return part.select(encoded.alias("l"))["l"]


def reject_lines(rejects: pl.DataFrame) -> pl.Series:
    """One JSON object per reject; the example (JSON text) is spliced in as an object, or null."""
    head = pl.struct("stage", "reason", "detail",
                     pl.struct(pl.col("source_file").alias("file"), pl.col("source_rows").alias("rows")).alias("source"),
                     "example_id").struct.json_encode().str.strip_suffix("}")
    line = pl.concat_str([head, pl.lit(',"example":'), pl.col("example").fill_null("null"), pl.lit("}")])
    return rejects.select(line.alias("l"))["l"]


def _provenance_bytes(examples: pl.DataFrame, split: str):
    """provenance_lines of `split`, LINES_PER_SLICE at a time (the same bytes as all at once)."""
    rows = examples.filter(pl.col("split") == split)
    for start, chunk in zip(range(0, rows.height, LINES_PER_SLICE), rows.iter_slices(LINES_PER_SLICE)):
        yield from line_bytes(provenance_lines(chunk, split, first_line=start + 1))


@dataclass
class TargetRun:
    """One destination's share of the run: the examples it takes (slim, no text), its rejects (the common
    ones plus its own), and the proof that every source row is in one of them."""

    target: Target
    slim: pl.DataFrame
    rejects: pl.DataFrame
    own_rejects: pl.DataFrame
    rows: dict


def write_outputs(out_dir: Path, config, config_path: str, examples: Parts, slim: pl.DataFrame,
                  rejects: pl.DataFrame, stats: dict, fingerprints: list[dict], runs: list[TargetRun],
                  cache: OutputCache | None = None) -> None:
    """`examples`: the exported examples on disk; `slim`: the same rows without their text (every other
    column), in the same order. The example lines stream part by part (with `export.shuffle`, whose
    order is global, they are read at once). `cache`: this run's files from an earlier run with the same
    key, copied instead of rebuilt (on a miss, this run's are saved into it)."""
    staging = out_dir / STAGING
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    _write_files(staging, config, config_path, examples, slim, rejects, stats, fingerprints, runs, cache)
    if cache is not None:
        cache.save(staging)
    _commit(staging, out_dir)


def _write_lines(folder: Path, run: TargetRun, line_column: str, examples: Parts, t_slim: pl.DataFrame,
                 order: str | None) -> dict[str, int]:
    """The destination's train/validation, provenance and rejects files; returns the line files' sizes."""
    sizes = write_splits(folder, run.target, line_column, examples, order)
    atomic_write(folder / "provenance.jsonl", (data for split in ("train", "validation")
                                                for data in _provenance_bytes(t_slim, split)))
    atomic_write(folder / "rejects.jsonl", (data for chunk in run.rejects.iter_slices(LINES_PER_SLICE)
                                            for data in line_bytes(reject_lines(chunk))))
    return sizes


def _write_files(out_dir: Path, config, config_path: str, examples: Parts, slim: pl.DataFrame,
                 rejects: pl.DataFrame, stats: dict, fingerprints: list[dict], runs: list[TargetRun],
                 cache: OutputCache | None = None) -> None:
    order = "export_order" if "export_order" in slim.columns else None
    several = len(runs) > 1
    tokens = config.stage("tokens")
    stats["targets"] = {}
    written = []
    for j, run in enumerate(runs):
        t = run.target
        folder = out_dir / t.folder if several else out_dir
        t_slim = run.slim.sort(order) if order else run.slim
        cached = cache.target(t.folder if several else "") if cache is not None else None
        if cached:
            cache.copy_into(out_dir, t.folder if several else "")
            sizes, extras = cached["sizes"], cached["extras"]
        else:
            sizes = _write_lines(folder, run, line_column(t, j == 0), examples, t_slim, order)
            extras = write_extras(folder, t, config.is_preference())
            if cache is not None:
                cache.remember(t.folder if several else "", sizes,
                               [*sizes, "provenance.jsonl", "rejects.jsonl", *extras], extras)
        counts = {s: int((t_slim["split"] == s).sum()) if "split" in t_slim.columns else 0
                  for s in ("train", "validation")}
        problems = file_problems(t, counts, sizes)
        stats["problems"] += [p.__dict__ for p in problems]
        summary = target_summary(t, j == 0, t_slim, run.own_rejects, stats["facts"], sizes, extras, problems,
                                 getattr(tokens, "n_epochs", None))
        stats["targets"][t.folder] = summary
        if several:
            write_json(folder / "stats.json", {"target": summary, "rows": run.rows["total"],
                                               "rows_by_source": run.rows["by_source"]})
        written += [str((folder / n).relative_to(out_dir)) for n in
                    (*sizes, "provenance.jsonl", "rejects.jsonl", *extras, *(["stats.json"] if several else []))]
    manifest = {
        "config_file": config_path,
        "config_sha256": config_hash(config),
        "config": masked(config.model_dump(mode="json")),
        "inputs": fingerprints,
        "versions": versions(),
        "timings": {s["name"]: s["seconds"] for s in stats["stages"]},
        "outputs": [*written, "stats.json", "manifest.json", "report.html"],
    }
    # one verdict for the console, stats.json and the report
    stats["verdict"] = verdict(RunData(stats, manifest, slim, rejects))
    write_json(out_dir / "stats.json", stats)
    write_json(out_dir / "manifest.json", manifest)
    atomic_write(out_dir / "report.html", render_report(stats, manifest, slim, rejects, example_texts=examples.texts,
                                                        memo=cache.memo if cache is not None else None))
