"""What a reader returns: the good records of one source as a table of cells, and its row rejects."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from pipeline.ingest.sources import SourceFile

ROW = "__row"


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
