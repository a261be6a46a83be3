"""The HTML report: one self-contained page (autoescaped Jinja2; no network)."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
from jinja2 import Environment, FileSystemLoader, select_autoescape

_ENV = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                   autoescape=select_autoescape(default=True, default_for_string=True))


def render_report(stats: dict, manifest: dict, rejects: pl.DataFrame) -> str:
    samples: dict[str, list[dict]] = {}
    for i, r in enumerate(rejects.select("stage", "reason", "detail", "source_file", "source_rows")
                          .iter_rows(named=True), start=1):
        bucket = samples.setdefault(f"{r['stage']} · {r['reason']}", [])
        if len(bucket) < 5:
            bucket.append({**r, "line": i})
    return _ENV.get_template("report.html.j2").render(
        stats=stats, manifest=manifest, samples=samples,
        config_json=json.dumps(manifest["config"], indent=2, ensure_ascii=False))
