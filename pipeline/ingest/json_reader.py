"""JSONL (one record per line, split at \\n only: U+2028 and U+0085 inside strings are text) and JSON
documents: an array of records, an object of records keyed by id (`{"2303": {...}}`: most of its values
are objects; the key goes into the column `json.key_column`), or an object holding one array; found
under `json.path` when nested (an object there is always read as keyed by id).

Cells are strings (None for missing); nested values (lists, objects) and non-string scalars are kept as
JSON text so later steps parse them exactly once, with row context.

Both read as they go: a JSON document through `JsonStream` (one record decoded at a time), and records
become polars columns every BATCH_RECORDS, so memory is about the table's, not the file's text plus every
record as a Python dict (≈ 10× the file). Binary data stops the read within a MiB (binary_guard.py).
"""

from __future__ import annotations

import json
from functools import partial

import polars as pl

from pipeline.errors import UserError
from pipeline.ingest import json_text
from pipeline.ingest.binary_sniff import scan_for_binary
from pipeline.ingest.conflict_markers import is_marker
from pipeline.ingest.file_streams import open_text
from pipeline.ingest.json_stream import JsonStream, ValueTooLong
from pipeline.ingest.json_text import TooDeeplyNested
from pipeline.ingest.raw_table import ROW, RawTable, RowReject, max_record_chars
from pipeline.ingest.sources import SourceFile

BATCH_RECORDS = 20_000


def _cell(value):
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _frame_from_records(records: list[dict], row_numbers: list[int]) -> pl.DataFrame:
    keys: dict[str, None] = {}
    for r in records:
        keys.update(dict.fromkeys(r))
    cols = {k: [v if v is None or type(v) is str else _cell(v) for v in (r.get(k) for r in records)]
            for k in keys}
    return pl.DataFrame({**cols, ROW: row_numbers}, schema={**{k: pl.Utf8 for k in keys}, ROW: pl.Int64})


class _Records:
    """Records (dicts) gathered into a table BATCH_RECORDS at a time, with the row rejects; columns in
    the order their keys first appear, the row number last."""

    def __init__(self):
        self.frames: list[pl.DataFrame] = []
        self.rejects: list[RowReject] = []
        self._records: list[dict] = []
        self._numbers: list[int] = []

    def add(self, row: int, record: dict) -> None:
        self._records.append(record)
        self._numbers.append(row)
        if len(self._records) >= BATCH_RECORDS:
            self._flush()

    def add_many(self, rows, records: list[dict]) -> None:
        self._records += records
        self._numbers += rows
        if len(self._records) >= BATCH_RECORDS:
            self._flush()

    def _flush(self) -> None:
        if self._records or not self.frames:
            self.frames.append(_frame_from_records(self._records, self._numbers))
        self._records, self._numbers = [], []

    def __len__(self) -> int:
        return sum(f.height for f in self.frames) + len(self._records)

    def table(self, source: SourceFile, n_rows: int) -> RawTable:
        self._flush()
        frame = pl.concat(self.frames, how="diagonal", rechunk=False) if len(self.frames) > 1 else self.frames[0]
        row_at = frame.columns.index(ROW)  # by position: a key may be named like a polars pattern ("*")
        frame = frame.select(pl.nth([i for i in range(frame.width) if i != row_at] + [row_at]))
        return RawTable(source, frame, self.rejects, n_rows)


def read_jsonl(source: SourceFile, options, max_cell_chars: int = 0) -> RawTable:
    records, n = _Records(), 0
    rejects = records.rejects
    max_chars = max_record_chars(max_cell_chars)
    with open_text(source, options.encoding, options.encoding_errors, newline="\n") as text:
        lines = iter(partial(text.readline, max_chars + 1), "")  # a line is read whole only up to max_chars
        for line_no, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            n += 1
            if len(line) > max_chars and not line.endswith("\n"):
                while line and not line.endswith("\n"):  # the rest of the line, in pieces
                    line = text.readline(max_chars)
                rejects.append(RowReject(line_no, "record_too_large",
                                         f"line {line_no}: over {max_chars:,} characters; skipped unread (a "
                                         f"damaged export? set max_cell_chars above {max_chars // 8:,} if "
                                         f"records this long are real)"))
                continue
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
            records.add(line_no, obj)
    if n == 0:
        raise UserError(f"{source.path}: no JSON lines found")
    if not len(records):
        raise UserError(f"{source.path}: none of its {n:,} lines is a JSON object; the first: "
                        f"{rejects[0].detail}. {_NOT_JSONL_HINT}")
    return records.table(source, n)


_NOT_JSONL_HINT = ("If the file is one JSON document (an array or object over several lines), set format: json; "
                   "if it is CSV, set format: csv")


def read_json(source: SourceFile, options, max_cell_chars: int = 0) -> RawTable:
    with open_text(source, options.encoding, options.encoding_errors, newline="") as text:
        doc = JsonStream(text, max_value_chars=max_record_chars(max_cell_chars))
        try:
            found = _walk(doc, source, 0)
            doc.end()
        except TooDeeplyNested as e:
            raise UserError(f"{source.path}: {e}; the file cannot be read as records. Check that it is the "
                            f"export you meant") from None
        except ValueTooLong as e:
            raise UserError(f"{source.path}: the value at line {e.lineno}, column {e.colno} runs over {e.limit:,} "
                            f"characters; not read (a damaged export? set max_cell_chars above {e.limit // 8:,} "
                            f"if records this long are real)") from None
        except json.JSONDecodeError as e:
            scan_for_binary(source, options.encoding)  # binary data read before its MiB was judged?
            raise UserError(f"{source.path}: invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}. "
                            f"If it has one object per line, set format: jsonl") from None
    return found.table(source)


