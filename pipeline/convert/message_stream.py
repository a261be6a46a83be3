"""The `messages` layout converted while its CSV is read: the raw table is never whole in memory.

A large CSV (STREAM_MIN_BYTES or more) of the messages layout, on Arrow's path (pipeline/ingest/csv_stream.py),
is read in row batches. Each batch gets the checks the whole table gets (cells over max_cell_chars, the
raw schema's cell checks, message_where and dropped roles, missing conversation ids); its rows go on to
conversion as soon as their conversations are whole: the conversations of the batch's last rows wait for
the next batch. Tasks hold the same CONVERSATIONS_PER_TASK conversations, in the same order, as when the
table is read whole, and every reject keeps its place, so the outputs are byte-identical.

This holds when each conversation's rows are together in the file (exports are written that way). A
conversation that shows up again after its rows were sent (NotGrouped), or a file Arrow's reading does not
stand for, is read again whole (the caller rolls back what was written): slower, never different.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from pipeline.convert.message_filters import FILTERED, filter_message_rows
from pipeline.convert.messages import CONVERSATIONS_PER_TASK, convert_message_tasks, with_conversation_ids
from pipeline.convert.sink import ConversionSink
from pipeline.ingest import SourceFile
from pipeline.ingest.binary_sniff import check_text_data
from pipeline.ingest.csv_stream import CSV_BLOCK_BYTES, ArrowCsvStream
from pipeline.ingest.raw_checks import check_raw_table, coerce_scalars
from pipeline.ingest.raw_table import ROW, RawTable, RowReject, max_record_chars
from pipeline.ingest.readers import reject_huge_cells

STREAM_MIN_BYTES = 64 << 20  # smaller files are read whole: fast either way, and their memory is small
STREAM_BLOCK_BYTES = CSV_BLOCK_BYTES  # Arrow's block: about 80k message rows of chat text per batch
STREAMED_WORKERS_ITEMS = 1 << 30  # (a streamed file is large: as many workers as the executor has)


class NotGrouped(Exception):
    """A conversation's rows are not together in the file: they must be read whole."""


def streams(src: SourceFile, inp) -> bool:
    """Whether this source is converted while it is read (else read whole first)."""
    return (src.format == "csv" and inp.layout == "messages" and inp.speaker_roles.by == "label"
            and not inp.metadata_join and Path(src.file).stat().st_size >= STREAM_MIN_BYTES)


def open_stream(src: SourceFile, inp) -> ArrowCsvStream | None:
    """Arrow's stream of the file, its header checked against the input's columns (a missing column stops
    the run now, before any work), or None when Arrow cannot read this file (the exact path will)."""
    check_text_data(src, inp.csv.encoding)
    stream = ArrowCsvStream(src, inp.csv, max_record_chars(inp.max_cell_chars), STREAM_BLOCK_BYTES)
    if stream.header is None:
        return None
    empty = pl.DataFrame(schema={**{h: pl.Utf8 for h in stream.header}, ROW: pl.Int64})
    check_raw_table(empty, inp, src.input_index, src.path)
    return stream


@dataclass
class StreamedRows:
    """What the batches of one source leave besides the rows they pass on, in the order the whole table's
    checks would give: reader rejects, bad cells, then convert's row rejects by kind."""

    huge: list[RowReject] = field(default_factory=list)
    bad_cells: list[tuple[int, str, str]] = field(default_factory=list)
    filtered: list[dict] = field(default_factory=list)  # message_where
    dropped_roles: list[dict] = field(default_factory=list)
    missing_ids: list[dict] = field(default_factory=list)
    row_numbers: list[pl.Series] = field(default_factory=list)  # every row read
    n_rows: int = 0
    counts: Counter = field(default_factory=Counter)  # message_where's and dropped roles' counts

    def convert_rejects(self) -> list[dict]:
        return [*self.filtered, *self.dropped_roles, *self.missing_ids]

    def counts_in_order(self, task_counts: Counter) -> Counter:
        """The batches' counts, then the tasks', keys in the order the whole table's conversion adds them."""
        merged = Counter({FILTERED: 0} if FILTERED in self.counts else {})  # (first, as there)
        merged.update(self.counts)
        merged.update(task_counts)
        return merged


