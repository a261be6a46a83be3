"""What stats.json and the report say about one target: its facts, examples kept, what it alone rejected,
losses, token totals on the train split (exact or estimate), cost where priced, files against limits, notices."""

from __future__ import annotations

import polars as pl

from pipeline.chat.token_counting import training_estimate
from pipeline.targets.base import Target
from pipeline.targets.deadlines import notices


def token_column(target: Target, first: bool, name: str = "n_tokens") -> str:
    return name if first else f"{name}:{target.folder}"


def target_summary(target: Target, first: bool, slim: pl.DataFrame, own_rejects: pl.DataFrame, facts: dict,
                   sizes: dict[str, int], extras: list[str], problems: list, n_epochs: int | None) -> dict:
    split = slim["split"] if "split" in slim.columns else pl.Series([], dtype=pl.Utf8)
    counts = {"train": int((split == "train").sum()), "validation": int((split == "validation").sum())}
    tokens = None
    column, trained = token_column(target, first), ("n_assistant_tokens" if first
                                                    else f"n_assistant_tokens:{target.folder}")
    if column in slim.columns:
        train = slim.filter(pl.col("split") == "train") if "split" in slim.columns else slim
        # a preference pair's n_tokens (prompt + both replies, an estimate) is not cut at the per-side limit
        pairs = token_column(target, first, "n_limit_tokens") in slim.columns
        estimate = training_estimate(train[column].to_list(), 2**62 if pairs else target.max_example_tokens or 2**62,
                                     target.price_per_million, n_epochs)
        tokens = {"train_tokens": int(train[column].sum()), "train_trained_tokens": int(train[trained].sum()),
                  **({"pairs": True} if pairs else {}),
                  "exact": target.exact_tokens, "counted_with": target.tokenizer,
                  "note": getattr(target.module, "TOKENIZER_NOTE", None),
                  "estimate": {**estimate, "price_source": target.price_source}}
    losses = ((facts.get("validate") or {}).get("targets") or {}).get(target.folder, {}).get("losses") or {}
    by_reason: dict[str, int] = {}
    for (reason,), part in own_rejects.group_by(["reason"], maintain_order=True):
        by_reason[reason] = part.height
    cap = target.files.max_file_bytes.value
    described = target.describe()
    return {**described, "file_rules": described["files"], "examples": counts, "rejected_for_this_target": by_reason, "losses": losses,
            "tokens": tokens, "files": {name: {"bytes": size, "limit_bytes": cap} for name, size in sizes.items()},
            "extra_files": extras, "problems": [p.__dict__ for p in problems],
            "notices": [n.json() for n in notices(target)]}
