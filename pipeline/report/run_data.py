"""Everything the report is built from, in one object the section modules read.

stats     stats.json as written (rows, sources, stages, problems, facts.<stage>)
manifest  manifest.json (config with secrets masked, input fingerprints, versions, timings)
examples  the exported examples frame (with `split` and any columns stages added, e.g. n_tokens); it may
          leave out the `example` text column, which sections then fetch for the rows they show
          through `texts` (the runner keeps exported text on disk)
rejects   the rejects frame, in rejects.jsonl order (row i is line i + 1)
memo      memo(name, build) -> build(), or the value an earlier run with the same checkpoint key built
          (pipeline/engine/output_cache.py): for the sections that read the examples' text; values are JSON data
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import polars as pl


@dataclass
class RunData:
    stats: dict
    manifest: dict
    examples: pl.DataFrame
    rejects: pl.DataFrame
    example_texts: Callable[[list[str]], dict[str, str]] | None = None
    memo: Callable[[str, Callable[[], Any]], Any] | None = None

    def memoized(self, name: str, build: Callable[[], Any]) -> Any:
        """build() (JSON data), or what an earlier run with the same key built (see `memo`)."""
        return build() if self.memo is None else self.memo(name, build)

    def texts(self, ids) -> dict[str, str]:
        """example_id -> example JSON text of exported examples."""
        ids = [i for i in ids if i is not None]
        if "example" in self.examples.columns:
            wanted = pl.Series(ids, dtype=pl.Utf8).implode()
            found = self.examples.filter(pl.col("example_id").is_in(wanted)).select("example_id", "example")
            return dict(found.iter_rows())
        return self.example_texts(ids) if self.example_texts and ids else {}

    def with_texts(self, frame: pl.DataFrame) -> pl.DataFrame:
        """`frame` (rows of `examples`) with its `example` column, fetched when it is not there."""
        if "example" in frame.columns:
            return frame
        found = self.texts(frame["example_id"].to_list())
        return frame.with_columns(pl.col("example_id").replace_strict(found, default=None, return_dtype=pl.Utf8)
                                  .alias("example"))

    @property
    def config(self) -> dict:
        return self.manifest.get("config") or {}

    def stage_names(self) -> list[str]:
        return [s.get("name") for s in self.config.get("stages") or []]

    def ran(self, stage: str) -> bool:
        return any(s.get("name") == stage for s in self.stats.get("stages") or [])

    def facts(self, stage: str) -> dict:
        """facts.<stage> from stats.json ({} when the stage did not run or recorded nothing)."""
        value = (self.stats.get("facts") or {}).get(stage)
        return value if isinstance(value, dict) else {}

    def params(self, stage: str) -> dict:
        """The stage's block from the (masked) config, {} when it is not configured."""
        return next((s for s in self.config.get("stages") or [] if s.get("name") == stage), {})

    def stage_stat(self, stage: str) -> dict:
        return next((s for s in self.stats.get("stages") or [] if s.get("name") == stage), {})

    def column(self, name: str) -> pl.Series | None:
        return self.examples[name] if name in self.examples.columns else None


def first_key(d: dict, *keys, default=None):
    """The value of the first key present (stages may name a fact slightly differently)."""
    for k in keys:
        if isinstance(d, dict) and d.get(k) is not None:
            return d[k]
    return default


def rows_text(rows) -> str:
    """Source rows as compact text: [9, 10, 11, 12, 40] -> "9–12, 40" (at most 6 runs, then a count)."""
    rows = sorted({int(r) for r in rows or [] if r is not None})
    runs: list[str] = []
    start = prev = None
    for r in rows + [None]:
        if start is not None and (r is None or r != prev + 1):
            runs.append(str(start) if start == prev else f"{start}–{prev}")
            start = None
        if r is not None and start is None:
            start = r
        prev = r
    text = ", ".join(runs[:6])
    return text + (f", … ({len(rows)} rows)" if len(runs) > 6 else "")
