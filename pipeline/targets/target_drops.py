"""Examples one destination cannot take while another can: with several targets, a stage that rejects an
example for some of them only records it in the column `target_drops` (JSON {target folder: [stage, reason,
detail]}); the example stays for the others, and the outputs send it to that target's rejects.jsonl. An
example no target can take is dropped as usual (one place per row, per target)."""

from __future__ import annotations

import json

import polars as pl

COLUMN = "target_drops"


def merged(frame: pl.DataFrame, new: list[dict | None], several: bool = True) -> pl.DataFrame:
    """`frame` with the per-row entries `new` ({folder: [stage, reason, detail]}) added to its column. With several
    targets every part gets the column (null where no entry), so all parts after a stage share one schema."""
    if not any(new):
        if several and COLUMN not in frame.columns:
            return frame.with_columns(pl.lit(None, pl.Utf8).alias(COLUMN))
        return frame
    old = frame[COLUMN].to_list() if COLUMN in frame.columns else [None] * frame.height
    out = []
    for before, add in zip(old, new, strict=True):
        if not add:
            out.append(before)
            continue
        entries = json.loads(before) if before else {}
        for folder, drop in add.items():
            entries.setdefault(folder, drop)
        out.append(json.dumps(entries, ensure_ascii=False, sort_keys=True))
    return frame.with_columns(pl.Series(COLUMN, out, pl.Utf8))


def dropped_for(value: str | None) -> dict:
    return json.loads(value) if value else {}


def split_verdicts(verdicts: list[tuple[str, str, str] | None], folders: list[str], stage: str):
    """Per example, the (reason, detail) per target (None = fine) -> (drop reason, drop detail, target entry):
    dropped when every target rejects it (the first target's reason), else an entry for the ones that do."""
    n = len(folders)
    if n == 1:
        v = verdicts[0]
        return (v[0], v[1], None) if v else (None, None, None)
    bad = {folders[i]: [stage, v[0], v[1]] for i, v in enumerate(verdicts) if v}
    if len(bad) == n:
        first = verdicts[0]
        return first[0], f"{first[1]} (every target rejects it; first: {folders[0]})", None
    return None, None, bad or None
