"""Readers for CSV, Parquet, JSONL and JSON. Each returns a RawTable: good records + row rejects.

Cells from text formats are strings (None for missing). Nested JSON values (lists, objects) and
non-string scalars are kept as JSON text so later steps parse them exactly once, with row context.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from dataclasses import dataclass, field

import polars as pl

from pipeline.errors import UserError
from pipeline.ingest.sources import SourceFile

ROW = "__row"
csv.field_size_limit(sys.maxsize)


@dataclass
class RowReject:
    row: int
    reason: str  # stable code
    detail: str  # human words: row, column, what was expected


@dataclass
class RawTable:
    source: SourceFile
    frame: pl.DataFrame  # good records, with ROW (1-based)
    rejects: list[RowReject] = field(default_factory=list)
    n_rows: int = 0  # every record seen, good or rejected


def read_table(source: SourceFile, options, max_cell_chars: int) -> RawTable:
    reader = {"csv": _read_csv, "parquet": _read_parquet, "jsonl": _read_jsonl, "json": _read_json}
    table = reader[source.format](source, options)
    return _reject_huge_cells(table, max_cell_chars)


# ----------------------------------------------------------------------------- text decoding


def _decode(source: SourceFile, encoding: str, errors: str) -> str:
    with open(source.path, "rb") as f:
        data = f.read()
    enc = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
    try:
        return data.decode(enc, errors=errors)
    except LookupError:
        raise UserError(f"{source.path}: unknown encoding {encoding!r} (e.g. utf-8, cp1252, latin-1)") from None
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise UserError(
            f"{source.path}: line {line}: byte 0x{data[e.start]:02x} at offset {e.start} is not valid {encoding}. "
            f"Set the input's csv.encoding (e.g. cp1252 or latin-1) if the file uses another encoding, "
            f"or csv.encoding_errors: replace to keep going with U+FFFD in place of bad bytes."
        ) from None


# ----------------------------------------------------------------------------- CSV


CSV_BLOCK_BYTES = 64 << 20


def _read_csv(source: SourceFile, options) -> RawTable:
    """CSV: Arrow's parser when the file is clean UTF-8 with no malformed record (the common case, ~2× faster
    and no Python objects per cell); otherwise the exact `csv`-module path, which numbers every record
    and names the line of each problem. Both give the same table for a clean file."""
    fast = _read_csv_arrow(source, options)
    return fast if fast is not None else _read_csv_exact(source, options)


def _read_csv_arrow(source: SourceFile, options) -> RawTable | None:
    if options.encoding.lower().replace("_", "-") not in ("utf-8", "utf8") or not options.has_header:
        return None
    import pyarrow as pa
    import pyarrow.csv as pacsv

    with open(source.path, encoding="utf-8-sig", errors="replace", newline="") as f:
        reader = csv.reader(f, delimiter=options.separator, quotechar=options.quote)
        try:
            header = [h.strip() for h in next(reader)]
        except (StopIteration, csv.Error):
            return None
        if reader.line_num != 1 or not all(header) or len(set(header)) != len(header):
            return None  # unusual header: let the exact path explain it
    invalid: list = []

    def on_invalid(row) -> str:
        invalid.append(row)
        return "skip"

    # streamed block by block, each block turned into polars at once, so Arrow's copy of the file and
    # polars' are never both whole in memory
    frames = []
    try:
        reader = pacsv.open_csv(
            source.path,
            read_options=pacsv.ReadOptions(column_names=header, skip_rows=1, block_size=CSV_BLOCK_BYTES),
            parse_options=pacsv.ParseOptions(delimiter=options.separator, quote_char=options.quote,
                                             newlines_in_values=True, invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(column_types={h: pa.string() for h in header},
                                                 strings_can_be_null=False, quoted_strings_can_be_null=False),
        )
        for batch in reader:
            if invalid:
                return None
            frames.append(pl.from_arrow(batch))
    except (pa.ArrowInvalid, pa.ArrowException, OSError):
        return None
    finally:
        pa.default_memory_pool().release_unused()
    if invalid or not frames or sum(f.height for f in frames) == 0:
        return None
    frame = pl.concat(frames, rechunk=False) if len(frames) > 1 else frames[0]
    frame = frame.with_row_index(ROW, offset=1).with_columns(pl.col(ROW).cast(pl.Int64))
    return RawTable(source, frame.select([*header, ROW]), [], frame.height)


def _read_csv_exact(source: SourceFile, options) -> RawTable:
    text = _decode(source, options.encoding, options.encoding_errors)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=options.separator, quotechar=options.quote,
                        strict=True)
    rejects: list[RowReject] = []
    try:
        header = next(reader) if options.has_header else None
    except (StopIteration, csv.Error) as e:
        raise UserError(f"{source.path}: cannot read the header line: {e or 'the file has no lines'}") from None
    if header is not None:
        header = [h.strip() for h in header]
        if not any(header):
            raise UserError(f"{source.path}: the header line is empty; set csv.has_header: false if the file has none")
        dup = sorted({h for h in header if header.count(h) > 1})
        if dup:
            raise UserError(f"{source.path}: header has duplicate column names: {', '.join(dup)}")
    rows: list[list[str]] = []
    row_numbers: list[int] = []
    n = 0
    width = len(header) if header else None
    while True:
        start_line = reader.line_num + 1
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            n += 1
            rejects.append(RowReject(n, "malformed_csv", f"line {start_line}: {e}"))
            continue
        if not record:  # a blank line is not a record
            continue
        n += 1
        if width is None:
            width, header = len(record), [f"column_{i + 1}" for i in range(len(record))]
        if len(record) != width:
            rejects.append(RowReject(
                n, "malformed_csv",
                f"line {start_line}: {len(record)} fields where the header has {width} "
                f"(check separator {options.separator!r} and quoting)"))
            continue
        rows.append(record)
        row_numbers.append(n)
    if n == 0:
        raise UserError(f"{source.path}: no data rows below the header")
    cols = {name: [r[i] for r in rows] for i, name in enumerate(header)}
    frame = pl.DataFrame({**cols, ROW: row_numbers}, schema={**{h: pl.Utf8 for h in header}, ROW: pl.Int64})
    return RawTable(source, frame, rejects, n)


# ----------------------------------------------------------------------------- Parquet


def _read_parquet(source: SourceFile, options) -> RawTable:
    try:
        frame = pl.read_parquet(source.path)
    except Exception as e:  # noqa: BLE001 — polars raises several error types for corrupt files
        raise UserError(f"{source.path}: not a readable Parquet file ({type(e).__name__}: {e})") from None
    if frame.height == 0:
        raise UserError(f"{source.path}: the Parquet file has no rows")
    frame = frame.with_row_index(ROW, offset=1).with_columns(pl.col(ROW).cast(pl.Int64))
    return RawTable(source, frame.select([*frame.columns[1:], ROW]), [], frame.height)


# ----------------------------------------------------------------------------- JSON / JSONL


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


def _read_jsonl(source: SourceFile, options) -> RawTable:
    text = _decode(source, options.encoding, options.encoding_errors)
    records, numbers, rejects, n = [], [], [], 0
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        n += 1
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            rejects.append(RowReject(line_no, "invalid_json", f"line {line_no}: invalid JSON: {e.msg} at column {e.colno}"))
            continue
        if not isinstance(obj, dict):
            rejects.append(RowReject(line_no, "invalid_json", f"line {line_no}: expected a JSON object, got {type(obj).__name__}"))
            continue
        records.append(obj)
        numbers.append(line_no)
    if n == 0:
        raise UserError(f"{source.path}: no JSON lines found")
    return RawTable(source, _frame_from_records(records, numbers), rejects, n)


def _read_json(source: SourceFile, options) -> RawTable:
    text = _decode(source, options.encoding, options.encoding_errors)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise UserError(f"{source.path}: invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}. "
                        f"If it has one object per line, set format: jsonl") from None
    if isinstance(data, dict):
        lists = [k for k, v in data.items() if isinstance(v, list)]
        if len(lists) != 1:
            raise UserError(f"{source.path}: expected a JSON array of records (or an object holding one array)")
        data = data[lists[0]]
    if not isinstance(data, list) or not data:
        raise UserError(f"{source.path}: expected a non-empty JSON array of records")
    records, numbers, rejects = [], [], []
    for i, obj in enumerate(data, start=1):
        if isinstance(obj, dict):
            records.append(obj)
            numbers.append(i)
        else:
            rejects.append(RowReject(i, "invalid_record", f"record {i}: expected a JSON object, got {type(obj).__name__}"))
    return RawTable(source, _frame_from_records(records, numbers), rejects, len(data))


# ----------------------------------------------------------------------------- limits


def _reject_huge_cells(table: RawTable, limit: int) -> RawTable:
    text_cols = [c for c, t in table.frame.schema.items() if t == pl.Utf8]
    if not text_cols or table.frame.height == 0:
        return table
    # a cell of at most `limit` bytes has at most `limit` characters: count characters only in the
    # (rare) rows with a longer cell, so no column of lengths is built for the whole table
    maybe = table.frame.filter(pl.any_horizontal(pl.col(c).str.len_bytes() > limit for c in text_cols))
    lengths = maybe.select(ROW, *[pl.col(c).str.len_chars().alias(c) for c in text_cols])
    too_long = lengths.filter(pl.any_horizontal(pl.col(c) > limit for c in text_cols))
    if too_long.height == 0:
        return table
    for rec in too_long.iter_rows(named=True):
        col = next(c for c in text_cols if (rec[c] or 0) > limit)
        table.rejects.append(RowReject(rec[ROW], "cell_too_large",
                                       f"row {rec[ROW]}, column {col!r}: {rec[col]:,} characters "
                                       f"(max_cell_chars is {limit:,})"))
    table.frame = table.frame.filter(~pl.col(ROW).is_in(too_long[ROW].implode()))
    return table
