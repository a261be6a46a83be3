"""Token limits and the cost / training estimate, from the tokens stage's facts and its n_tokens column.

The tokens stage runs before the split, so its facts.training_estimate covers all kept examples; training is
billed on the training file only, so the estimate shown is recomputed here on the train split with the same
function (pipeline.chat.token_counting.training_estimate) and the stage's limit, price and epochs setting.
The stage's facts describe the first target (its tokenizer, limit and price); the Targets section
(targets.py) shows every target's. Counts from an estimating tokenizer are shown as "≈ N (estimate: …)".
"""

from __future__ import annotations

import polars as pl

from pipeline.chat.token_counting import training_estimate
from pipeline.report.run_data import RunData, first_key
from pipeline.report.targets import count_parts, target_entries


def token_limit(data: RunData) -> int | None:
    value = first_key(data.facts("tokens"), "limit") or first_key(data.params("tokens"), "max_tokens")
    try:
        return int(value) if value else None
    except (TypeError, ValueError):
        return None


def over_limit_kept(data: RunData) -> int:
    """Exported examples longer than the first target's limit (OpenAI truncates them in training)."""
    limit, n_tok = token_limit(data), data.column("n_limit_tokens")  # a preference pair: prompt + longer reply
    n_tok = data.column("n_tokens") if n_tok is None else n_tok
    if limit and n_tok is not None:
        return int((n_tok > limit).sum())
    return 0


def _train_tokens(data: RunData) -> list[int] | None:
    n_tok = data.column("n_tokens")
    if n_tok is None:
        return None
    if "split" in data.examples.columns:
        n_tok = data.examples.filter(pl.col("split") == "train")["n_tokens"]
    return n_tok.fill_null(0).to_list()


def estimate(data: RunData) -> dict | None:
    """Billed tokens, epochs and cost of training on the train split; None when the tokens stage did not run."""
    if not data.ran("tokens"):
        return None
    facts, params = data.facts("tokens"), data.params("tokens")
    stage_est = facts.get("training_estimate") if isinstance(facts.get("training_estimate"), dict) else {}
    limit = token_limit(data)
    price = first_key(stage_est, "price_per_million")
    train = _train_tokens(data)
    pairs = data.column("n_limit_tokens") is not None  # n_tokens of a pair: prompt + both replies, not cut at the limit
    est = (training_estimate(train, 2**62 if pairs else limit, price, params.get("n_epochs"))
           if train is not None and limit else stage_est)
    exact = facts.get("tokens_exact") is not False
    tokens = {"exact": exact, "note": facts.get("tokenizer_note"), "counted_with": facts.get("tokenizer")}
    provider = facts.get("provider")
    entries = target_entries(data.stats)
    return {
        "model": first_key(facts, "model") or params.get("model"),
        "provider": provider, "target": f"{provider} {facts.get('model')}" if provider else None, "pairs": pairs,
        "several": len(entries) > 1, "exact": exact,
        "tokenizer": facts.get("tokenizer") or (f"tiktoken:{facts['encoding']}" if facts.get("encoding") else None),
        "billed_count": count_parts(est.get("billed_tokens_per_epoch"), tokens, provider),
        "trained_count": count_parts(est.get("billed_tokens"), tokens, provider),
        "encoding": facts.get("encoding"),
        "limit": limit, "limit_source": facts.get("limit_source"),
        "on_overflow": first_key(facts, "on_overflow") or params.get("on_overflow"),
        "n_examples": est.get("n_examples"),
        "billed_tokens": est.get("billed_tokens_per_epoch"),
        "epochs": est.get("n_epochs"), "epochs_rule": est.get("epochs_rule"),
        "trained_tokens": est.get("billed_tokens"),
        "cost": est.get("cost_usd"), "price": price,
        "price_source": stage_est.get("price_source"),
        "truncated": facts.get("truncated"),
        "dropped_over_limit": facts.get("dropped_over_limit"),
        "over_limit_kept": over_limit_kept(data),
        "totals": facts.get("totals") if isinstance(facts.get("totals"), dict) else {},
        "samples": {k: [r for r in v[:10] if isinstance(r, dict)] for k, v in (facts.get("samples") or {}).items()
                    if isinstance(v, list) and v} if isinstance(facts.get("samples"), dict) else {},
    }