def checked_batches(stream: Iterable[pl.DataFrame], src: SourceFile, inp, sink: ConversionSink,
                    seen: StreamedRows) -> Iterator[pl.DataFrame]:
    """Each raw batch through the whole table's checks (the read + convert step's and convert_table's for
    the messages layout): the rows left, with __cid. Rejects and counts are noted in `seen` and `sink`."""
    for frame in stream:
        seen.row_numbers.append(frame[ROW])
        seen.n_rows += frame.height
        table = reject_huge_cells(RawTable(src, frame, [], frame.height), inp.max_cell_chars)
        seen.huge += table.rejects
        frame = coerce_scalars(table.frame, inp)
        bad = check_raw_table(frame, inp, src.input_index, src.path)
        if bad:
            seen.bad_cells += bad
            frame = frame.filter(~pl.col(ROW).is_in([row for row, _, _ in bad]))
        batch = ConversionSink(sink.path, sink.cfg, sink.meta_columns)
        frame = filter_message_rows(frame, inp, src.input_index, batch)
        seen.filtered += [r for r in batch.rejects if r["reason"] == FILTERED]
        seen.dropped_roles += [r for r in batch.rejects if r["reason"] != FILTERED]
        batch.rejects = []
        frame = with_conversation_ids(frame, inp, batch)
        seen.missing_ids += batch.rejects
        seen.counts.update(batch.counts)
        if frame.height:
            yield frame


def conversation_tasks(frames: Iterable[pl.DataFrame], per_task: int | None = None) -> Iterator[pl.DataFrame]:
    """Frames of rows with __cid, in file order -> frames of exactly `per_task` whole conversations (the last
    one fewer), conversations in order of their first row. Raises NotGrouped when a conversation's rows
    come back after the conversation was passed on."""
    per_task = per_task or CONVERSATIONS_PER_TASK
    sent: set[int] = set()  # hashes of the conversations passed on (a collision only costs a whole read)
    carry = pending = None
    for frame in frames:
        ids = frame["__cid"].unique().hash().to_list()
        if not sent.isdisjoint(ids):
            raise NotGrouped
        frame = pl.concat([carry, frame]) if carry is not None else frame
        cut = _whole_conversations(frame["__cid"])
        done, carry = frame.slice(0, cut), frame.slice(cut)
        sent.update(done["__cid"].unique().hash().to_list())
        pending = pl.concat([pending, done]) if pending is not None else done
        while pending["__cid"].n_unique() > per_task:
            task, pending = _first_conversations(pending, per_task)
            yield task
    rest = pl.concat([f for f in (pending, carry) if f is not None and f.height]) if (
        pending is not None or carry is not None) else None
    while rest is not None and rest.height:
        task, rest = _first_conversations(rest, per_task)
        yield task


def _whole_conversations(cid: pl.Series) -> int:
    """The largest n such that the first n rows hold whole conversations, none of them the last row's (its
    conversation may go on in the next batch): no conversation has rows both before and after row n."""
    n = cid.len()
    at = pl.DataFrame({"cid": cid}).with_row_index("i")
    last = at.select(pl.col("i").max().over("cid").cum_max())["i"]  # the latest row of the conversations so far
    tail_start = at.filter(pl.col("cid") == cid[n - 1])["i"][0]  # the first row of the last row's conversation
    cuts = pl.DataFrame({"last": last}).with_row_index("i").filter(
        (pl.col("last") == pl.col("i")) & (pl.col("i") < tail_start))["i"]
    return int(cuts.max()) + 1 if cuts.len() else 0


def _first_conversations(rows: pl.DataFrame, k: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(the rows of the first `k` conversations by first row, the rest), file order kept in both."""
    first = rows["__cid"].unique(maintain_order=True)
    if first.len() <= k:
        return rows, rows.head(0)
    chosen = rows["__cid"].is_in(first.head(k).implode())
    return rows.filter(chosen), rows.filter(~chosen)


def convert_streamed(stream: ArrowCsvStream, src: SourceFile, inp, sink: ConversionSink, executor
                     ) -> StreamedRows:
    """Read, check and convert the whole stream (examples to sink.take as tasks finish). Raises NotGrouped;
    the caller asks stream.stands() afterwards."""
    seen = StreamedRows()
    tasks = conversation_tasks(checked_batches(stream, src, inp, sink, seen))
    convert_message_tasks(tasks, inp, src.input_index, sink, executor,
                          executor.workers_for(STREAMED_WORKERS_ITEMS, STREAMED_WORKERS_ITEMS))
    return seen
