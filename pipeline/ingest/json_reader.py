"""JSONL (one record per line, split at \\n only: U+2028 and U+0085 inside strings are text) and JSON
documents: an array of records, an object of records keyed by id (`{"2303": {...}}`: most of its values
are objects; the key goes into the column `json.key_column`), or an object holding one array; found
under `json.path` when nested (an object there is always read as keyed by id).

Cells are strings (None for missing); nested values (lists, objects) and non-string scalars are kept as
JSON text so later steps parse them exactly once, with row context.
"""

from __future__ import annotations

import json

import polars as pl

from pipeline.errors import UserError
from pipeline.ingest import json_text
from pipeline.ingest.conflict_markers import is_marker
from pipeline.ingest.file_streams import open_text
from pipeline.ingest.json_text import TooDeeplyNested
from pipeline.ingest.raw_table import ROW, RawTable, RowReject
from pipeline.ingest.sources import SourceFile


def _cell(value):
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _frame_from_records(records: list[dict], row_numbers: list[int]) -> pl.DataFrame:
    keys: dict[str, None] = {}
    for r in records:
        keys.update(dict.fromkeys(r))
    cols = {k: [_cell(r.get(k)) for r in records] for k in keys}
    return pl.DataFrame({**cols, ROW: row_numbers}, schema={**{k: pl.Utf8 for k in keys}, ROW: pl.Int64})


def read_jsonl(source: SourceFile, options) -> RawTable:
    records, numbers, rejects, n = [], [], [], 0
    with open_text(source, options.encoding, options.encoding_errors, newline="\n") as text:
        for line_no, line in enumerate(text, start=1):
            if not line.strip():
                continue
            n += 1
            try:
                obj = json_text.loads(line)
            except TooDeeplyNested as e:
                rejects.append(RowReject(line_no, "too_deeply_nested", f"line {line_no}: {e}"))
                continue
            except json.JSONDecodeError as e:
                if is_marker(line):
                    rejects.append(RowReject(line_no, "merge_conflict_marker",
                                             f"line {line_no}: git merge-conflict marker {line.rstrip()!r}, not a "
                                             f"record (resolve the conflict in the file to keep both sides right)"))
                else:
                    rejects.append(RowReject(line_no, "invalid_json",
                                             f"line {line_no}: invalid JSON: {e.msg} at column {e.colno}"))
                continue
            if not isinstance(obj, dict):
                rejects.append(RowReject(line_no, "invalid_json",
                                         f"line {line_no}: expected a JSON object, got {type(obj).__name__}"))
                continue
            records.append(obj)
            numbers.append(line_no)
    if n == 0:
        raise UserError(f"{source.path}: no JSON lines found")
    if not records:
        raise UserError(f"{source.path}: none of its {n:,} lines is a JSON object; the first: "
                        f"{rejects[0].detail}. {_NOT_JSONL_HINT}")
    return RawTable(source, _frame_from_records(records, numbers), rejects, n)


_NOT_JSONL_HINT = ("If the file is one JSON document (an array or object over several lines), set format: json; "
                   "if it is CSV, set format: csv")


def read_json(source: SourceFile, options) -> RawTable:
    with open_text(source, options.encoding, options.encoding_errors, newline="") as text:
        raw = text.read()
    try:
        data = json_text.loads(raw)
    except TooDeeplyNested as e:
        raise UserError(f"{source.path}: {e}; the file cannot be read as records. Check that it is the "
                        f"export you meant") from None
    except json.JSONDecodeError as e:
        raise UserError(f"{source.path}: invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}. "
                        f"If it has one object per line, set format: jsonl") from None
    del raw
    data = _at_path(data, source)
    keys = None
    if isinstance(data, dict):
        n_objects = sum(isinstance(v, dict) for v in data.values())
        lists = [k for k, v in data.items() if isinstance(v, list)]
        if (source.json_path and data) or n_objects * 2 > len(data):
            keys, data = list(data), list(data.values())  # records keyed by id
        elif len(lists) == 1:
            data = data[lists[0]]  # {"version": 2, "data": [...]}
        else:
            top = ", ".join(map(repr, list(data)[:10]))
            raise UserError(f"{source.path}: expected a JSON array of records, an object of records keyed by "
                            f"id, or an object holding one array; found an object with keys {top}. Set the "
                            f"input's json.path to the keys leading to the records, e.g. data.dialogs")
    if not isinstance(data, list) or not data:
        raise UserError(f"{source.path}: expected a non-empty JSON array of records, or an object of records "
                        f"keyed by id{_path_note(source)}")
    return _records(source, data, keys)


def _path_note(source: SourceFile) -> str:
    return f" at json.path {'.'.join(source.json_path)!r}" if source.json_path else ""


def _at_path(data, source: SourceFile):
    """The value under json.path (dot-separated keys)."""
    for depth, key in enumerate(source.json_path):
        where = ".".join(source.json_path[:depth]) or "the top level"
        if not isinstance(data, dict):
            raise UserError(f"{source.path}: json.path {'.'.join(source.json_path)!r}: {where} holds a "
                            f"{type(data).__name__}, not an object with key {key!r}")
        if key not in data:
            found = ", ".join(map(repr, list(data)[:20])) or "none"
            raise UserError(f"{source.path}: json.path {'.'.join(source.json_path)!r}: key {key!r} not found "
                            f"under {where}; its keys: {found}")
        data = data[key]
    return data


def _records(source: SourceFile, data: list, keys: list[str] | None) -> RawTable:
    """Records numbered by position (1-based); a key-object's key goes into source.key_column."""
    records, numbers, rejects = [], [], []
    for i, obj in enumerate(data, start=1):
        label = f"record {i}" + (f" (key {keys[i - 1]!r})" if keys else "")
        if not isinstance(obj, dict):
            rejects.append(RowReject(i, "invalid_record", f"{label}: expected a JSON object, got {type(obj).__name__}"))
            continue
        if keys:
            if source.key_column in obj:
                raise UserError(f"{source.path}: {label} already has a field {source.key_column!r}, the column "
                                f"that receives each record's key; set the input's json.key_column to another "
                                f"name (e.g. {source.key_column}_id)")
            obj = {source.key_column: keys[i - 1], **obj}
        records.append(obj)
        numbers.append(i)
    return RawTable(source, _frame_from_records(records, numbers), rejects, len(data))
