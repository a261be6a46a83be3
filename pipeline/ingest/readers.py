"""Read one source into a RawTable (good records + row rejects): CSV (csv_reader.py), JSON and JSONL
(json_reader.py), Parquet (here); plain, compressed or a zip member (file_streams.py).

Cells from text formats are strings (None for missing); Parquet keeps its native types.
"""

from __future__ import annotations

import io

import polars as pl

from pipeline.errors import UserError
from pipeline.ingest.binary_sniff import check_text_data
from pipeline.ingest.csv_reader import read_csv
from pipeline.ingest.file_streams import compression_of, open_bytes
from pipeline.ingest.json_reader import read_json, read_jsonl
from pipeline.ingest.raw_table import ROW, RawTable, RowReject
from pipeline.ingest.sources import SourceFile


def read_table(source: SourceFile, options, max_cell_chars: int) -> RawTable:
    if source.format != "parquet":
        check_text_data(source, options.encoding)
    if source.format == "csv":
        table = read_csv(source, options, max_cell_chars)
    elif source.format == "jsonl":
        table = read_jsonl(source, options, max_cell_chars)
    elif source.format == "json":
        table = read_json(source, options, max_cell_chars)
    else:
        table = _read_parquet(source, options)
    return reject_huge_cells(table, max_cell_chars)


# ----------------------------------------------------------------------------- Parquet


def _read_parquet(source: SourceFile, options) -> RawTable:
    try:
        if source.member is None and compression_of(source.file) is None:
            frame = pl.read_parquet(source.file)
        else:  # Parquet needs to seek: a compressed one is read into memory first
            with open_bytes(source) as f:
                frame = pl.read_parquet(io.BytesIO(f.read()))
    except UserError:
        raise
    except Exception as e:  # noqa: BLE001 — polars raises several error types for corrupt files
        raise UserError(f"{source.path}: not a readable Parquet file ({type(e).__name__}: {e})") from None
    if frame.height == 0:
        raise UserError(f"{source.path}: the Parquet file has no rows")
    frame = frame.with_row_index(ROW, offset=1).with_columns(pl.col(ROW).cast(pl.Int64))
    # by position (row number last): a column may be named like a polars pattern ("*", "^a$")
    return RawTable(source, frame.select(pl.nth([*range(1, frame.width), 0])), [], frame.height)


# ----------------------------------------------------------------------------- limits


def reject_huge_cells(table: RawTable, limit: int) -> RawTable:
    # columns by position: a raw column may be named like a polars pattern ("*", "^a$")
    text_cols = [(i, c) for i, (c, t) in enumerate(table.frame.schema.items()) if t == pl.Utf8]
    if not text_cols or table.frame.height == 0:
        return table
    # a cell of at most `limit` bytes has at most `limit` characters: count characters only in the
    # (rare) rows with a longer cell, so no column of lengths is built for the whole table
    long_bytes = pl.any_horizontal(pl.nth(i).str.len_bytes() > limit for i, _ in text_cols)
    if not table.frame.select(long_bytes.any()).item():  # the common case, decided without filtering: a
        return table  # filter of the whole table (in Arrow's read blocks) held ~0.5 GB more at 1M conversations
    maybe = table.frame.filter(long_bytes)
    lengths = maybe.select(pl.col(ROW), *[pl.nth(i).str.len_chars().alias(f"__len{k}")
                                          for k, (i, _) in enumerate(text_cols)])
    too_long = lengths.filter(pl.any_horizontal(pl.col(f"__len{k}") > limit for k in range(len(text_cols))))
    if too_long.height == 0:
        return table
    for rec in too_long.iter_rows(named=True):
        k, col = next((k, c) for k, (_, c) in enumerate(text_cols) if (rec[f"__len{k}"] or 0) > limit)
        table.rejects.append(RowReject(rec[ROW], "cell_too_large",
                                       f"row {rec[ROW]}, column {col!r}: {rec[f'__len{k}']:,} characters "
                                       f"(max_cell_chars is {limit:,})"))
    table.frame = table.frame.filter(~pl.col(ROW).is_in(too_long[ROW].implode()))
    return table
