"""What a reader returns: the good records of one source as a table of cells, and its row rejects."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from pipeline.ingest.sources import SourceFile

ROW = "__row"
# a CSV or JSONL record is read up to max(this, 8 cells of max_cell_chars) characters: past that it is
# rejected (record_too_large) and skipped in bounded pieces, never held whole (a 250 MB line took 1.7 GB)
RECORD_CHARS_FLOOR = 16 << 20


def max_record_chars(max_cell_chars: int) -> int:
    return max(RECORD_CHARS_FLOOR, 8 * max_cell_chars)


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