def _path_note(source: SourceFile) -> str:
    return f" at json.path {'.'.join(source.json_path)!r}" if source.json_path else ""


_NOT_RECORDS = "expected a non-empty JSON array of records, or an object of records keyed by id"


class _Found:
    """What the document holds where the records are: records, or why not (raised once the whole
    document has been read, so a syntax error later in the file is reported first)."""

    def __init__(self, records: _Records | None, n_rows: int, error: str | None = None):
        self.records, self.n_rows, self.error = records, n_rows, error

    def table(self, source: SourceFile) -> RawTable:
        if self.error is not None:
            raise UserError(f"{source.path}: {self.error}")
        return self.records.table(source, self.n_rows)


def _walk(doc: JsonStream, source: SourceFile, depth: int) -> _Found:
    """The records at json.path[depth:] from the value the document is at."""
    if depth < len(source.json_path):
        return _descend(doc, source, depth)
    char = doc.peek()
    if char == "[":
        return _array(doc, source)
    if char == "{":
        return _object(doc, source)
    doc.value()  # a lone scalar (or invalid JSON)
    return _Found(None, 0, _NOT_RECORDS + _path_note(source))


def _descend(doc: JsonStream, source: SourceFile, depth: int) -> _Found:
    path, key = ".".join(source.json_path), source.json_path[depth]
    where = ".".join(source.json_path[:depth]) or "the top level"
    char = doc.peek()
    if char != "{":
        kind = "list" if char == "[" else type(doc.value()).__name__
        raise UserError(f"{source.path}: json.path {path!r}: {where} holds a {kind}, not an object with key "
                        f"{key!r}")
    found, keys = None, []
    for k in doc.object_keys():
        if k == key:
            if found is not None:
                raise UserError(f"{source.path}: json.path {path!r}: key {key!r} appears twice under {where}; "
                                f"keep one of them in the file")
            found = _walk(doc, source, depth + 1)
        else:
            doc.skip()
        if len(keys) < 20:
            keys.append(k)
    if found is None:
        raise UserError(f"{source.path}: json.path {path!r}: key {key!r} not found under {where}; its keys: "
                        f"{', '.join(map(repr, keys)) or 'none'}")
    return found


def _array(doc: JsonStream, source: SourceFile) -> _Found:
    """Records numbered by position (1-based)."""
    records, n = _Records(), 0
    for batch in doc.array_batches():
        if all(type(obj) is dict for obj in batch):
            records.add_many(range(n + 1, n + 1 + len(batch)), batch)
            n += len(batch)
            continue
        for obj in batch:
            n += 1
            if type(obj) is dict:
                records.add(n, obj)
            else:
                records.rejects.append(RowReject(n, "invalid_record",
                                                 f"record {n}: expected a JSON object, got {type(obj).__name__}"))
    return _Found(records, n) if n else _Found(None, 0, _NOT_RECORDS + _path_note(source))


def _object(doc: JsonStream, source: SourceFile) -> _Found:
    """Records keyed by id (most values are objects, or json.path leads here; the key goes into
    source.key_column), or the one array among the values ({"version": 2, "data": [...]})."""
    keyed, first_list, clash = _Records(), None, None
    n = n_objects = n_lists = 0
    rows_by_key: dict[str, int] = {}
    top: list[str] = []
    for key in doc.object_keys():
        n += 1
        if len(top) < 10:
            top.append(key)
        label = f"record {n} (key {key!r})"
        if doc.peek() == "[":
            n_lists += 1
            if n_lists == 1 and not source.json_path:
                first_list = _array(doc, source)
            else:
                first_list = None  # two arrays: not the one-array shape
                doc.skip()
            keyed.rejects.append(RowReject(n, "invalid_record", f"{label}: expected a JSON object, got list"))
            continue
        obj = doc.value()
        if not isinstance(obj, dict):
            keyed.rejects.append(RowReject(n, "invalid_record",
                                           f"{label}: expected a JSON object, got {type(obj).__name__}"))
            continue
        n_objects += 1
        if key in rows_by_key:
            keyed.rejects.append(RowReject(n, "duplicate_key", f"{label}: the key of record {rows_by_key[key]} "
                                                               f"again (give each record its own key)"))
            continue
        rows_by_key[key] = n
        if source.key_column in obj and clash is None:
            clash = (f"{label} already has a field {source.key_column!r}, the column that receives each "
                     f"record's key; set the input's json.key_column to another name (e.g. {source.key_column}_id)")
        keyed.add(n, {source.key_column: key, **obj})
    if n and (source.json_path or n_objects * 2 > n):
        return _Found(None, 0, clash) if clash else _Found(keyed, n)
    if n_lists == 1 and first_list is not None:
        return first_list
    return _Found(None, 0, f"expected a JSON array of records, an object of records keyed by id, or an object "
                           f"holding one array; found an object with keys {', '.join(map(repr, top))}. Set the input's json.path to "
                           f"the keys leading to the records, e.g. data.dialogs")
