"""export: the final line of each example, exactly OpenAI's chat fine-tuning format, plus run-level checks.

Each line holds `messages` and, when present, `tools`, `parallel_tool_calls`, `functions` — nothing
else. Column `line` holds it where it differs from `example` (null: `example` is already that line).
The runner writes the lines to train.jsonl / validation.jsonl and provenance.jsonl beside them.
In a preference run each target's line is its preference record, and the facts also hold `preference`: what
was written, per target, source and signal, the score margin and the length bias (preference_facts.py).
"""

from __future__ import annotations

import hashlib
import json

import polars as pl

from pipeline.engine.facts import Same, Sum
from pipeline.engine.records import DROP_REASON
from pipeline.engine.stage import Problem, StageContext, StageOutput, keep_all, with_drops
from pipeline.stages.export import preference_facts
from pipeline.targets import resolve_targets
from pipeline.targets.base import Target
from pipeline.targets.features import prepare, prepare_preference
from pipeline.targets.files import kept_mask
from pipeline.targets.target_drops import COLUMN, dropped_for, merged, split_verdicts

RUNS = "per_part"
PREFERENCE = True  # a pair goes through prepare_preference: each target's preference line, never the SFT line
USES_TARGETS = True  # the configured destinations are part of its checkpoint key  # per-example lines; the training-set size check runs on the merged counts
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


def line_column(target: Target, first: bool) -> str:
    """Where the line of `target` is: `line` for the first target, `line:<folder>` for the others."""
    return "line" if first else f"line:{target.folder}"


def _openai_lines(examples: list[str], ensure_ascii: bool) -> list[str | None]:
    if ensure_ascii:
        return [final_line(e, True) for e in examples]
    # already the final compact form (line = null: the writer takes `example` as it is);
    # re-encode only what a stage left in another shape
    return [None if _is_canonical(e) else final_line(e, False) for e in examples]


def _target_lines(examples: list[str], target: Target, ensure_ascii: bool, dropped: list[dict],
                  pairs: bool = False):
    """The target's record per example, or None with (reason, detail) when it cannot take it (a stage list
    without validate still never writes a line a destination rejects)."""
    lines, verdicts = [], []
    for text, gone in zip(examples, dropped, strict=True):
        if target.folder in gone:
            lines.append(None)
            verdicts.append(None)
            continue
        p = (prepare_preference if pairs else prepare)(json.loads(text), target)
        if p.record is None:
            lines.append(None)
            verdicts.append((p.reason, p.detail))
            continue
        lines.append(json.dumps(p.record, ensure_ascii=ensure_ascii, separators=(",", ":")))
        verdicts.append(None)
    return lines, verdicts


def run(frame: pl.DataFrame, params, ctx: StageContext) -> StageOutput:
    if "split" not in frame.columns:
        frame = frame.with_columns(pl.lit("train").alias("split"))
    examples = frame["example"].to_list()
    targets = resolve_targets(ctx.config) if ctx is not None and ctx.config is not None else []
    dropped = [dropped_for(v) for v in frame[COLUMN]] if COLUMN in frame.columns else [{}] * frame.height
    columns, verdicts = {}, [[None] * len(targets) for _ in examples]
    pairs = ctx is not None and ctx.config is not None and ctx.config.is_preference()
    if not pairs and (not targets or getattr(targets[0].module, "PASS_THROUGH", False)):
        columns["line"] = _openai_lines(examples, params.ensure_ascii)
    for j, t in enumerate(targets):
        if j == 0 and "line" in columns:
            continue
        lines, found = _target_lines(examples, t, params.ensure_ascii, dropped, pairs)
        columns[line_column(t, j == 0)] = lines
        for i, v in enumerate(found):
            verdicts[i][j] = v
    out = frame.with_columns(*(pl.Series(name, lines, pl.Utf8) for name, lines in columns.items()))
    if len(targets) > 1 and COLUMN not in out.columns:  # every final part has it: the writers read it
        out = out.with_columns(pl.lit(None, pl.Utf8).alias(COLUMN))
    if any(v for row in verdicts for v in row):
        folders = [t.folder for t in targets]
        reasons, details, entries = map(list, zip(*(split_verdicts(v, folders, "export") for v in verdicts),
                                                  strict=True))
        out = with_drops(merged(out, entries), reasons, details)
    else:
        out = keep_all(out)
    if params.shuffle:
        seed = getattr(ctx.config.stage("split"), "seed", 0)
        out = out.with_columns(pl.col("example_id").map_elements(
            lambda i: hashlib.blake2b(f"{seed}\x00{i}".encode(), digest_size=8).hexdigest(),
            return_dtype=pl.Utf8).alias("export_order"))
    kept = out.filter(pl.col(DROP_REASON).is_null())
    n_train = kept.filter(pl.col("split") == "train").height
    low, by = _training_minimum(targets)
    facts = {"train": Sum(n_train), "validation": Sum(kept.height - n_train),
             "min_train": Same(low), "min_train_by": Same(by)}
    if pairs:
        facts["preference"] = _pair_facts(kept, targets, verdicts)
    return StageOutput(out, facts)


def _pair_facts(kept: pl.DataFrame, targets: list[Target], verdicts: list[list]) -> dict:
    """facts.export.preference of this part: the pairs written, and each target's own refusals by reason."""
    taken = {t.folder: kept_mask(kept, t.folder).to_list() for t in targets}
    refused = {t.folder: [v[j][0] if v[j] else None for v in verdicts] for j, t in enumerate(targets)}
    return preference_facts.part_facts(kept["example"].to_list(), kept["split"].to_list(),
                                       kept["source_file"].to_list(), taken, refused)


def _training_minimum(targets: list[Target]) -> tuple[int, str]:
    """The first target's minimum number of training examples and who asks for it (OpenAI's 10 by default; the
    other targets' minimums are checked against their own files, pipeline/targets/files.py)."""
    if not targets or targets[0].provider == "openai":
        return MIN_TRAIN, "OpenAI"
    return targets[0].files.min_train.value or 0, f"{targets[0].provider} {targets[0].model}"


def finish_facts(facts: dict, params) -> dict:
    """Preference runs: the pairs' facts completed (shares, median, warning: preference_facts.finish)."""
    if "preference" not in facts:
        return facts
    return {**facts, "preference": preference_facts.finish(facts["preference"])}


def problems_from_facts(facts: dict, params) -> list[Problem]:
    return _size_problems(facts) + preference_facts.problems(facts.get("preference") or {})


def _size_problems(facts: dict) -> list[Problem]:
    n_train, low = facts["train"], facts.get("min_train", MIN_TRAIN)
    if n_train < low:
        return [Problem("error", "too_few_examples", f"{n_train} training examples: "
                        f"{facts.get('min_train_by', 'OpenAI')} rejects a training file with fewer than {low}")]
    if n_train < RECOMMENDED_TRAIN:
        return [Problem("warning", "few_examples",
                        f"{n_train} training examples: OpenAI recommends starting with 50–100 well-crafted "
                        "examples; fewer usually gives little improvement")]
    return []
