"""Pandera schemas of raw tables, one per layout, built from the input's column mapping.

pipeline/ingest/raw_checks.py applies them between ingest and convert (`check_raw_table`).
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from schemas.config import PREFERENCE_LAYOUTS


def int_of_text(col: pl.Expr) -> pl.Expr:
    """Text as an Int64: an integer ("3"), or an integral float ("3.0", as a Parquet float column reads);
    null for anything else ("1.5", "abc")."""
    text = col.str.strip_chars()
    as_float = text.cast(pl.Float64, strict=False)
    integral = pl.when(as_float.is_finite() & (as_float == as_float.floor())).then(as_float.cast(pl.Int64, strict=False))
    return pl.coalesce(text.cast(pl.Int64, strict=False), integral)


def _is_int_text(data: pa.PolarsData) -> pl.LazyFrame:
    col = pl.col(data.key)
    return data.lazyframe.select(col.is_null() | int_of_text(col).is_not_null())


def mapped_columns(inp) -> dict[str, str]:
    """config key (e.g. 'columns.role') -> raw column name, for every mapped column of the input."""
    cols = {f"columns.{k}": v for k, v in inp.columns.model_dump().items()
            if v is not None and k not in ("role_key", "content_key", "part_text_key")}
    cols.update({f"metadata[{i}]": m for i, m in enumerate(inp.metadata)})
    return cols


def raw_schema(inp) -> pa.DataFrameSchema:
    """The contract a raw table must meet for this input's layout (columns as strings after coercion)."""
    c = inp.columns
    text = lambda: pa.Column(pl.Utf8, nullable=True)
    spec: dict[str, pa.Column] = {}
    if inp.layout == "messages":
        spec = {c.conversation_id: text(), c.role: text(), c.content: text()}
        if c.order:
            spec[c.order] = pa.Column(pl.Utf8, nullable=True, checks=pa.Check(_is_int_text, name="integer"))
    elif inp.layout == "pairs":
        spec = {col: text() for col in (c.prompt, c.response, c.system, c.context, c.id) if col}
    elif inp.layout == "conversations":
        # JSON strings or native lists/structs: messages or pairs, tools, system (text or list), response
        for col in (c.messages, c.pairs, c.id, c.tools, c.system, c.response):
            if col:
                spec[col] = pa.Column(nullable=True)
    elif inp.layout in ("transcript", "threads", *PREFERENCE_LAYOUTS):  # converters read the cells; here: they exist
        spec = {col: pa.Column(nullable=True) for key, col in mapped_columns(inp).items() if key.startswith("columns.")}
    for m in inp.metadata:
        spec.setdefault(m, pa.Column(nullable=True))
    return pa.DataFrameSchema(spec, strict=False)
