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
import re
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import polars as pl

from pipeline.errors import UserError
from pipeline.ingest.binary_sniff import has_control_bytes, scan_for_binary
from pipeline.ingest.conflict_markers import marker_above_header, record_is_marker
from pipeline.ingest.file_streams import compression_of, is_utf8, open_bytes, open_text
from pipeline.ingest.raw_table import RECORD_CHARS_FLOOR, ROW, RawTable, RowReject, max_record_chars
from pipeline.ingest.sources import SourceFile

csv.field_size_limit(sys.maxsize)
# Arrow's streaming reader reads up to 32 blocks ahead of the batches taken: with 8 MiB blocks a file it
# does not finish (binary data, a row it cannot parse) costs at most 256 MiB of read-ahead (64 MiB blocks
# read a 2 GB file whole); a row longer than a block goes to the exact path. As fast as 64 MiB on the bench.
CSV_BLOCK_BYTES = 8 << 20
BOM = "\ufeff"
EXACT_BATCH_ROWS = 50_000
SUSPECT_CELL_LINES = 200  # a cell of more lines sends a file to the exact path (an unclosed quote?)
MARKER_START = r"^(?:<{7}|={7}|>{7}|\|{7})"  # polars regex: where a git conflict marker line starts


def separator_for(source: SourceFile, options) -> str:
    """csv.separator, or by default a tab for .tsv data and ',' otherwise."""
    if options.separator is not None:
        return options.separator
    return "\t" if source.data_name.lower().endswith(".tsv") else ","


def read_csv(source: SourceFile, options, max_cell_chars: int = 0) -> RawTable:
    max_chars = max_record_chars(max_cell_chars)
    fast = _read_csv_arrow(source, options, max_chars)
    return fast if fast is not None else _read_csv_exact(source, options, max_chars)


def header_cells(record: list[str]) -> list[str]:
    cells = [h.strip() for h in record]
    if cells:
        cells[0] = cells[0].lstrip(BOM).strip()
    return cells


