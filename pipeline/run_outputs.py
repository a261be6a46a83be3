"""Write a run's files into the output folder, each atomically, in a byte-stable form."""

from __future__ import annotations

import json
import platform
import re
from importlib import metadata
from pathlib import Path

import polars as pl

from pipeline import __version__
from pipeline.config_loader import config_hash
from pipeline.outputs import write_json, write_jsonl, write_lines
from pipeline.report import render_report

PACKAGES = ("polars", "pydantic", "tiktoken", "datasketch", "langdetect", "openai", "pandera", "ftfy", "jinja2")
_SECRET_KEY = re.compile(r"(api[_-]?key|token|secret|password)", re.I)


def mask_secrets(obj):
    if isinstance(obj, dict):
        return {k: ("***" if _SECRET_KEY.search(k) and v else mask_secrets(v)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [mask_secrets(v) for v in obj]
    return obj


def versions() -> dict:
    out = {"chatprep": __version__, "python": platform.python_version()}
    for p in PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            pass
    return out


def write_outputs(out_dir: Path, config, config_path: str, examples: pl.DataFrame, rejects: pl.DataFrame,
                  stats: dict, fingerprints: list[dict]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    if "export_order" in examples.columns:
        examples = examples.sort("export_order")
    meta_cols = [c for c in examples.columns if c.startswith("meta.")]
    provenance = []
    for split in ("train", "validation"):
        part = examples.filter(pl.col("split") == split)
        write_lines(out_dir / f"{split}.jsonl", part["line"].to_list())
        for n, rec in enumerate(part.select("example_id", "group_id", "source_file", "source_rows", "flags",
                                            *meta_cols).iter_rows(named=True), start=1):
            provenance.append({"file": f"{split}.jsonl", "line": n, "example_id": rec["example_id"],
                               "group_id": rec["group_id"],
                               "source": {"file": rec["source_file"], "rows": rec["source_rows"]},
                               "flags": rec["flags"] or [],
                               "meta": {c.removeprefix("meta."): rec[c] for c in meta_cols}})
    write_jsonl(out_dir / "provenance.jsonl", provenance)
    write_jsonl(out_dir / "rejects.jsonl", (
        {"stage": r["stage"], "reason": r["reason"], "detail": r["detail"],
         "source": {"file": r["source_file"], "rows": r["source_rows"]},
         "example_id": r["example_id"], "example": json.loads(r["example"]) if r["example"] else None}
        for r in rejects.iter_rows(named=True)))
    write_json(out_dir / "stats.json", stats)
    manifest = {
        "config_file": config_path,
        "config_sha256": config_hash(config),
        "config": mask_secrets(config.model_dump(mode="json")),
        "inputs": fingerprints,
        "versions": versions(),
        "timings": {s["name"]: s["seconds"] for s in stats["stages"]},
        "outputs": ["train.jsonl", "validation.jsonl", "provenance.jsonl", "rejects.jsonl", "stats.json",
                    "manifest.json", "report.html"],
    }
    write_json(out_dir / "manifest.json", manifest)
    from pipeline.outputs import atomic_write

    atomic_write(out_dir / "report.html", render_report(stats, manifest, examples, rejects))
