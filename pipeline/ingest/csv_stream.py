"""Arrow's CSV parser as a stream of row batches: the fast path of csv_reader.py, readable batch by batch so
a caller can convert rows while the file is still being read (pipeline/convert/step.py does, for large
files), or whole (csv_reader._read_csv_arrow).

Arrow's reading stands only when the whole file passed: no record that may be a conflict marker or the
header again, no Arrow error, and no sign of an unclosed quote (or the csv module's strict pass finds the
quoting clean). A stream that gives up stops yielding and says so (`gave_up`); whether a finished one
stands, `stands()` says. A caller that used the batches and gets False reads the file again on the exact
path, as if nothing had been read.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager

import polars as pl

from pipeline.ingest.binary_sniff import has_control_bytes, scan_for_binary
from pipeline.ingest.conflict_markers import record_is_marker
from pipeline.ingest.file_streams import compression_of, is_utf8, open_bytes, open_text
from pipeline.ingest.raw_table import RECORD_CHARS_FLOOR, ROW
from pipeline.ingest.sources import SourceFile

# Arrow's streaming reader reads up to 32 blocks ahead of the batches taken: with 8 MiB blocks a file it
# does not finish (binary data, a row it cannot parse) costs at most 256 MiB of read-ahead (64 MiB blocks
# read a 2 GB file whole); a row longer than a block goes to the exact path. As fast as 64 MiB on the bench.
CSV_BLOCK_BYTES = 8 << 20
BOM = "\ufeff"
SUSPECT_CELL_LINES = 200  # a cell of more lines sends a file to the exact path (an unclosed quote?)
MARKER_START = r"^(?:<{7}|={7}|>{7}|\|{7})"  # polars regex: where a git conflict marker line starts


def separator_for(source: SourceFile, options) -> str:
    """csv.separator, or by default a tab for .tsv data and ',' otherwise."""
    if options.separator is not None:
        return options.separator
    return "\t" if source.data_name.lower().endswith(".tsv") else ","


def header_cells(record: list[str]) -> list[str]:
    cells = [h.strip() for h in record]
    if cells:
        cells[0] = cells[0].lstrip(BOM).strip()
    return cells


class ArrowCsvStream:
    """Iterate for the file's records as polars frames (the header's columns, all text, then ROW: 1-based
    record numbers), in file order. `header` is None when Arrow cannot read this file at all (then nothing
    is yielded and `stands()` is False)."""

    def __init__(self, source: SourceFile, options, max_chars: int = RECORD_CHARS_FLOOR,
                 block_bytes: int = CSV_BLOCK_BYTES):
        self.source, self.options, self.max_chars, self.block_bytes = source, options, max_chars, block_bytes
        self.sep = separator_for(source, options)
        self.gave_up = False
        self.rows = 0
        self._suspect = False  # some batch looks like records swallowed by an unclosed quote
        self._all_under = True  # every record's cells hold under max_chars // 2 characters
        self._last: pl.DataFrame | None = None
        self._quoting: Future | None = None
        self._threads: ThreadPoolExecutor | None = None
        self.raw_header, self.header = self._read_header()

    def _read_header(self) -> tuple[list[str] | None, list[str] | None]:
        if not is_utf8(self.options.encoding) or not self.options.has_header or self.options.skip_rows:
            return None, None
        with open_text(self.source, "utf-8", "replace", newline="") as f:
            reader = csv.reader(f, delimiter=self.sep, quotechar=self.options.quote)
            try:
                raw_header = next(reader)
            except (StopIteration, csv.Error):
                return None, None
            header = header_cells(raw_header)
            if (reader.line_num != 1 or not all(header) or len(set(header)) != len(header)
                    or record_is_marker(header, self.sep) or any("\ufffd" in h for h in header)):
                return None, None  # unusual header (or undecodable bytes in it): let the exact path explain it
        return raw_header, header

    def __iter__(self) -> Iterator[pl.DataFrame]:
        if self.header is None:
            self.gave_up = True
            return
        import pyarrow as pa
        import pyarrow.csv as pacsv

        header, raw_header = self.header, self.raw_header
        # a record that may be a conflict marker or the header again (checked on the first column only,
        # cheap next to parsing): the exact path decides
        first = pl.nth(0)  # by position: a column may be named like a polars pattern ("*", "^a$")
        header_again = dict.fromkeys([header[0], raw_header[0], BOM + raw_header[0]])
        maybe_not_a_record = first.str.contains(MARKER_START) | pl.any_horizontal(first == h for h in header_again)
        # streamed block by block, each block turned into polars at once, so Arrow's copy of the file and
        # polars' are never both whole in memory
        with _arrow_input(self.source) as data:
            try:
                reader = pacsv.open_csv(
                    data,
                    read_options=pacsv.ReadOptions(column_names=header, skip_rows=1, block_size=self.block_bytes),
                    # no invalid_row_handler: Arrow decodes an invalid row's text as strict UTF-8 before calling
                    # it, and prints "Exception ignored … Traceback" for a non-UTF-8 row; an invalid row is
                    # ArrowInvalid
                    parse_options=pacsv.ParseOptions(delimiter=self.sep, quote_char=self.options.quote,
                                                     newlines_in_values=True),
                    convert_options=pacsv.ConvertOptions(column_types={h: pa.string() for h in header},
                                                         strings_can_be_null=False, quoted_strings_can_be_null=False),
                )
                scanned = False
                for batch in reader:
                    if not scanned and has_control_bytes(batch):
                        scan_for_binary(self.source, self.options.encoding)  # stops at binary data; else reads on
                        scanned = True
                    frame = pl.from_arrow(batch)
                    if not frame.height:
                        continue
                    if frame.select(maybe_not_a_record.any()).item():
                        self.gave_up = True
                        return
                    self._judge(frame)
                    self._last = frame.tail(1)
                    frame = frame.with_columns(pl.int_range(self.rows + 1, self.rows + 1 + frame.height,
                                                            dtype=pl.Int64).alias(ROW))
                    self.rows += frame.height
                    yield frame
            except (pa.ArrowInvalid, pa.ArrowException, OSError):
                self.gave_up = True
            finally:
                pa.default_memory_pool().release_unused()

    def _judge(self, frame: pl.DataFrame) -> None:
        """Note whether this batch looks like records swallowed by a quote, and whether its records are short
        enough for the exact path; the first suspect batch starts the csv module's check of the whole file
        (in a thread, while the reading goes on)."""
        if not self._suspect and _may_hold_unclosed_quote([frame], self.sep, last=False):
            self._suspect = True
            self._start_quoting_check()
        if self._all_under and not _records_under([frame], self.max_chars // 2):
            self._all_under = False

    def _start_quoting_check(self) -> None:
        if self._quoting is None:
            self._threads = ThreadPoolExecutor(1, thread_name_prefix="csv-quoting")
            self._quoting = self._threads.submit(_quoting_is_clean, self.source, self.options, self.sep,
                                                 len(self.header))

    def stands(self) -> bool:
        """After the last batch: whether Arrow's records are the file's (else the exact path reads it)."""
        try:
            if self.gave_up or self.header is None or not self.rows:
                return False
            if self._last is not None and _may_hold_unclosed_quote([self._last], self.sep, middle=False):
                self._suspect = True
            if not self._suspect:
                return True
            if not self._all_under:
                return False
            self._start_quoting_check()
            return self._quoting.result()
        finally:
            self.close()

    def close(self) -> None:
        if self._threads is not None:
            self._threads.shutdown(wait=True)
            self._threads = None


def _may_hold_unclosed_quote(frames: list[pl.DataFrame], sep: str, last: bool = True, middle: bool = True) -> bool:
    """Arrow takes a quoted field that runs to the end of the file, or to a stray quote lines later, as
    one cell. Suspect (the exact path rejects the line whose quote never closes, `unclosed_quote`, and
    reads on): a cell of the last record holding a line break (`last`: frames[-1] ends the file), a cell
    of more than SUSPECT_CELL_LINES lines, or a cell with a line (after a break) holding as many
    separators as a record (`middle`): records swallowed by a quote (Arrow drops the stray quote that
    closed it). A suspect file goes to the exact path unless _quoting_is_clean shows no quote went wrong."""
    def multiline(frame: pl.DataFrame, suspect) -> bool:
        return bool(frame.height) and frame.select(pl.any_horizontal(
            suspect(pl.nth(i)) for i in range(frame.width)).any()).item()

    record_line = "\n[^\n]*" + f"(?:{re.escape(sep)}[^\n]*){{{max(frames[-1].width - 1, 1)}}}"
    if last and multiline(frames[-1].tail(1), lambda c: c.str.contains("\n", literal=True)):
        return True
    return middle and any(multiline(f, lambda c: (c.str.count_matches("\n", literal=True) > SUSPECT_CELL_LINES)
                                    | c.str.contains(record_line))
                          for f in frames)


def _records_under(frames: list[pl.DataFrame], chars: int) -> bool:
    """Every record's cells hold fewer than `chars` characters in all (half the exact path's record limit:
    a record's line(s) in the file, quotes doubled, stay under the limit; a longer one, the exact path
    reads or rejects)."""
    def under(frame: pl.DataFrame) -> bool:  # bytes first (read off Arrow's offsets): a cell has no more
        # characters than bytes, so counting characters is needed only for a record that may be long
        if frame.select(pl.sum_horizontal(pl.all().str.len_bytes()).max()).item() < chars:
            return True
        return frame.select(pl.sum_horizontal(pl.all().str.len_chars()).max()).item() < chars

    return all(under(f) for f in frames)


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
