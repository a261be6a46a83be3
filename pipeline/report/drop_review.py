"""Drop review: what each stage dropped as a share of its input, per source and per language (stats.json
`drop_shares`), and a `high_drop_share` warning with five samples when a stage drops more than
`report.drop_warning_share` of one source's examples — a filter that hits one source hard is more often
wrong about that source's data than right (the issue that asked for it: 2 %).

Units: ingest and convert count source rows (their rejects are rows: unreadable, unknown role, trailing
turn...), every configured stage counts examples. Ingest and convert are shown but never warned about:
their drops follow the input's shape and the layout's rules, not a filter's judgement of the text.

Languages: an example that reached the stage adding a `language` column (the language stage) has the
language it detected. One dropped before it gets an estimate (`ESTIMATOR`, on its user text, else its
assistant text); each stage says how many of its input examples carry an estimate. Without a `language`
column anywhere (no language stage), there is no per-language table.
"""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import polars as pl

from pipeline.chat.texts import message_text
from pipeline.engine.drop_shares import DROPPED_AT, UNITS, drop_shares
from pipeline.engine.parts import Parts
from pipeline.engine.stage import Problem
from pipeline.engine.storage import parquet_columns
from pipeline.errors import InternalInvariantError
from pipeline.stages.language.detection import DetectionCache, merge_stored
from schemas.stages.language_codes import DEFAULT_FOLD

LANGUAGE = "language"
UNDETERMINED = "und"
ROW_STEPS = ("ingest", "convert")  # the read + convert step's rejects (pipeline/convert/step.py)
SAMPLES = 5  # per warning, as the issue asks
# The estimate reads what the language stage reads by default (schemas/stages/language.py: sample_chars 200,
# min_letters 20, min_confidence 0.5) with the stage's default detector and its detection cache (batched
# py3langid, default candidates; pipeline/stages/language/detection.py), varieties folded as its default.
ESTIMATOR = "py3langid"
FOLDED = {variety: group for group, varieties in DEFAULT_FOLD.items() for variety in varieties}
SAMPLE_CHARS, MIN_LETTERS, MIN_CONFIDENCE = 200, 20, 0.5
MAX_ESTIMATED = 50_000  # at most ~2-3 s; further examples dropped before the language stage count as "und"
PREVIEW_CHARS = 60  # per side of a sample's preview


def drop_review(config, dropped_parts: list[tuple[str, Parts]], exported: pl.DataFrame, rejects: pl.DataFrame,
                rows_by_source: dict) -> tuple[dict, list[Problem]]:
    """(stats.json `drop_shares`, the high_drop_share warnings). `dropped_parts`: each configured stage's
    dropped rows in run order; `exported`: the exported examples (without their text); `rejects`: every
    reject, the stages' in the order of `dropped_parts`."""
    steps = [name for name, _ in dropped_parts]
    cache_dir = Path(config.cache.dir) if config.cache.checkpoints else None
    outcomes, estimated = _example_outcomes(dropped_parts, exported, rejects, cache_dir)
    keys = ["source", LANGUAGE] if LANGUAGE in outcomes.columns else ["source"]
    shares = drop_shares(steps, outcomes, keys)
    if estimated is not None:
        with_estimate = drop_shares(steps, outcomes.filter(estimated), [])
        for s in steps:
            shares[s]["languages_estimated"] = with_estimate[s]["in"]
    out = {s: {"unit": "rows", **v} for s, v in drop_shares(ROW_STEPS, _row_outcomes(rejects, rows_by_source),
                                                            ["source"]).items()}
    out.update({s: {"unit": "examples", **v} for s, v in shares.items()})
    threshold, exempt = config.report.drop_warning_share, set(config.report.drop_warning_exempt)
    problems = [] if threshold is None else _warnings(out, [s for s in steps if s not in exempt], threshold, rejects)
    return {"warn_above": threshold, "exempt": sorted(exempt),
            "languages": _language_note(LANGUAGE in outcomes.columns), "stages": out}, problems


