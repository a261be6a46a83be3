"""export: the final line of each example, exactly OpenAI's chat fine-tuning format, plus run-level checks.

Each line holds `messages` and, when present, `tools`, `parallel_tool_calls`, `functions` — nothing
else. Column `line` holds it where it differs from `example` (null: `example` is already that line).
The runner writes the lines to train.jsonl / validation.jsonl and provenance.jsonl beside them.
"""

from __future__ import annotations

import hashlib
import json

import polars as pl

from pipeline.engine.facts import Sum
from pipeline.engine.stage import Problem, StageContext, StageOutput, keep_all

RUNS = "per_part"  # per-example lines; the training-set size check runs on the merged counts
LINE_KEYS = ("messages", "tools", "parallel_tool_calls", "functions")
MIN_TRAIN, RECOMMENDED_TRAIN = 10, 50


def final_line(example: str, ensure_ascii: bool) -> str:
    """Re-encode one example keeping only OpenAI's keys, in canonical order (compact, like the pipeline's)."""
    obj = json.loads(example)
    return json.dumps({k: obj[k] for k in LINE_KEYS if k in obj}, ensure_ascii=ensure_ascii, separators=(",", ":"))


def _is_canonical(example: str) -> bool:
    """By contract (pipeline/engine/stage.py) `example` holds only OpenAI's keys, written by
    records.dumps_example: compact, `messages` first. Anything else is re-encoded."""
    return example.startswith('{"messages":[')


def run(frame: pl.DataFrame, params, ctx: StageContext) -> StageOutput:
    if "split" not in frame.columns:
        frame = frame.with_columns(pl.lit("train").alias("split"))
    if params.ensure_ascii:
        lines = [final_line(e, True) for e in frame["example"]]
    else:  # already the final compact form (line = null: the writer takes `example` as it is);
        # re-encode only what a stage left in another shape
        lines = [None if _is_canonical(e) else final_line(e, False) for e in frame["example"]]
    out = frame.with_columns(pl.Series("line", lines, pl.Utf8))
    if params.shuffle:
        seed = getattr(ctx.config.stage("split"), "seed", 0)
        out = out.with_columns(pl.col("example_id").map_elements(
            lambda i: hashlib.blake2b(f"{seed}\x00{i}".encode(), digest_size=8).hexdigest(),
            return_dtype=pl.Utf8).alias("export_order"))
    n_train = out.filter(pl.col("split") == "train").height
    return StageOutput(keep_all(out), {"train": Sum(n_train), "validation": Sum(out.height - n_train)})


def problems_from_facts(facts: dict, params) -> list[Problem]:
    n_train = facts["train"]
    if n_train < MIN_TRAIN:
        return [Problem("error", "too_few_examples",
                        f"{n_train} training examples: OpenAI rejects a training file with fewer than {MIN_TRAIN}")]
    if n_train < RECOMMENDED_TRAIN:
        return [Problem("warning", "few_examples",
                        f"{n_train} training examples: OpenAI recommends starting with 50–100 well-crafted "
                        "examples; fewer usually gives little improvement")]
    return []
