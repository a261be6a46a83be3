"""Metadata tables joined onto an input's rows, and the input's `where:` filter on examples.

inputs[].metadata_join: each table is read like an input (CSV/Parquet/JSON/JSONL), optionally filtered
by its own `where:`, and must then have one row per key. Its listed columns are joined onto the raw
rows by `key` (input column) = `table_key` (table column) and carried as meta.<name> (the config adds them to
`metadata`), so they can drive speaker_roles.column, the split's stratify/group_by, the report and the
input's `where:`. Rows whose key is not in the table keep empty metadata, or are rejected
(unmatched: reject -> reason metadata_missing).

inputs[].where: examples whose metadata do not match are rejected (reason excluded_by_where), with the
values that decided it in the detail.

Facts (in stats.json sources[].metadata): per table path, key, rows, matched / unmatched input rows,
distinct unmatched keys (a sample of up to 20), and per input the where expression and how many
examples it excluded.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from pipeline.convert.where_expressions import where_mask
from pipeline.engine.records import REJECT_SCHEMA, empty_rejects
from pipeline.errors import UserError
from pipeline.ingest import read_table
from pipeline.ingest.readers import ROW
from pipeline.ingest.sources import SourceFile, format_from_name
from schemas.where_syntax import columns_of, parse_where

SAMPLE = 20


def _source(join, key: str, index: int) -> SourceFile:
    p = Path(join.path)
    if not p.is_file():
        raise UserError(f"{key}.path: metadata table not found: {join.path} (relative to {Path.cwd()})")
    fmt = join.format if join.format != "auto" else format_from_name(join.path)
    if fmt is None:
        raise UserError(f"{key}.format: cannot tell the format of {join.path} from its extension; "
                        f"set it to one of csv, parquet, jsonl, json")
    return SourceFile(index, join.path, fmt)


def join_fingerprints(config) -> list[dict]:
    """Fingerprints of every metadata table (part of the ingest checkpoint key)."""
    out = []
    for i, inp in enumerate(config.inputs):
        for j, join in enumerate(inp.metadata_join):
            out.append(_source(join, f"inputs[{i}].metadata_join[{j}]", i).fingerprint())
    return out


def _table(join, key: str, inp, index: int) -> tuple[pl.DataFrame, dict]:
    src = _source(join, key, index)
    raw = read_table(src, join.csv or inp.csv, inp.max_cell_chars)
    table = raw.frame.drop(ROW)
    table_key = join.table_key or join.key
    targets = join.targets()
    for col, what in [(table_key, "table_key"), *((c, "columns") for c in targets)]:
        if col not in table.columns:
            raise UserError(f"{key}.{what}: column {col!r} not found in {join.path}; it has columns: "
                            f"{', '.join(table.columns)}")
    if join.where:
        def resolve(name: str) -> str:
            if name not in table.columns:
                raise UserError(f"{key}.where: column {name!r} not found in {join.path}; it has columns: "
                                f"{', '.join(table.columns)}")
            return name

        table = table.filter(where_mask(table, join.where, resolve))
    table = table.select(pl.col(table_key).cast(pl.Utf8).str.strip_chars().alias("__key"),
                         *[pl.col(c).cast(pl.Utf8).alias(t) for c, t in targets.items()])
    dup = table.filter(pl.col("__key").is_not_null()).group_by("__key").len().filter(pl.col("len") > 1)
    if dup.height:
        k, n = dup.sort("__key").row(0)
        hint = "narrow it with a `where:` that keeps one row per key" if not join.where else "tighten its `where:`"
        raise UserError(f"{key}: {dup.height:,} keys appear more than once in {join.path} column {table_key!r} "
                        f"(e.g. {k!r} x{n}); a metadata table needs one row per key — {hint}")
    facts = {"table": join.path, "key": join.key, "table_key": table_key, "columns": list(targets.values()),
             "table_rows": table.height, "unreadable_table_rows": len(raw.rejects)}
    return table.drop_nulls("__key"), facts


def join_metadata(frame: pl.DataFrame, inp, index: int, path: str) -> tuple[pl.DataFrame, list[dict], list[dict]]:
    """(frame with the joined columns — every row, also unmatched ones —, row rejects for unmatched keys
    when a table says unmatched: reject (the caller leaves those rows out of conversion), facts per table)."""
    rejects, facts = [], []
    for j, join in enumerate(inp.metadata_join):
        key = f"inputs[{index}].metadata_join[{j}]"
        if join.key not in frame.columns:
            raise UserError(f"{key}.key: column {join.key!r} not found in {path}; it has columns: "
                            f"{', '.join(c for c in frame.columns if c != ROW)}")
        for name in join.targets().values():
            if name in frame.columns:
                raise UserError(f"{key}.columns: {name!r} is already a column of {path}; rename it with a "
                                f"mapping, e.g. columns: {{{name}: info_{name}}}")
        table, fact = _table(join, key, inp, index)
        joined = (frame.with_columns(pl.col(join.key).cast(pl.Utf8).str.strip_chars().alias("__key"))
                  .join(table.with_columns(pl.lit(True).alias("__matched")), on="__key", how="left")
                  .sort(ROW))
        missed = joined.filter(pl.col("__matched").is_null())
        fact.update({"matched_rows": joined.height - missed.height, "unmatched_rows": missed.height,
                     "unmatched_keys": missed["__key"].n_unique(),
                     "unmatched_keys_sample": missed["__key"].unique(maintain_order=True).head(SAMPLE).to_list(),
                     "unmatched": join.unmatched})
        if join.unmatched == "reject" and missed.height:
            for row, value in missed.select(ROW, "__key").iter_rows():
                rejects.append({"stage": "convert", "reason": "metadata_missing", "source_file": path,
                                "source_rows": [row],
                                "detail": f"row {row}, column {join.key!r}: {value!r} is not in {join.path} "
                                          f"(column {fact['key']!r}) and {key}.unmatched is reject"})
        frame = joined.drop("__key", "__matched")
        facts.append(fact)
    return frame, rejects, facts


def filter_examples(examples: pl.DataFrame, inp, index: int) -> tuple[pl.DataFrame, pl.DataFrame, dict | None]:
    """Apply inputs[index].where to the converted examples: (kept, rejects frame, facts)."""
    if not inp.where:
        return examples, empty_rejects(), None
    tree = parse_where(inp.where)
    meta = [c for c in examples.columns if c.startswith("meta.")]

    def resolve(name: str) -> str:
        col = name if name.startswith("meta.") else f"meta.{name}"
        if col not in examples.columns:
            raise UserError(f"inputs[{index}].where: {name!r} is not a metadata column of this input "
                            f"(metadata: {', '.join(meta) or 'none'}; list raw columns under inputs[{index}].metadata)")
        return col

    used = [resolve(c) for c in columns_of(tree)]
    mask = where_mask(examples, inp.where, resolve)
    kept, out = examples.filter(mask), examples.filter(~mask)
    facts = {"where": inp.where, "examples_in": examples.height, "excluded": out.height}
    if out.height == 0:
        return kept, empty_rejects(), facts
    values = [pl.format(f"{c}={{}}", pl.col(c).cast(pl.Utf8).fill_null("(empty)")) for c in used]
    rejects = out.select(
        pl.lit("convert").alias("stage"), pl.lit("excluded_by_where").alias("reason"),
        pl.concat_str([pl.lit(f"excluded by inputs[{index}].where ({inp.where}): "),
                       pl.concat_str(values, separator=", ")]).alias("detail"),
        "source_file", "source_rows", "example_id", "example",
    )
    return kept, rejects.cast(REJECT_SCHEMA), facts
