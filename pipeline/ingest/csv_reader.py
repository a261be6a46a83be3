"""CSV (and TSV): Arrow's parser when the file is clean UTF-8 with no malformed, repeated-header or
conflict-marker record (the common case, ~2× faster and no Python objects per cell); otherwise the exact
`csv`-module path, which numbers every record, names the line of each problem and rejects what is not a
record. Both give the same table for a clean file, and both stream the file (compressed or not).

Rows are the file's records, 1-based, header and `csv.skip_rows` lines excluded; details name the
file's physical line. A UTF-8 byte-order mark at the start of the header line is dropped wherever that
line is (after skipped lines, or a header repeated mid-file).
"""

from __future__ import annotations

import csv
import sys
from collections import Counter

import polars as pl

from pipeline.errors import UserError
from pipeline.ingest.conflict_markers import marker_above_header, record_is_marker
from pipeline.ingest.csv_stream import (  # noqa: F401 — _may_hold_unclosed_quote: tests use it from here
    ArrowCsvStream,
    _may_hold_unclosed_quote,
    header_cells,
    separator_for,
)
from pipeline.ingest.file_streams import open_text
from pipeline.ingest.raw_table import RECORD_CHARS_FLOOR, ROW, RawTable, RowReject, max_record_chars
from pipeline.ingest.sources import SourceFile

csv.field_size_limit(sys.maxsize)
EXACT_BATCH_ROWS = 50_000


def read_csv(source: SourceFile, options, max_cell_chars: int = 0) -> RawTable:
    max_chars = max_record_chars(max_cell_chars)
    fast = _read_csv_arrow(source, options, max_chars)
    return fast if fast is not None else _read_csv_exact(source, options, max_chars)


def _read_csv_arrow(source: SourceFile, options, max_chars: int = RECORD_CHARS_FLOOR) -> RawTable | None:
    """The whole file on Arrow's path (csv_stream.py), or None when Arrow's reading does not stand."""
    stream = ArrowCsvStream(source, options, max_chars)
    frames = list(stream)
    if not stream.stands():
        return None
    frame = pl.concat(frames, rechunk=False) if len(frames) > 1 else frames[0]
    return RawTable(source, frame, [], frame.height)


def _read_csv_exact(source: SourceFile, options, max_chars: int = RECORD_CHARS_FLOOR) -> RawTable:
    sep, skip = separator_for(source, options), options.skip_rows
    with open_text(source, options.encoding, options.encoding_errors, newline="") as text:
        for skipped in range(skip):
            if not text.readline():
                raise UserError(f"{source.path}: csv.skip_rows is {skip} but the file has only {skipped} lines")
        lines = _Lines(text, skip, max_chars)
        reader = csv.reader(lines, delimiter=sep, quotechar=options.quote, strict=True)
        try:
            header = _read_header(reader, source, options, sep) if options.has_header else None
        except _RecordTooLong:
            raise UserError(f"{source.path}: the header line (line {skip + 1}) runs over {max_chars:,} characters: "
                            f"not a CSV header. Check that this is the export you meant") from None
        rows: list[list[str]] = []
        row_numbers: list[int] = []
        frames: list[pl.DataFrame] = []  # the records, EXACT_BATCH_ROWS at a time: no Python lists of all
        rejects: list[RowReject] = []
        n = 0
        width = len(header) if header else None
        while True:
            lines.start_record()
            line = lines.next_line
            try:
                record = next(reader)
            except StopIteration:
                break
            except _RecordTooLong:
                n += 1
                if lines.record_spans_lines():  # a quote open for longer than any record: resync
                    rejects.append(_unclosed_quote(n, line, lines, f"over {max_chars:,} characters"))
                    reader = lines.resync(reader)
                else:
                    rejects.append(RowReject(n, "record_too_large",
                                             f"line {line}: over {max_chars:,} characters without a line break; "
                                             f"skipped unread (a damaged export? set max_cell_chars above "
                                             f"{max_chars // 8:,} if records this long are real)"))
                    reader = lines.skip_rest_of_line(reader)
                continue
            except csv.Error as e:
                n += 1
                if lines.record_spans_lines() or lines.at_end:
                    rejects.append(_unclosed_quote(n, line, lines, str(e)))
                    reader = lines.resync(reader)
                else:
                    rejects.append(RowReject(n, "malformed_csv", f"line {line}: {e}"))
                continue
            if not record:  # a blank line is not a record
                continue
            n += 1
            if record_is_marker(record, sep):
                rejects.append(RowReject(n, "merge_conflict_marker",
                                         f"line {line}: git merge-conflict marker {sep.join(record)!r}, not a "
                                         f"record (resolve the conflict in the file to keep both sides right)"))
                continue
            if width is None:
                width, header = len(record), [f"column_{i + 1}" for i in range(len(record))]
            if options.has_header and len(record) == width and header_cells(record) == header:
                rejects.append(RowReject(n, "repeated_header",
                                         f"line {line}: repeats the header line (files concatenated?), not a "
                                         f"record"))
                continue
            if len(record) != width:
                if lines.record_spans_lines():
                    rejects.append(_unclosed_quote(n, line, lines, f"{len(record)} fields where the header has "
                                                                   f"{width}"))
                    reader = lines.resync(reader)
                    continue
                rejects.append(RowReject(
                    n, "malformed_csv",
                    f"line {line}: {len(record)} fields where the header has {width} "
                    f"(check separator {sep!r} and quoting)"))
                continue
            rows.append(record)
            row_numbers.append(n)
            if len(rows) >= EXACT_BATCH_ROWS:
                frames.append(_frame_of(header, rows, row_numbers))
                rows, row_numbers = [], []
    if n == 0:
        raise UserError(f"{source.path}: no data rows below the header")
    if rows or not frames:
        frames.append(_frame_of(header or [], rows, row_numbers))
    return RawTable(source, pl.concat(frames, rechunk=False) if len(frames) > 1 else frames[0], rejects, n)


