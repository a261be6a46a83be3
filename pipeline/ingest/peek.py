"""An input file's columns without reading it whole, for `chatprep check-config`: a CSV's header line,
a Parquet file's schema, the keys of the first JSON Lines records or the first records of a JSON array;
`check_inputs` checks them against each input's column mapping with the run's own raw-table check
(pipeline/ingest/raw_checks.py), so check-config reports what a run would.

Text is decoded as the readers decode it (csv.encoding, csv.encoding_errors; compressed files and zip
members through the same streams), from the start of the data, so a byte the run would stop on near the
top stops the check with the run's words.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field

import polars as pl

from pipeline.errors import UserError
from pipeline.ingest import json_text
from pipeline.ingest.binary_sniff import check_text_data
from pipeline.ingest.csv_reader import first_record, header_cells, separator_for
from pipeline.ingest.file_streams import compression_of, open_text
from pipeline.ingest.json_text import TooDeeplyNested
from pipeline.ingest.raw_checks import check_raw_table, coerce_scalars
from pipeline.ingest.readers import ROW
from pipeline.ingest.sources import SourceFile, resolve_sources

PREFIX_CHARS = 1 << 20  # text read from the top of a CSV / JSON / JSONL file
PREFIX_RECORDS = 1_000  # JSON records whose keys are read


@dataclass
class Peek:
    columns: dict[str, pl.DataType]  # text formats: every column is text
    records: int  # JSON / JSONL records read (0 for CSV and Parquet)
    complete: bool  # False: a JSON / JSONL file has more records than were read


@dataclass
class InputReport:
    files: list[SourceFile]
    checked: int = 0  # files whose columns were read
    problems: list[str] = field(default_factory=list)  # a run would stop on each
    notes: list[str] = field(default_factory=list)  # what could not be told without a full read


def check_inputs(config) -> InputReport:
    """Resolve every input (a missing file raises UserError at once, as a run does) and check each
    file's columns."""
    report = InputReport(resolve_sources(config.inputs))
    for src in report.files:
        inp, peek = config.inputs[src.input_index], None
        try:
            peek = peek_columns(src, inp.csv)
            if peek is None:
                report.notes.append(f"{src.path}: columns not checked (a JSON object, json.path or a compressed "
                                    f"Parquet file is read whole only by a run)")
                continue
            frame = pl.DataFrame(schema={**peek.columns, ROW: pl.Int64})
            joined = {name: pl.Utf8 for join in inp.metadata_join for name in join.targets().values()}
            frame = coerce_scalars(frame.with_columns(pl.lit(None, dtype=t).alias(n) for n, t in joined.items()
                                                      if n not in frame.columns), inp)
            check_raw_table(frame, inp, src.input_index, src.path)
            report.checked += 1
        except UserError as e:
            if peek is not None and not peek.complete:
                report.checked += 1
                report.notes.append(f"{e} (only its first {peek.records:,} records were read; a run stops if "
                                    f"no record has the column)")
            else:
                report.problems.append(str(e))
    return report


def peek_columns(source: SourceFile, options) -> Peek | None:
    """The file's columns as the run's reader would name them; None when they cannot be told without
    reading it whole (a compressed or zipped Parquet file, a JSON file that is not an array, json.path)."""
    if source.format == "parquet":
        if source.member is not None or compression_of(source.file):
            return None
        try:
            return Peek(dict(pl.read_parquet_schema(source.path)), 0, True)
        except Exception as e:  # noqa: BLE001 — polars raises several error types for corrupt files
            raise UserError(f"{source.path}: not a readable Parquet file ({type(e).__name__}: {e})") from None
    if source.format == "json" and source.json_path:
        return None
    check_text_data(source, options.encoding)
    text, whole = _prefix_text(source, options)
    if source.format == "csv":
        return Peek(dict.fromkeys(_csv_header(text, source, options), pl.Utf8), 0, True)
    records, complete = _jsonl_records(text) if source.format == "jsonl" else _json_array_records(text)
    if records is None:
        return None
    keys: dict[str, None] = {}
    for record in records:
        keys.update(dict.fromkeys(record))
    return Peek(dict.fromkeys(keys, pl.Utf8), len(records), complete and whole)


def _prefix_text(source: SourceFile, options) -> tuple[str, bool]:
    """(the decoded top of the data — decompressed, or the zip member's — cut after its last whole line,
    whether that is all of it). Decoded as the readers decode it, so a bad byte stops with their words."""
    with open_text(source, options.encoding, options.encoding_errors, newline="") as f:
        text = f.read(PREFIX_CHARS + 1)
    if len(text) <= PREFIX_CHARS:
        return text, True
    cut = text.rfind("\n", 0, PREFIX_CHARS)
    return (text[: cut + 1] if cut >= 0 else text[:PREFIX_CHARS]), False


def _csv_header(text: str, source: SourceFile, options) -> list[str]:
    """The header as the CSV reader takes it: after csv.skip_rows lines, with the input's separator (a tab
    by default for .tsv), a byte-order mark and spaces stripped; a conflict marker there stops as a run does."""
    sep = separator_for(source, options)
    lines = io.StringIO(text, newline="")
    for _ in range(options.skip_rows):
        lines.readline()
    first = first_record(csv.reader(lines, delimiter=sep, quotechar=options.quote), source, options, sep)
    if options.has_header:
        return header_cells(first)
    return [f"column_{i + 1}" for i in range(len(first))]


def _jsonl_records(text: str) -> tuple[list[dict], bool]:
    """The JSON objects of the first lines (lines split on \\n only, as JSON text may hold U+2028)."""
    records, lines = [], [line for line in text.split("\n") if line.strip()]
    for line in lines[:PREFIX_RECORDS]:
        try:
            obj = json_text.loads(line)
        except (json.JSONDecodeError, TooDeeplyNested):
            continue  # the run rejects this row (invalid_json, too_deeply_nested)
        if isinstance(obj, dict):
            records.append(obj)
    return records, len(lines) <= PREFIX_RECORDS


def _json_array_records(text: str) -> tuple[list[dict] | None, bool]:
    """The first objects of a JSON array, decoded one by one from the top of the file; (None, False) when
    the file is not an array."""
    decoder, pos = json.JSONDecoder(), len(text) - len(text.lstrip())
    if not text.startswith("[", pos):
        return None, False
    records: list[dict] = []
    pos += 1
    while len(records) < PREFIX_RECORDS:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if text.startswith("]", pos):
            return records, True
        try:
            obj, pos = decoder.raw_decode(text, pos)
        except (json.JSONDecodeError, RecursionError):
            break  # cut by the end of the prefix (or invalid, or too deep: the run says where)
        if isinstance(obj, dict):
            records.append(obj)
    return records, False