def _read_csv_arrow(source: SourceFile, options, max_chars: int = RECORD_CHARS_FLOOR) -> RawTable | None:
    if not is_utf8(options.encoding) or not options.has_header or options.skip_rows:
        return None
    import pyarrow as pa
    import pyarrow.csv as pacsv

    sep = separator_for(source, options)
    with open_text(source, "utf-8", "replace", newline="") as f:
        reader = csv.reader(f, delimiter=sep, quotechar=options.quote)
        try:
            raw_header = next(reader)
        except (StopIteration, csv.Error):
            return None
        header = header_cells(raw_header)
        if (reader.line_num != 1 or not all(header) or len(set(header)) != len(header)
                or record_is_marker(header, sep) or any("\ufffd" in h for h in header)):
            return None  # unusual header (or undecodable bytes in it): let the exact path explain it
    # a record that may be a conflict marker or the header again (checked on the first column only,
    # cheap next to parsing): the exact path decides
    first = pl.nth(0)  # by position: a column may be named like a polars pattern ("*", "^a$")
    header_again = dict.fromkeys([header[0], raw_header[0], BOM + raw_header[0]])
    maybe_not_a_record = first.str.contains(MARKER_START) | pl.any_horizontal(first == h for h in header_again)
    # streamed block by block, each block turned into polars at once, so Arrow's copy of the file and
    # polars' are never both whole in memory
    frames = []
    with _arrow_input(source) as data:
        try:
            reader = pacsv.open_csv(
                data,
                read_options=pacsv.ReadOptions(column_names=header, skip_rows=1, block_size=CSV_BLOCK_BYTES),
                # no invalid_row_handler: Arrow decodes an invalid row's text as strict UTF-8 before calling it,
                # and prints "Exception ignored … Traceback" for a non-UTF-8 row; an invalid row is ArrowInvalid
                parse_options=pacsv.ParseOptions(delimiter=sep, quote_char=options.quote, newlines_in_values=True),
                convert_options=pacsv.ConvertOptions(column_types={h: pa.string() for h in header},
                                                     strings_can_be_null=False, quoted_strings_can_be_null=False),
            )
            scanned = False
            for batch in reader:
                if not scanned and has_control_bytes(batch):
                    scan_for_binary(source, options.encoding)  # stops at binary data; else reads on
                    scanned = True
                frame = pl.from_arrow(batch)
                if frame.height and frame.select(maybe_not_a_record.any()).item():
                    return None
                frames.append(frame)
        except (pa.ArrowInvalid, pa.ArrowException, OSError):
            return None
        finally:
            pa.default_memory_pool().release_unused()
    if not frames or sum(f.height for f in frames) == 0:
        return None
    if _may_hold_unclosed_quote(frames, sep) and not (_records_under(frames, max_chars // 2)
                                                      and _quoting_is_clean(source, options, sep, len(header))):
        return None
    frame = pl.concat(frames, rechunk=False) if len(frames) > 1 else frames[0]
    frame = frame.with_row_index(ROW, offset=1).with_columns(pl.col(ROW).cast(pl.Int64))
    return RawTable(source, frame.select(pl.nth([*range(1, frame.width), 0])), [], frame.height)  # row number last


def _may_hold_unclosed_quote(frames: list[pl.DataFrame], sep: str) -> bool:
    """Arrow takes a quoted field that runs to the end of the file, or to a stray quote lines later, as
    one cell. Suspect (the exact path rejects the line whose quote never closes, `unclosed_quote`, and
    reads on): a cell of the last record holding a line break, a cell of more than SUSPECT_CELL_LINES
    lines, or a cell with a line (after a break) holding as many separators as a record: records
    swallowed by a quote (Arrow drops the stray quote that closed it). A suspect file goes to the exact
    path unless _quoting_is_clean shows no quote went wrong."""
    def multiline(frame: pl.DataFrame, suspect) -> bool:
        return bool(frame.height) and frame.select(pl.any_horizontal(
            suspect(pl.nth(i)) for i in range(frame.width)).any()).item()

    record_line = "\n[^\n]*" + f"(?:{re.escape(sep)}[^\n]*){{{max(frames[-1].width - 1, 1)}}}"
    if multiline(frames[-1].tail(1), lambda c: c.str.contains("\n", literal=True)):
        return True
    return any(multiline(f, lambda c: (c.str.count_matches("\n", literal=True) > SUSPECT_CELL_LINES)
                         | c.str.contains(record_line))
               for f in frames)


def _records_under(frames: list[pl.DataFrame], chars: int) -> bool:
    """Every record's cells hold fewer than `chars` characters in all (half the exact path's record limit:
    a record's line(s) in the file, quotes doubled, stay under the limit; a longer one, the exact path
    reads or rejects)."""
    return all(f.select(pl.sum_horizontal(pl.all().str.len_chars()).max()).item() < chars for f in frames)


def _quoting_is_clean(source: SourceFile, options, sep: str, width: int) -> bool:
    """Whether the csv module (strict, as the exact path reads) parses the whole file without an error and
    into records of `width` fields only (blank lines aside). Then no quote is unclosed or closed by a stray
    quote, so the exact path would reject nothing Arrow read, and Arrow's table stands. One pass at C speed
    (~1 CPU-second per million records, a third of the exact path's), only for files whose cells look like
    swallowed records: real prose with line breaks and commas looks like that too."""
    with open_text(source, "utf-8", "replace", newline="") as f:
        reader = csv.reader(f, delimiter=sep, quotechar=options.quote, strict=True)
        try:
            widths = Counter(map(len, reader))
        except csv.Error:
            return False
    widths.pop(0, None)  # a blank line is no record on either path
    return set(widths) <= {width}


@contextmanager
def _arrow_input(source: SourceFile) -> Iterator:
    """What Arrow reads: a plain file by its path (natively), anything else as a stream."""
    if source.member is None and compression_of(source.file) is None:
        yield source.file
    else:
        with open_bytes(source) as f:
            yield f


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
