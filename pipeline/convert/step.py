"""The read + convert step: every source read and checked (pipeline/ingest, pipeline/ingest/raw_checks.py),
its metadata tables joined, then converted layout by layout (convert_table) and filtered by the input's
`where:`, the examples written part by part. The runner checkpoints what this returns."""

from __future__ import annotations

import time
from collections.abc import Callable

import polars as pl

from pipeline.convert import convert_table
from pipeline.convert.metadata_join import filter_examples, join_metadata
from pipeline.engine.executor import Executor
from pipeline.engine.parts import PartWriter
from pipeline.engine.records import EXAMPLE_SCHEMA, INPUT_SPLIT, empty_rejects, rejects_frame
from pipeline.errors import InternalInvariantError
from pipeline.ingest import SourceFile, read_table
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


def read_and_convert(config, sources: list[SourceFile], writer: PartWriter, say: Callable[[str], None],
                     executor: Executor | None = None):
    """Read every source (all before any conversion), then convert them one by one (the messages layout's
    conversations as tasks on `executor`); examples go to
    `writer` (with the columns of `example_schema`) part by part as they are built, after the input's
    `where:` filter. Returns (rejects, universe, stage_stats, source_stats): the ingest and convert
    rejects, every source row read (source_file, row), the ingest and convert steps' stats (the convert
    step's counts per fact name, e.g. dropped_message_keys, under `facts`), per-source stats."""
    meta_columns = metadata_columns(config)
    t_read = time.perf_counter()
    tables = []
    for src in sources:
        inp = config.inputs[src.input_index]
        table = read_table(src, inp.csv, inp.max_cell_chars)
        table.frame = coerce_scalars(table.frame, inp)
        table.frame, join_rejects, join_facts = join_metadata(table.frame, inp, src.input_index, src.path)
        bad_cells = check_raw_table(table.frame, inp, src.input_index, src.path)
        tables.append((src, inp, table, bad_cells, (join_rejects, join_facts)))
        say(f"read {src.path}: {table.n_rows:,} rows")
    read_seconds = time.perf_counter() - t_read
    t_convert = time.perf_counter()
    reject_parts, universe_parts, source_stats = [], [], []
    read_rows = 0
    convert_counts: dict[str, int] = {}
    convert_facts: dict[str, dict[str, int]] = {}
    for src, inp, table, bad_cells, (join_rejects, join_facts) in tables:
        row_rejects = [{"stage": "ingest", "reason": r.reason, "detail": r.detail, "source_file": src.path,
                        "source_rows": [r.row]} for r in table.rejects]
        bad_rows = {row for row, _, _ in bad_cells}
        row_rejects += [{"stage": "ingest", "reason": reason, "detail": detail, "source_file": src.path,
                         "source_rows": [row]} for row, reason, detail in bad_cells]
        join_rejects = [r for r in join_rejects if r["source_rows"][0] not in bad_rows]
        bad_rows |= {r["source_rows"][0] for r in join_rejects}
        frame = table.frame.filter(~pl.col(ROW).is_in(list(bad_rows))) if bad_rows else table.frame
        where = _WhereFilter(inp, src.input_index, writer)
        converted = convert_table(frame, src.path, inp, src.input_index, config.convert, meta_columns,
                                  executor, on_examples=where.take)
        converted.rejects = pl.concat([converted.rejects, *where.excluded], how="vertical")
        where_facts = where.facts
        for k, v in converted.counts.items():
            convert_counts[k] = convert_counts.get(k, 0) + v
        for name, counts in converted.facts.items():
            fact = convert_facts.setdefault(name, {})
            for k, v in counts.items():
                fact[k] = fact.get(k, 0) + v
        reject_parts += [rejects_frame(row_rejects), rejects_frame(join_rejects), converted.rejects]
        all_rows = pl.concat([table.frame[ROW].cast(pl.Int64),
                              pl.Series([r.row for r in table.rejects], dtype=pl.Int64)]).sort()
        universe_parts.append(pl.DataFrame({"source_file": pl.Series([src.path], dtype=pl.Utf8).new_from_index(0, len(all_rows)),
                                            "row": all_rows}))
        read_rows += table.n_rows
        source_stats.append({"file": src.path, "input": inp.name or inp.path, "layout": inp.layout,
                             "format": src.format, "rows": table.n_rows, "examples": where.kept,
                             "unreadable_rows": len(row_rejects),
                             **({"split": inp.split} if inp.split != "auto" else {}),
                             **({"metadata": {"joins": join_facts, "where": where_facts}}
                                if join_facts or where_facts else {})})
        table.frame = frame = converted = None  # the raw table is no longer needed: free it now
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
         "seconds": round(time.perf_counter() - t_convert, 3),
         **({"facts": {k: dict(sorted(v.items())) for k, v in convert_facts.items()}} if convert_facts else {})},
    ]
    return rejects, universe, stage_stats, source_stats


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
