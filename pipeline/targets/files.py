"""The files of one destination: its train/validation lines (with a byte-order mark where it asks),
its extra files (e.g. LLaMA-Factory's dataset_info.json), its rejects when several targets are written, and the
checks of its file rules (example counts, file size) against what was written."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from pipeline.engine.atomic_files import AtomicFile, atomic_write, line_bytes
from pipeline.engine.parts import Parts
from pipeline.engine.stage import Problem
from pipeline.engine.storage import parquet_columns
from pipeline.targets.base import Target
from pipeline.targets.target_drops import COLUMN, dropped_for

BOM = b"\xef\xbb\xbf"
SPLITS = ("train", "validation")


def kept_mask(frame: pl.DataFrame, folder: str) -> pl.Series:
    """True for the rows `folder`'s target takes (not in its target_drops)."""
    if COLUMN not in frame.columns:
        return pl.Series([True] * frame.height, dtype=pl.Boolean)
    return pl.Series([folder not in dropped_for(v) for v in frame[COLUMN]], dtype=pl.Boolean)


def target_rejects(gone: pl.DataFrame, examples: Parts, folder: str, reject_schema: dict) -> pl.DataFrame:
    """`gone`, the rows (slim) one target cannot take, as reject rows (stage, reason, detail, source, example text)."""
    if gone.height == 0:
        return pl.DataFrame(schema=reject_schema)
    texts = examples.texts(gone["example_id"])
    entries = [dropped_for(v)[folder] for v in gone[COLUMN]]
    return pl.DataFrame({
        "stage": [e[0] for e in entries], "reason": [e[1] for e in entries], "detail": [e[2] for e in entries],
        "source_file": gone["source_file"], "source_rows": gone["source_rows"].cast(pl.List(pl.Int64)),
        "example_id": gone["example_id"], "example": [texts.get(i) for i in gone["example_id"]],
    }).select(list(reject_schema)).cast(reject_schema)


def file_names(target: Target) -> dict[str, str]:
    return {split: f"{split}.jsonl" for split in SPLITS}


def write_splits(folder: Path, target: Target, line_column: str, examples: Parts, order: str | None) -> dict:
    """train and validation files of `target` from the example parts; returns {file name: bytes written}."""
    names = file_names(target)
    several = COLUMN in parquet_columns(examples.paths[0]) if examples.names else False
    columns = ["split", line_column, "example", *([COLUMN] if several else []), *([order] if order else [])]
    frames = [examples.read_all(columns).sort(order)] if order else examples.frames(columns)
    bom = bool(target.files.byte_order_mark.value)
    files = {split: AtomicFile(folder / names[split]) for split in SPLITS}
    sizes = dict.fromkeys(names.values(), 0)
    try:
        for split, out in files.items():
            if bom:
                out.write(BOM)
                sizes[names[split]] += len(BOM)
        for frame in frames:
            frame = frame.filter(kept_mask(frame, target.folder))
            for split, out in files.items():
                part = frame.filter(pl.col("split") == split)
                for data in line_bytes(part.select(pl.coalesce(line_column, "example"))[line_column]):
                    out.write(data)
                    sizes[names[split]] += len(data)
        for out in files.values():
            out.commit()
    except BaseException:
        for out in files.values():
            out.discard()
        raise
    return sizes


def _contains(path: Path, needle: bytes, block: int = 1 << 24) -> bool:
    """Whether the file holds `needle`, read a block at a time (bounded memory whatever the file size)."""
    tail = b""
    with open(path, "rb") as f:
        while chunk := f.read(block):
            if needle in tail + chunk:
                return True
            tail = chunk[-len(needle):]
    return False


def _starts_with(path: Path, head: bytes) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(len(head)) == head
    except OSError:
        return False


def write_extras(folder: Path, target: Target, preference: bool = False) -> list[str]:
    """The destination's files beside its lines (trainer configs, LLaMA-Factory's dataset_info.json...): its
    `extra_files`, or in a preference run its `preference_extra_files`, which may also read the written lines
    (e.g. LLaMA-Factory's ranking files, whose chosen/rejected are single messages where TRL's are lists)."""
    names = file_names(target)
    make = getattr(target.module, "preference_extra_files" if preference else "extra_files", None)
    if make is None:
        return []
    needles = (b'"tool_calls"', b'"tools"') if preference else (b'"tool_calls"',)
    uses_tools = any(_contains(folder / n, needle) for n in names.values() for needle in needles)
    if preference:
        extras = make(target, names, uses_tools, lambda split: _records(folder / names[split]))
    else:
        extras = make(target, names, uses_tools)
    for name, text in extras.items():
        atomic_write(folder / name, text)
    return list(extras)


def _records(path: Path) -> Iterator[dict]:
    """The JSON lines of a written file, one at a time (a byte-order mark skipped)."""
    with open(path, encoding="utf-8-sig") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def file_problems(target: Target, counts: dict[str, int], sizes: dict[str, int]) -> list[Problem]:
    """The destination's file rules against what was written (errors: it would refuse the upload or job)."""
    rules, where, out = target.files, f"{target.provider} {target.model}", []
    low, high, val = rules.min_train.value, rules.max_train.value, rules.max_validation.value
    if low is not None and counts["train"] < low:
        out.append(Problem("error", "target_too_few_examples", f"{where}: {counts['train']} training examples; it "
                           f"needs at least {low:,} ({rules.min_train.source})"))
    if high is not None and counts["train"] > high:
        out.append(Problem("error", "target_too_many_examples", f"{where}: {counts['train']:,} training examples; "
                           f"it takes at most {high:,} ({rules.max_train.source}): select fewer (e.g. a where: on "
                           "the inputs) or split the job"))
    if val is not None and counts["validation"] > val:
        out.append(Problem("error", "target_validation_too_large", f"{where}: {counts['validation']:,} validation "
                           f"examples; it takes at most {val:,} ({rules.max_validation.source}): set "
                           f"split.validation_max: {val}"))
    cap = rules.max_file_bytes.value
    for name, size in sizes.items():
        if cap is not None and size > cap:
            out.append(Problem("error", "target_file_too_large", f"{where}: {name} is {size / 2**20:,.1f} MiB; "
                               f"the limit is {cap / 2**20:,.0f} MiB ({rules.max_file_bytes.source})"))
    return out