def _language_note(known: bool) -> str:
    if not known:
        return "no language stage ran: no per-language shares"
    return (f"detected by the language stage; examples dropped before it: estimated with {ESTIMATOR} on the "
            f"first {SAMPLE_CHARS} characters of the user text ('{UNDETERMINED}' under {MIN_LETTERS} letters or "
            f"{MIN_CONFIDENCE:.0%} confidence)")


# ----------------------------------------------------------------------------- outcomes


def _example_outcomes(dropped_parts, exported: pl.DataFrame, rejects: pl.DataFrame, cache_dir: Path | None):
    """(one row per example that entered the first stage: dropped_at, source[, language]; the mask of rows
    whose language is an estimate, or None)."""
    known = LANGUAGE in exported.columns or any(_has_column(p, LANGUAGE) for _, p in dropped_parts)
    frames, estimated = [], []
    budget = MAX_ESTIMATED
    for name, parts in dropped_parts:
        stage_rejects = rejects.filter(pl.col("stage") == name)
        if stage_rejects.height != parts.height:
            raise InternalInvariantError(f"stage {name!r}: {parts.height} dropped rows but "
                                         f"{stage_rejects.height} rejects")
        frame = stage_rejects.select(pl.lit(name).alias(DROPPED_AT), pl.col("source_file").alias("source"))
        if known:
            if _has_column(parts, LANGUAGE):
                languages, guessed = parts.read_all([LANGUAGE])[LANGUAGE].fill_null(UNDETERMINED), False
            else:
                texts = stage_rejects["example"].to_list()
                guesses = estimate_languages(texts[:budget], cache_dir)
                languages = pl.Series(guesses + [UNDETERMINED] * (len(texts) - len(guesses)), dtype=pl.Utf8)
                budget, guessed = budget - len(guesses), True
            frame = frame.with_columns(languages.alias(LANGUAGE))
            estimated.append(pl.repeat(guessed, frame.height, eager=True, dtype=pl.Boolean))
        frames.append(frame)
    kept = exported.select(pl.lit(None, pl.Utf8).alias(DROPPED_AT), pl.col("source_file").alias("source"))
    if known:
        kept = kept.with_columns((exported[LANGUAGE].fill_null(UNDETERMINED) if LANGUAGE in exported.columns
                                  else pl.repeat(UNDETERMINED, exported.height, eager=True)).alias(LANGUAGE))
        estimated.append(pl.repeat(False, kept.height, eager=True, dtype=pl.Boolean))
    outcomes = pl.concat([*frames, kept], how="vertical_relaxed")
    return outcomes, (pl.concat(estimated) if known else None)


def _has_column(parts: Parts, column: str) -> bool:
    return bool(parts.names) and column in parquet_columns(parts.paths[0])


def _row_outcomes(rejects: pl.DataFrame, rows_by_source: dict) -> pl.DataFrame:
    """Source rows: those ingest and convert rejected (per source), and the rest as passing both."""
    rows = (rejects.filter(pl.col("stage").is_in(ROW_STEPS))
            .group_by("stage", "source_file", maintain_order=True)
            .agg(pl.col("source_rows").list.len().sum().alias(UNITS)))
    rejected: dict[str, int] = {}
    for _, source, n in rows.iter_rows():
        rejected[source] = rejected.get(source, 0) + n
    passed = pl.DataFrame({DROPPED_AT: [None] * len(rows_by_source), "source": list(rows_by_source),
                           UNITS: [c["input"] - rejected.get(f, 0) for f, c in rows_by_source.items()]},
                          schema={DROPPED_AT: pl.Utf8, "source": pl.Utf8, UNITS: pl.Int64})
    return pl.concat([rows.select(pl.col("stage").alias(DROPPED_AT), pl.col("source_file").alias("source"),
                                  pl.col(UNITS).cast(pl.Int64)), passed])


# ----------------------------------------------------------------------------- language estimate


