"""The contract between the runner and the stages.

A stage is one module in pipeline/stages/ with:
  SCOPE = "batch" | "global"   batch: pure per batch of rows (safe for Ray Data map_batches);
                               global: needs all rows at once (dedup, split) and says so.
  def run(frame: pl.DataFrame, params, ctx: StageContext) -> StageOutput
  optional: def cache_key(params) -> str   extra state that must invalidate checkpoints
                                           (e.g. whether an API key is set). Never the secret itself.

Chunked execution. A batch stage is run by the runner chunk by chunk (fixed-size slices, in a process
pool when the input is large), unless it sets `IN_PROCESS = True` (it must not leave the main process,
e.g. it holds a shared rate budget: it then runs once on the whole frame, like a global stage).
Consecutive chunked stages form a segment that each chunk passes through in order. A chunked stage's
`run` returns typed facts (pipeline/engine/facts.py: Sum, Tally, Histogram, FirstN, Same, ...), which
the runner merges by type over the chunks in input order and renders as plain JSON; anything not
mergeable exactly (means, percentiles) is derived after the merge by the optional
  def finish_facts(facts: dict, params) -> dict   rendered facts in, final facts out
from mergeable parts (sums, bin counts), or left to the report, which has the exported examples with the
stage's added columns. Optionally
  def problems_from_facts(facts: dict, params) -> list[Problem]
gives the run-level problems from the final facts; without it, chunk problems are de-duplicated by
code (first message kept). Whole-frame stages may return plain facts: they are rendered as they are.

Global stages that need little or no text (dedup, split) set `TEXT = False`: run() then gets every
column but `example` (and export's `line`), the runner puts the text back when it writes the output,
and `ctx.texts(example_ids)` fetches the texts of the rows a stage wants to show. Such a stage may define
  def features(part: pl.DataFrame, params) -> pl.DataFrame
computed from each part of the input with its text (batch-pure: the runner runs it in its process pool,
part by part); its columns are added for run() and dropped from the output.

`run` returns every input row, in input order, with two added columns: `drop_reason` (a stable code;
null = keep) and `drop_detail` (human words). It may rewrite `example` — always with
records.dumps_example, and only with OpenAI's top-level keys (messages, tools, parallel_tool_calls,
functions) — or add columns for later stages and the report. The runner alone counts, times, checkpoints and writes the rejects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import polars as pl

from pipeline.engine.records import DROP_DETAIL, DROP_REASON


@dataclass(frozen=True)
class Problem:
    """A run-level finding shown in the console summary, stats.json and the report verdict."""

    level: Literal["error", "warning"]
    code: str
    message: str


@dataclass
class StageContext:
    config: object  # schemas.config.Config
    out_dir: Path
    cache_dir: Path
    progress: Callable[..., object]  # progress(total=N, desc="...", unit="ex") -> tqdm-like
    warn: Callable[[str], None]
    texts: Callable[[list[str]], dict[str, str]] | None = None  # example_id -> example text (TEXT = False stages)


@dataclass
class StageOutput:
    frame: pl.DataFrame
    facts: dict = field(default_factory=dict)  # typed or plain facts for stats.json and the report
    problems: list[Problem] = field(default_factory=list)


def keep_all(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.lit(None, pl.Utf8).alias(DROP_REASON), pl.lit(None, pl.Utf8).alias(DROP_DETAIL))


def with_drops(frame: pl.DataFrame, reasons: list[str | None], details: list[str | None]) -> pl.DataFrame:
    """Attach per-row drop decisions computed in Python (None = keep)."""
    return frame.with_columns(pl.Series(DROP_REASON, reasons, pl.Utf8), pl.Series(DROP_DETAIL, details, pl.Utf8))
