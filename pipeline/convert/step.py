"""The read + convert step: every source read and checked (pipeline/ingest, pipeline/ingest/raw_checks.py),
its metadata tables joined, then converted layout by layout (convert_table) and filtered by the input's
`where:`, the examples written part by part. The runner checkpoints what this returns."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl

from pipeline.convert import Converted, convert_table
from pipeline.convert.message_stream import NotGrouped, convert_streamed, open_stream, streams
from pipeline.convert.metadata_join import filter_examples, join_metadata
from pipeline.convert.sink import ConversionSink
from pipeline.engine.executor import Executor, SerialExecutor
from pipeline.engine.parts import PartWriter
from pipeline.engine.records import EXAMPLE_SCHEMA, INPUT_SPLIT, empty_rejects, rejects_frame
from pipeline.errors import InternalInvariantError
from pipeline.ingest import RawTable, SourceFile, read_table
from pipeline.ingest.csv_stream import ArrowCsvStream
from pipeline.ingest.raw_checks import check_raw_table, coerce_scalars
from pipeline.ingest.readers import ROW


def metadata_columns(config) -> list[str]:
    """Every input's metadata columns: each becomes a `meta.<name>` column of the examples."""
    return sorted({m for inp in config.inputs for m in inp.metadata})


def example_schema(config) -> dict:
    """The columns of the examples this step writes (`input_split` only when some input sets `split:`)."""
    assigned = any(inp.split != "auto" for inp in config.inputs)
    return {**EXAMPLE_SCHEMA, **{f"meta.{m}": pl.Utf8 for m in metadata_columns(config)},
            **({INPUT_SPLIT: pl.Utf8} if assigned else {})}


@dataclass
class _SourceRead:
    """One source read whole (or, `stream` set, to be read while it is converted)."""
    src: SourceFile
    inp: object
    table: RawTable | None = None
    bad_cells: list = field(default_factory=list)
    joins: tuple = ([], [])
    stream: ArrowCsvStream | None = None


def read_and_convert(config, sources: list[SourceFile], writer: PartWriter, say: Callable[[str], None],
                     executor: Executor | None = None):
    """Read every source (all before any conversion, but for large messages-layout CSVs, which are read
    while they are converted: message_stream.py; their header is checked here first), then convert them
    one by one (the messages layout's conversations as tasks on `executor`); examples go to
    `writer` (with the columns of `example_schema`) part by part as they are built, after the input's
    `where:` filter. Returns (rejects, universe, stage_stats, source_stats): the ingest and convert
    rejects, every source row read (source_file, row), the ingest and convert steps' stats (the convert
    step's counts per fact name, e.g. dropped_message_keys, under `facts`), per-source stats."""
    meta_columns = metadata_columns(config)
    t_read = time.perf_counter()
    reads = []
    for src in sources:
        inp = config.inputs[src.input_index]
        stream = open_stream(src, inp) if streams(src, inp) else None
        reads.append(_SourceRead(src, inp, stream=stream) if stream else _read_whole(src, inp, say))
    read_seconds = time.perf_counter() - t_read
    reject_parts, universe_parts, source_stats = [], [], []
    read_rows = 0
    convert_counts: dict[str, int] = {}
    convert_facts: dict[str, dict[str, int]] = {}
    convert_seconds = 0.0
    for i, read in enumerate(reads):
        reads[i] = None  # (this loop's `read` is the last reference: the raw table goes with it)
        src, inp = read.src, read.inp
        t = time.perf_counter()
        done = None
        if read.stream is not None:
            done = _convert_streamed(read, config, meta_columns, writer, executor)
            if done is None:
                say(f"{src.path}: read again whole (its conversations' rows are not together, or Arrow's "
                    f"reading did not stand)")
                read_seconds += time.perf_counter() - t
                t = time.perf_counter()
                read = _read_whole(src, inp, say)
            else:
                say(f"read {src.path} while converting it: {done[3]:,} rows")
        if done is None:
            done = _convert_whole(read, config, meta_columns, writer, executor)
        reading = done[-1]  # a streamed source's seconds of reading count as ingest
        read_seconds += reading
        convert_seconds += time.perf_counter() - t - reading
        row_rejects, converted, universe_rows, n_rows, where, _ = done
        for k, v in converted.counts.items():
            convert_counts[k] = convert_counts.get(k, 0) + v
        for name, counts in converted.facts.items():
            fact = convert_facts.setdefault(name, {})
            for k, v in counts.items():
                fact[k] = fact.get(k, 0) + v
        reject_parts += [rejects_frame(row_rejects), converted.rejects]
        universe_parts.append(pl.DataFrame({"source_file": pl.Series([src.path], dtype=pl.Utf8).new_from_index(
            0, len(universe_rows)), "row": universe_rows}))
        read_rows += n_rows
        join_facts, where_facts = read.joins[1], where.facts
        source_stats.append({"file": src.path, "input": inp.name or inp.path, "layout": inp.layout,
                             "format": src.format, "rows": n_rows, "examples": where.kept,
                             "unreadable_rows": sum(r["stage"] == "ingest" for r in row_rejects),
                             **({"split": inp.split} if inp.split != "auto" else {}),
                             **({"metadata": {"joins": join_facts, "where": where_facts}}
                                if join_facts or where_facts else {})})
        read = done = converted = None  # the raw table is no longer needed: free it now
    rejects = pl.concat(reject_parts, how="vertical") if reject_parts else empty_rejects()
    universe = pl.concat(universe_parts)
    if universe.height != read_rows:
        raise InternalInvariantError(f"ingest counted {read_rows} rows but numbered {universe.height}")
    ingest_drops = rejects.filter(pl.col("stage") == "ingest")
    convert_drops = rejects.filter(pl.col("stage") == "convert")
    stage_stats = [
        {"name": "ingest", "unit": "rows", "in": read_rows, "out": read_rows - ingest_drops.height,
         "dropped": dict(sorted(ingest_drops.group_by("reason").len().iter_rows())),
         "seconds": round(read_seconds, 3)},
        {"name": "convert", "unit": "rows→examples", "in": read_rows - ingest_drops.height,
         "out": sum(writer.heights),
         "dropped": dict(sorted(convert_drops.group_by("reason").len().iter_rows())), "changes": convert_counts,
         "seconds": round(convert_seconds, 3),
         **({"facts": {k: dict(sorted(v.items())) for k, v in convert_facts.items()}} if convert_facts else {})},
    ]
    return rejects, universe, stage_stats, source_stats


