"""The sample viewer's data: up to MAX_EXAMPLES exported examples, chosen deterministically across splits.

Selection: per split, the examples with the lowest example_id (ids are blake2b hashes, so this is a
stable pseudo-random sample); each split gets its proportional share but at least min(its size,
MIN_PER_SPLIT). Texts are clipped per message and the whole sample stays under BUDGET_CHARS, so the
report stays small whatever the run size. The page renders it with textContent only. When the tokens stage ran, each message also gets its token
count (with framing) from the same counter the stage used; otherwise the page shows characters.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from pipeline.report.chat_preview import clip, shown_text
from pipeline.report.run_data import RunData

MAX_EXAMPLES = 500
MIN_PER_SPLIT = 50
MAX_MESSAGE_CHARS = 2_000
MAX_MESSAGES = 40
BUDGET_CHARS = 3_000_000
TOKEN_COUNT_MAX_CHARS = 8_000      # longer messages show characters (tokenizing huge texts is slow) ...
TOKEN_COUNT_BUDGET_CHARS = 2_000_000  # ... and so does everything after this much text was tokenized
OPTIONAL_COLUMNS = ("n_tokens", "n_assistant_tokens", "language", "dup_cluster")


def _quota(sizes: dict[str, int], cap: int) -> dict[str, int]:
    total = sum(sizes.values())
    if total <= cap:
        return dict(sizes)
    quota = {s: min(n, max(MIN_PER_SPLIT, round(cap * n / total))) for s, n in sizes.items()}
    while sum(quota.values()) > cap:  # trim the largest share first
        biggest = max(quota, key=quota.get)
        quota[biggest] -= sum(quota.values()) - cap
    return quota


def _token_counter(data: RunData):
    """The tokens stage's counter for its encoding, or None (stage not run, encoding not loadable)."""
    encoding = data.facts("tokens").get("encoding")
    if not encoding:
        return None
    try:
        from pipeline.chat.token_counting import counter_for

        return counter_for(encoding, str(Path((data.config.get("cache") or {}).get("dir", ".cache")) / "tiktoken"))
    except Exception:  # noqa: BLE001 — per-message counts are a nicety; the page falls back to characters
        return None


class _Counted:
    """Per-message token counts within a bounded amount of tokenized text."""

    def __init__(self, counter):
        self.counter, self.left = counter, TOKEN_COUNT_BUDGET_CHARS

    def tokens(self, message: dict, text_len: int) -> int | None:
        if self.counter is None or text_len > TOKEN_COUNT_MAX_CHARS or text_len > self.left:
            return None
        self.left -= text_len
        return self.counter.message(message)[0]


def _messages(example: str, counter: _Counted) -> tuple[list[dict], int]:
    try:
        messages = json.loads(example).get("messages") or []
    except (TypeError, ValueError, AttributeError):
        return [{"role": "?", "text": clip(example, MAX_MESSAGE_CHARS)}], 0
    out = []
    for m in messages[:MAX_MESSAGES]:
        if not isinstance(m, dict):
            continue
        full = shown_text(m)
        item = {"role": str(m.get("role", "?")), "text": clip(full, MAX_MESSAGE_CHARS)}
        if m.get("name"):
            item["name"] = str(m["name"])
        if m.get("weight") is not None:
            item["weight"] = m["weight"]
        tokens = counter.tokens(m, len(full))
        if tokens is not None:
            item["tokens"] = tokens
        out.append(item)
    return out, max(0, len(messages) - MAX_MESSAGES)


def sample_examples(data: RunData) -> dict:
    """The viewer's examples (JSON data; a rerun with the same checkpoint key reuses the first run's)."""
    return data.memoized("sample_viewer", lambda: _sample_examples(data))


def _sample_examples(data: RunData) -> dict:
    ex = data.examples
    if not ex.height:
        return {"examples": [], "total": 0, "shown": 0}
    if "split" not in ex.columns:
        ex = ex.with_columns(pl.lit("train").alias("split"))
    sizes = dict(ex.group_by("split").len().iter_rows())
    quota = _quota(sizes, MAX_EXAMPLES)
    cols = ["example_id", "split", "source_file", "source_rows", "flags",
            *[c for c in OPTIONAL_COLUMNS if c in ex.columns]]
    parts = [ex.filter(pl.col("split") == s).sort("example_id").head(n).select(cols)
             for s, n in sorted(quota.items())]
    chosen = data.with_texts(pl.concat(parts).sort("split", "example_id") if parts else ex.head(0).select(cols))
    out, used, counter = [], 0, _Counted(_token_counter(data))
    for r in chosen.iter_rows(named=True):
        messages, more = _messages(r["example"], counter)
        size = sum(len(m["text"]) for m in messages)
        if out and used + size > BUDGET_CHARS:
            break
        used += size
        item = {"id": r["example_id"], "split": r["split"], "source": r["source_file"],
                "rows": (r["source_rows"] or [])[:20], "flags": r["flags"] or [], "messages": messages, "more": more}
        for c in OPTIONAL_COLUMNS:
            if c in r and r[c] is not None:
                item[c] = r[c]
        out.append(item)
    return {"examples": out, "total": ex.height, "shown": len(out),
            "tokens_estimate": data.facts("tokens").get("tokens_exact") is False,
            "per_split": {s: sum(1 for e in out if e["split"] == s) for s in sorted(quota)}}
