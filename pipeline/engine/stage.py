"""The stage contract: what a stage module declares and returns. The engine knows no stage by name.

A stage is a package pipeline/stages/<name>/ whose `stage.py` declares how it runs:
  RUNS = "per_part"            pure per part of rows: the engine runs it part by part on its Executor
                               (consecutive per-part stages form one segment each part passes through);
  RUNS = "whole"               needs every row at once, in the main process (moderation: one rate budget
                               paces every request; texts are deduplicated across the whole input);
  RUNS = "whole_without_text"  needs every row but not the example text (dedup, split): run() gets every
                               column but `example` (and export's `line`); the engine puts the text back
                               when it writes the output, and `ctx.texts(example_ids)` fetches the texts
                               of the rows a stage wants to show. Such a stage may define
                                 def features(part: pl.DataFrame, params) -> pl.DataFrame
                               computed from each part with its text (per part, on the Executor); its
                               columns are added for run() and dropped from the output.
and defines
  def run(frame: pl.DataFrame, params, ctx: StageContext) -> StageOutput
  optional: def cache_key(params) -> str   environment state that must invalidate checkpoints (e.g.
                                           whether an API key is set; never the secret itself). Code and
                                           library versions are already in every checkpoint key.
  optional: def finish_facts(facts: dict, params) -> dict
                                           values derivable only after merging (percentiles from bin
                                           counts, samples picked from a merged pool): rendered facts in,
                                           final facts out.
  optional: def problems_from_facts(facts: dict, params) -> list[Problem]
                                           run-level problems from the final facts of a per-part stage;
                                           without it, part problems are de-duplicated by code.
  optional: def finish_run(params, ctx: StageContext) -> None
                                           once all parts of the stage ran, once, in the main process: work
                                           that is cheaper once per run than once per part (language moves
                                           the detections its parts stored into its cache's keyed table);
                                           it changes no row and no fact. Its time counts in the stage's.

`run` returns every input row, in input order, with two added columns: `drop_reason` (a stable code;
null = keep) and `drop_detail` (human words). It may rewrite `example` — always with
records.dumps_example, and only with OpenAI's top-level keys (messages, tools, parallel_tool_calls,
functions) — or add columns for later stages and the report. A per-part stage's facts are typed
(pipeline/engine/facts.py: Sum, Tally, Histogram, FirstN, Same, ...); the engine merges them by type over
the parts in input order and renders them as plain JSON, so they never depend on how the input was cut.
Whole-frame stages may return plain facts: they are rendered as they are. A stage never
starts a process: `ctx.executor` runs fan-out work. The engine alone counts, times, checkpoints and writes
the rejects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import polars as pl

from pipeline.engine.executor import Executor, SerialExecutor
from pipeline.engine.records import DROP_DETAIL, DROP_REASON

RUNS_PER_PART, RUNS_WHOLE, RUNS_WHOLE_WITHOUT_TEXT = "per_part", "whole", "whole_without_text"
RUNS = (RUNS_PER_PART, RUNS_WHOLE, RUNS_WHOLE_WITHOUT_TEXT)


def runs(module) -> str:
    """How a stage module runs (its RUNS declaration), checked."""
    value = getattr(module, "RUNS", None)
    if value not in RUNS:
        raise TypeError(f"{module.__name__} declares RUNS = {value!r}; a stage declares one of {', '.join(RUNS)}")
    return value


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
    texts: Callable[[list[str]], dict[str, str]] | None = None  # example_id -> text ("whole_without_text" stages)
    executor: Executor = field(default_factory=SerialExecutor)  # the only way a stage fans work out


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