def _frame_of(header: list[str], rows: list[list[str]], row_numbers: list[int]) -> pl.DataFrame:
    cols = {name: [r[i] for r in rows] for i, name in enumerate(header)}
    return pl.DataFrame({**cols, ROW: row_numbers}, schema={**{h: pl.Utf8 for h in header}, ROW: pl.Int64})


def _unclosed_quote(n: int, line: int, lines: _Lines, problem: str) -> RowReject:
    end = "the end of the file" if lines.at_end else f"line {lines.next_line - 1}"
    return RowReject(n, "unclosed_quote",
                     f"line {line}: a quoted field opened on this line runs to {end} and the record read so far "
                     f"is not valid ({problem}); this line is rejected and reading goes on from line {line + 1} "
                     f"(close or double the quote character in the file)")


class _RecordTooLong(Exception):
    """The record being read ran over the reader's limit (raised by _Lines through the csv reader)."""


class _Lines:
    """The physical lines the `csv` reader reads, numbered, with those of the record being read kept so a
    record broken by an unclosed quote can be given back: its first line is rejected and the others are
    read again as records of their own (`resync`), so no row disappears into one cell. A record of more
    than `max_chars` characters raises _RecordTooLong before the csv reader sees the line that overflows."""

    def __init__(self, text, skipped: int, max_chars: int):
        self._text, self._max_chars = text, max_chars
        self._given_back: list[str] = []  # lines to read again, last first
        self._taken: list[str] = []  # lines of the record being read
        self._taken_chars = 0
        self.next_line = skipped + 1  # physical line number of the next line served
        self.at_end = False

    def __iter__(self):
        return self

    def __next__(self) -> str:
        line = self._given_back.pop() if self._given_back else self._text.readline(self._max_chars + 1)
        if not line:
            self.at_end = True
            raise StopIteration
        self._taken.append(line)
        self._taken_chars += len(line)
        self.next_line += 1
        if self._taken_chars > self._max_chars:
            raise _RecordTooLong
        return line

    def start_record(self) -> None:
        self._taken, self._taken_chars = [], 0

    def skip_rest_of_line(self, reader):
        """Read past the rest of the (too long) line last served, in pieces; a fresh reader reads on."""
        piece = self._taken[-1]
        while piece and not piece.endswith(("\n", "\r")):
            piece = self._text.readline(self._max_chars)
        self.at_end = not piece
        self.start_record()
        return csv.reader(self, dialect=reader.dialect)

    def record_spans_lines(self) -> bool:
        return len(self._taken) > 1

    def resync(self, reader):
        """Give back every line of the record but its first; a fresh reader (same dialect) reads on."""
        again = self._taken[1:]
        self._given_back.extend(reversed(again))
        self.next_line -= len(again)
        self.at_end = False
        self.start_record()
        return csv.reader(self, dialect=reader.dialect)


def first_record(reader, source: SourceFile, options, sep: str) -> list[str]:
    """The record on the header line (after csv.skip_rows); a git conflict marker there stops the run."""
    try:
        record = next(reader)
    except (StopIteration, csv.Error) as e:
        raise UserError(f"{source.path}: cannot read the header line: {e or 'the file has no lines'}") from None
    if record_is_marker(record, sep):
        raise marker_above_header(source, options, options.skip_rows + 1)
    return record


def _read_header(reader, source: SourceFile, options, sep: str) -> list[str]:
    header = header_cells(first_record(reader, source, options, sep))
    if not any(header):
        raise UserError(f"{source.path}: the header line is empty; set csv.has_header: false if the file has none")
    dup = sorted(h for h, count in Counter(header).items() if count > 1)
    if dup:
        raise UserError(f"{source.path}: header has duplicate column names: {', '.join(dup)}")
    return header
