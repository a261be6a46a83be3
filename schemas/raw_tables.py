"""Pandera schemas of raw tables, one per layout, built from the input's column mapping.

`check_raw_table` is the gate between ingest and convert: a missing or wrongly-typed column stops
the run naming file, column and config key; a cell that fails a row check becomes a row reject.
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl
from pandera.errors import SchemaErrors

from pipeline.errors import UserError

ROW = "__row"
_TEXT_LIKE = (pl.Utf8, pl.Categorical, pl.Enum)


def _is_int_text(data: pa.PolarsData) -> pl.LazyFrame:
    col = pl.col(data.key)
    return data.lazyframe.select(col.is_null() | col.str.strip_chars().cast(pl.Int64, strict=False).is_not_null())


def mapped_columns(inp) -> dict[str, str]:
    """config key (e.g. 'columns.role') -> raw column name, for every mapped column of the input."""
    cols = {f"columns.{k}": v for k, v in inp.columns.model_dump().items()
            if v is not None and k not in ("role_key", "content_key")}
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
        spec = {c.messages: pa.Column(nullable=True)}  # a JSON string or a native list of structs
        for col in (c.id, c.tools):
            if col:
                spec[col] = pa.Column(nullable=True)
    for m in inp.metadata:
        spec.setdefault(m, pa.Column(nullable=True))
    return pa.DataFrameSchema(spec, strict=False)


def coerce_scalars(frame: pl.DataFrame, inp) -> pl.DataFrame:
    """Numbers/bools/categoricals in mapped text columns become text (Parquet keeps native types)."""
    text_targets = set(mapped_columns(inp).values())
    if inp.layout == "conversations":
        text_targets.discard(inp.columns.messages)
        text_targets.discard(inp.columns.tools)
    casts = [pl.col(n).cast(pl.Utf8) for n, t in frame.schema.items()
             if n in text_targets and (t.is_numeric() or t == pl.Boolean or isinstance(t, _TEXT_LIKE))]
    return frame.with_columns(casts) if casts else frame


def check_raw_table(frame: pl.DataFrame, inp, index: int, path: str) -> list[tuple[int, str, str]]:
    """Validate; raise UserError for file-level problems; return (row, reason, detail) for bad cells."""
    keys = {v: k for k, v in mapped_columns(inp).items()}
    try:
        raw_schema(inp).validate(frame, lazy=True)
        return []
    except SchemaErrors as e:
        cases = e.failure_cases
    fatal, row_rejects = [], []
    for rec in cases.iter_rows(named=True):
        col, check = rec["column"], rec["check"]
        if check == "column_in_dataframe":
            missing = rec["failure_case"]
            fatal.append(f"column {missing!r} (inputs[{index}].{keys.get(missing, 'columns')}) not found; "
                         f"the file has columns: {', '.join(c for c in frame.columns if c != ROW)}")
        elif check.startswith("dtype"):
            fatal.append(f"column {col!r} (inputs[{index}].{keys.get(col, 'columns')}) holds "
                         f"{rec['failure_case']} values; expected text")
        elif rec["index"] is not None:
            row = frame[ROW][int(rec["index"])]
            row_rejects.append((row, f"invalid_{check}",
                                f"row {row}, column {col!r}: {rec['failure_case']!r} is not an {check}"))
    if fatal:
        raise UserError("\n".join(f"{path}: {m}" for m in dict.fromkeys(fatal)))
    return row_rejects