def _read_whole(src: SourceFile, inp, say) -> _SourceRead:
    table = read_table(src, inp.csv, inp.max_cell_chars)
    table.frame = coerce_scalars(table.frame, inp)
    table.frame, join_rejects, join_facts = join_metadata(table.frame, inp, src.input_index, src.path)
    bad_cells = check_raw_table(table.frame, inp, src.input_index, src.path)
    say(f"read {src.path}: {table.n_rows:,} rows")
    return _SourceRead(src, inp, table, bad_cells, (join_rejects, join_facts))


def _convert_whole(read: _SourceRead, config, meta_columns, writer: PartWriter, executor):
    """(row rejects, Converted, every row number, rows read, the where filter, 0.0) of a source read whole."""
    src, inp, table = read.src, read.inp, read.table
    row_rejects = [_row_reject(src.path, r.row, r.reason, r.detail) for r in table.rejects]
    bad_rows = {row for row, _, _ in read.bad_cells}
    row_rejects += [_row_reject(src.path, row, reason, detail) for row, reason, detail in read.bad_cells]
    join_rejects = [r for r in read.joins[0] if r["source_rows"][0] not in bad_rows]
    bad_rows |= {r["source_rows"][0] for r in join_rejects}
    frame = table.frame.filter(~pl.col(ROW).is_in(list(bad_rows))) if bad_rows else table.frame
    where = _WhereFilter(inp, src.input_index, writer)
    converted = convert_table(frame, src.path, inp, src.input_index, config.convert, meta_columns,
                              executor, on_examples=where.take)
    converted.rejects = pl.concat([converted.rejects, *where.excluded], how="vertical")
    all_rows = pl.concat([table.frame[ROW].cast(pl.Int64),
                          pl.Series([r.row for r in table.rejects], dtype=pl.Int64)]).sort()
    return row_rejects + join_rejects, converted, all_rows, table.n_rows, where, 0.0


def _convert_streamed(read: _SourceRead, config, meta_columns, writer: PartWriter, executor):
    """As _convert_whole, for a source read while it is converted (the last item: seconds spent reading);
    None when it must be read whole after all (nothing it wrote is kept)."""
    src, inp = read.src, read.inp
    mark = writer.mark()
    where = _WhereFilter(inp, src.input_index, writer)
    sink = ConversionSink(src.path, config.convert, [m for m in meta_columns if m in inp.metadata])
    sink.on_examples = where.take
    reading = _TimedIterator(read.stream)
    try:
        seen = convert_streamed(reading, src, inp, sink, executor or SerialExecutor())
    except NotGrouped:
        read.stream.close()
        writer.rollback(mark)
        return None
    if not read.stream.stands():
        writer.rollback(mark)
        return None
    row_rejects = [_row_reject(src.path, r.row, r.reason, r.detail) for r in seen.huge]
    row_rejects += [_row_reject(src.path, row, reason, detail) for row, reason, detail in seen.bad_cells]
    sink.rejects = seen.convert_rejects()
    rejects = pl.concat([rejects_frame(sink.rejects), *sink.reject_frames, *where.excluded], how="vertical")
    converted = Converted(None, rejects, seen.counts_in_order(sink.counts), {k: v for k, v in sink.facts.items() if v})
    rows = pl.concat(seen.row_numbers) if seen.row_numbers else pl.Series([], dtype=pl.Int64)
    return row_rejects, converted, rows, seen.n_rows, where, reading.seconds


def _row_reject(path: str, row: int, reason: str, detail: str) -> dict:
    return {"stage": "ingest", "reason": reason, "detail": detail, "source_file": path, "source_rows": [row]}


class _TimedIterator:
    """Iterates `items`, adding up the seconds spent waiting for each one (the reading, when items are
    read as they are asked for)."""

    def __init__(self, items):
        self._items, self.seconds = iter(items), 0.0

    def __iter__(self):
        return self

    def __next__(self):
        t = time.perf_counter()
        try:
            return next(self._items)
        finally:
            self.seconds += time.perf_counter() - t


class _WhereFilter:
    """Applies an input's `where:` to each converted part and passes the kept rows on (tagged with the
    input's `split:` when it is not auto)."""

    def __init__(self, inp, index: int, writer: PartWriter):
        self.inp, self.index, self.writer = inp, index, writer
        self.excluded: list[pl.DataFrame] = []
        self.kept = 0
        self.facts = {"where": inp.where, "examples_in": 0, "excluded": 0} if inp.where else None

    def take(self, frame: pl.DataFrame) -> None:
        kept, excluded, facts = filter_examples(frame, self.inp, self.index)
        if excluded.height:
            self.excluded.append(excluded)
        if facts:
            self.facts["examples_in"] += facts["examples_in"]
            self.facts["excluded"] += facts["excluded"]
        self.kept += kept.height
        if self.inp.split != "auto":  # the split stage sends these examples where the input asks
            kept = kept.with_columns(pl.lit(self.inp.split, pl.Utf8).alias(INPUT_SPLIT))
        self.writer.add(kept)