def estimate_languages(examples: list[str | None], cache_dir: Path | None = None) -> list[str]:
    """The language of each example JSON text (user text, else trained assistant text), as the language
    stage's defaults would judge it (its candidate set, folded varieties: wuu -> zh); 'und' when too short,
    unsure or unreadable. Answers go through the stage's detection cache (`cache_dir`), so a rerun loads no
    model."""
    if not examples:
        return []
    samples = [_sample(example) for example in examples]
    judged = [i for i, text in enumerate(samples) if sum(map(str.isalpha, text)) >= MIN_LETTERS]
    out = [UNDETERMINED] * len(samples)
    detections = DetectionCache(ESTIMATOR, cache_dir).detect_all([samples[i] for i in judged])
    merge_stored(cache_dir)  # the new answers where the next run reads them
    for i, d in zip(judged, detections):
        out[i] = FOLDED.get(d.lang, d.lang) if d.confidence >= MIN_CONFIDENCE else UNDETERMINED
    return out


def _sample(example: str | None) -> str:
    for messages in _texts_by_role(example):
        sample = " ".join("\n".join(messages).split())[:SAMPLE_CHARS]
        if sum(map(str.isalpha, sample)) >= MIN_LETTERS:
            return sample
    return ""


def _texts_by_role(example: str | None) -> tuple[list[str], list[str]]:
    """(user message texts, assistant message texts) of an example JSON text (none when unreadable)."""
    try:
        messages = json.loads(example or "{}").get("messages") or []
    except (ValueError, AttributeError):
        return [], []
    texts: dict[str, list[str]] = {"user": [], "assistant": []}
    for m in messages if isinstance(messages, list) else []:
        if isinstance(m, dict) and m.get("role") in texts:
            texts[m["role"]].append(message_text(m))
    return texts["user"], texts["assistant"]


# ----------------------------------------------------------------------------- warnings


def _warnings(shares: dict, steps: list[str], threshold: float, rejects: pl.DataFrame) -> list[Problem]:
    problems = []
    for step in steps:
        for source, entry in shares[step]["by_source"].items():
            if entry["dropped"] <= threshold * entry["in"]:
                continue
            picked = (rejects.filter((pl.col("stage") == step) & (pl.col("source_file") == source))
                      .head(SAMPLES).select("example_id", "source_rows", "reason", "detail", "example"))
            entry["warning"] = True
            entry["samples"] = [{"example_id": i, "source_rows": rows, "reason": reason,
                                 "detail": escaped(detail or "")[:200], "preview": preview_line(example)}
                                for i, rows, reason, detail, example in picked.iter_rows()]
            problems.append(Problem("warning", "high_drop_share", _message(step, source, entry, threshold)))
    return problems


def _message(step: str, source: str, entry: dict, threshold: float) -> str:
    samples = "; ".join(f"[{s['example_id']} rows {_rows(s['source_rows'])}, {s['reason']}] {s['preview']}"
                        for s in entry["samples"])
    return (f"stage {step} dropped {entry['share']:.1%} of source {escaped(source)} ({entry['dropped']:,} of "
            f"{entry['in']:,} examples; warning above {threshold:.1%}): likely false positives — check these "
            f"samples (all in rejects.jsonl): {samples}")


def _rows(rows) -> str:
    rows = list(rows or [])
    return "?" if not rows else str(rows[0]) if len(rows) == 1 else f"{rows[0]}–{rows[-1]}"


def preview_line(example: str | None) -> str:
    """A one-line, escaped preview of an example: its last user and last assistant message, clipped."""
    users, assistants = _texts_by_role(example)
    if not users and not assistants:
        return "(no readable messages)"
    user, assistant = (users or [""])[-1], (assistants or [""])[-1]
    return f'user: "{escaped(_clip(user))}" → assistant: "{escaped(_clip(assistant))}"'


def _clip(text: str) -> str:
    return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS - 1] + "…"


def escaped(text: str) -> str:
    """`text` safe on one console line: newlines, quotes, control, format (bidi) and separator characters
    written as escapes, the way JSON writes them."""
    body = json.dumps(text, ensure_ascii=False)[1:-1]
    return "".join(f"\\u{ord(c):04x}" if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co") else c
                   for c in body)
