"""Distributions of the exported examples: tokens (with the model's limit), assistant tokens, messages per
example, message lengths per role, languages, per-source contribution, and train vs validation.

Token counts come from the columns the tokens stage adds (exact, all rows). Message-level numbers need
each example parsed, so they are measured on a deterministic sample (at most MESSAGE_SAMPLE examples,
the lowest example ids — ids are hashes, so this is an unbiased, stable sample); the page says so.
"""

from __future__ import annotations

import json

import polars as pl

from pipeline.report import charts
from pipeline.report.funnel import source_contribution
from pipeline.report.run_data import RunData
from pipeline.report.training import token_limit

MESSAGE_SAMPLE = 20_000  # ~200k messages: plenty for histograms, ~0.6 s to parse
ROLES = ("system", "user", "assistant", "tool")


EXAMPLE_SCHEMA = {"split": pl.Utf8, "n_messages": pl.Int64}
MESSAGE_SCHEMA = {"role": pl.Utf8, "chars": pl.Int64, "split": pl.Utf8}


def _message_frame(data: RunData) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """(per example: split, n_messages) and (per message: role, chars) on the bounded sample (a rerun with
    the same checkpoint key reuses the first run's)."""
    columns = data.memoized("message_sample", lambda: _message_columns(data))
    return (pl.DataFrame(columns["examples"], schema=EXAMPLE_SCHEMA),
            pl.DataFrame(columns["messages"], schema=MESSAGE_SCHEMA), columns["sampled"])


def _message_columns(data: RunData) -> dict:
    """_message_frame's data as JSON: {"examples": {column: values}, "messages": {...}, "sampled": n}."""
    examples = data.examples
    sample = examples if examples.height <= MESSAGE_SAMPLE else examples.sort("example_id").head(MESSAGE_SAMPLE)
    sample = data.with_texts(sample)
    splits = sample["split"].to_list() if "split" in sample.columns else ["train"] * sample.height
    per_example, roles, lengths, msg_split = [], [], [], []
    for split, text in zip(splits, sample["example"].to_list()):
        try:
            messages = json.loads(text).get("messages") or []
        except (TypeError, ValueError, AttributeError):
            continue
        per_example.append((split, len(messages)))
        for m in messages:
            if not isinstance(m, dict):
                continue
            content = m.get("content")
            if isinstance(content, list):
                n = sum(len(p.get("text", "")) for p in content if isinstance(p, dict))
            else:
                n = len(content) if isinstance(content, str) else 0
            roles.append(str(m.get("role")))
            lengths.append(n)
            msg_split.append(split)
    return {"examples": {"split": [s for s, _ in per_example], "n_messages": [n for _, n in per_example]},
            "messages": {"role": roles, "chars": lengths, "split": msg_split}, "sampled": sample.height}


def _split_col(examples: pl.DataFrame, name: str, split: str) -> pl.Series | None:
    if name not in examples.columns or "split" not in examples.columns:
        return None
    return examples.filter(pl.col("split") == split)[name]


def distributions(data: RunData) -> dict:
    ex = data.examples
    limit = token_limit(data)
    marker = (limit, f"limit {limit:,}") if limit else None
    specs, summaries = [], {}
    n_tok, n_asst = data.column("n_tokens"), data.column("n_assistant_tokens")
    specs.append(charts.histogram_spec("tokens", "Tokens per example", {"examples": n_tok}, "tokens", marker))
    specs.append(charts.histogram_spec("assistant_tokens", "Assistant (trained) tokens per example",
                                       {"examples": n_asst}, "tokens"))
    summaries["tokens per example"] = charts.summary(n_tok) if n_tok is not None else None
    summaries["assistant tokens per example"] = charts.summary(n_asst) if n_asst is not None else None

    per_example, messages, sampled = (_message_frame(data) if ex.height else
                                      (pl.DataFrame(schema={"split": pl.Utf8, "n_messages": pl.Int64}),
                                       pl.DataFrame(schema={"role": pl.Utf8, "chars": pl.Int64,
                                                            "split": pl.Utf8}), 0))
    specs.append(charts.histogram_spec("messages", "Messages per example",
                                       {"examples": per_example["n_messages"]}, "messages"))
    summaries["messages per example"] = charts.summary(per_example["n_messages"])
    roles = [r for r in ROLES if (messages["role"] == r).any()] + sorted(
        set(messages["role"].unique().to_list()) - set(ROLES))
    by_role = {r: messages.filter(pl.col("role") == r)["chars"] for r in roles}
    specs.append(charts.histogram_spec("message_chars", "Message length by role (% of that role's messages)",
                                       by_role, "characters", percent=True, unit="messages"))
    for r, s in by_role.items():
        summaries[f"{r} message characters"] = charts.summary(s)

    lang = data.column("language")
    if lang is not None and lang.len():
        counts = dict(lang.fill_null("unknown").value_counts(sort=True).head(25).iter_rows())
        specs.append(charts.bar_spec("languages", "Languages of exported examples", counts, "examples", "examples"))

    contrib = source_contribution(data)
    specs.append(charts.stacked_spec("sources", "Examples per source", contrib["labels"], contrib["parts"],
                                     "examples"))
    comparison = _train_vs_validation(data, per_example)
    if comparison["chart"]:
        specs.append(comparison["chart"])
    return {"charts": [s for s in specs if s], "summaries": {k: v for k, v in summaries.items() if v},
            "sampled": sampled, "total": ex.height, "limit": limit, "has_tokens": n_tok is not None,
            "tokens_counted": _tokens_counted(data),
            "comparison": comparison["rows"]}


def _train_vs_validation(data: RunData, per_example: pl.DataFrame) -> dict:
    ex = data.examples
    if not ex.height or "split" not in ex.columns:
        return {"chart": None, "rows": []}
    rows = []
    for split in ("train", "validation"):
        part = ex.filter(pl.col("split") == split)
        msgs = per_example.filter(pl.col("split") == split)["n_messages"]
        tok = part["n_tokens"] if "n_tokens" in part.columns else None
        asst = part["n_assistant_tokens"] if "n_assistant_tokens" in part.columns else None
        rows.append({"split": split, "examples": part.height, "share": round(100 * part.height / ex.height, 1),
                     "tokens": charts.summary(tok) if tok is not None else None,
                     "assistant_tokens": charts.summary(asst) if asst is not None else None,
                     "messages": charts.summary(msgs),
                     "sources": part["source_file"].n_unique() if part.height else 0})
    if "n_tokens" in ex.columns:
        series = {s: _split_col(ex, "n_tokens", s) for s in ("train", "validation")}
        chart = charts.histogram_spec("split_tokens", "Train vs validation: tokens per example (% of split)",
                                      series, "tokens", percent=True)
    else:
        series = {s: per_example.filter(pl.col("split") == s)["n_messages"] for s in ("train", "validation")}
        chart = charts.histogram_spec("split_messages", "Train vs validation: messages per example (% of split)",
                                      series, "messages", percent=True)
    return {"chart": chart, "rows": rows}


def _tokens_counted(data: RunData) -> dict:
    """What the token charts were counted with (the first target's tokenizer) and whether that is exact."""
    facts = data.facts("tokens")
    target = f"{facts['provider']} {facts.get('model')}" if facts.get("provider") else facts.get("model")
    return {"target": target, "tokenizer": facts.get("tokenizer") or facts.get("encoding"),
            "exact": facts.get("tokens_exact") is not False, "note": facts.get("tokenizer_note")}
