"""The two tables that flow through the pipeline: examples and rejects.

Examples frame (one row per candidate training example):
  example_id   stable id (hash of source file + first source row + window)
  source_file  the file it came from; source_rows: 1-based records of that file it consumed
  group_id     split group: examples sharing it never straddle train/validation
  example      the OpenAI JSON object as compact text: messages (+ tools, parallel_tool_calls, functions)
  flags        notes stages attach to kept examples (e.g. "moderation:flagged")
  meta.<name>  metadata columns carried from the raw table
  input_split  the split the example's input asks for (`split: train | validation`; null = auto, the split
               stage decides); present only when some input sets it
Stages may add columns (e.g. n_tokens); export writes only `example`.

Rejects frame: stage, reason (stable code), detail (human words), source_file, source_rows,
example_id and example (null for unreadable rows).
"""

from __future__ import annotations

import hashlib
import itertools
import json

import msgspec
import polars as pl

EXAMPLE_SCHEMA = {
    "example_id": pl.Utf8,
    "source_file": pl.Utf8,
    "source_rows": pl.List(pl.Int64),
    "group_id": pl.Utf8,
    "example": pl.Utf8,
    "flags": pl.List(pl.Utf8),
}
REJECT_SCHEMA = {
    "stage": pl.Utf8,
    "reason": pl.Utf8,
    "detail": pl.Utf8,
    "source_file": pl.Utf8,
    "source_rows": pl.List(pl.Int64),
    "example_id": pl.Utf8,
    "example": pl.Utf8,
}
DROP_REASON, DROP_DETAIL = "drop_reason", "drop_detail"
INPUT_SPLIT = "input_split"


def example_id(source_file: str, first_row: int, part: int = 0) -> str:
    key = f"{source_file}\x00{first_row}\x00{part}".encode()
    return hashlib.blake2b(key, digest_size=8).hexdigest()


def dumps_example(obj: dict) -> str:
    """The one canonical compact JSON form of an example inside the pipeline."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


_ENCODE = msgspec.json.Encoder().encode


def dumps_text_example(obj: dict) -> str:
    """dumps_example(obj) for an example made only of strings, integers, booleans, None, lists and dicts with
    string keys (the messages layout's conversion builds such examples from text cells), ~4× faster on chat
    text (msgspec writes those types exactly as json.dumps does: tests/test_records.py). Not for examples
    that may hold floats: msgspec writes 1e-05 as 0.00001 and NaN as null. A string json.dumps takes but
    msgspec refuses (a lone surrogate) goes to json.dumps."""
    try:
        return _ENCODE(obj).decode()
    except Exception:  # noqa: BLE001 — whatever msgspec refuses, json.dumps writes (or raises) as before
        return dumps_example(obj)


_DECODE = msgspec.json.Decoder().decode


def loads_example(text: str):
    """json.loads(text): the same objects, or the same error, about twice as fast on example texts.

    msgspec's decoder parses strict JSON to exactly json.loads's objects (dicts in key order, a repeated key's
    last value, ints of any size, floats rounded alike: tests/test_records.py); what it refuses but json.loads
    accepts (NaN and Infinity, 1e400, lone surrogates as \\ud800 escapes or in the text itself) or refuses too
    goes to json.loads, which parses it or raises its usual error. bench/bench_json.py measures the gain;
    orjson is not used: it reads an integer beyond 64 bits as a float."""
    try:
        return _DECODE(text)
    except Exception:  # noqa: BLE001 — any refusal: json.loads decides
        return json.loads(text)


class LazyList:
    """series.to_list(), made when a value is first read: for the columns a stage reads only on the few rows
    it reports (source_rows alone costs ~0.07 CPU-s per 100k rows to convert)."""

    __slots__ = ("_series", "_values")

    def __init__(self, series: pl.Series):
        self._series, self._values = series, None

    def __getitem__(self, i: int):
        if self._values is None:
            self._values = self._series.to_list()
        return self._values[i]


def empty_examples(meta_columns: list[str] = ()) -> pl.DataFrame:
    return pl.DataFrame(schema={**EXAMPLE_SCHEMA, **{m: pl.Utf8 for m in meta_columns}})


def empty_rejects() -> pl.DataFrame:
    return pl.DataFrame(schema=REJECT_SCHEMA)


def frame_from_records(records: list[dict], schema: dict) -> pl.DataFrame:
    """A frame from dicts (missing keys -> null), built column by column: list columns go
    through one Arrow list array instead of one Series per row (several times faster on big batches)."""
    columns = {}
    for name, dtype in schema.items():
        values = [r.get(name) for r in records]
        if dtype in _ARROW_ITEMS:
            columns[name] = _lists(name, values, dtype)
        else:
            columns[name] = pl.Series(name, values, dtype=dtype)
    return pl.DataFrame(columns)


_ARROW_ITEMS = {pl.List(pl.Int64): "int64", pl.List(pl.Utf8): "large_string"}


def _lists(name: str, values: list, dtype) -> pl.Series:
    import pyarrow as pa

    valid = [v is not None for v in values]
    lengths = [len(v) if v is not None else 0 for v in values]
    offsets = pa.array([0, *itertools.accumulate(lengths)], type=pa.int64())
    flat = pa.array([x for v in values if v is not None for x in v], type=getattr(pa, _ARROW_ITEMS[dtype])())
    arr = pa.LargeListArray.from_arrays(offsets, flat, mask=pa.array([not v for v in valid]) if not all(valid) else None)
    return pl.Series(name, pl.from_arrow(arr), dtype=dtype)


def rejects_frame(records: list[dict]) -> pl.DataFrame:
    """Build a rejects frame from dicts with REJECT_SCHEMA keys (missing keys -> null)."""
    if not records:
        return empty_rejects()
    return frame_from_records(records, REJECT_SCHEMA)
