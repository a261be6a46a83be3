"""The gate between ingest and convert: a raw table checked against its pandera schema
(schemas/raw_tables.py). A missing or wrongly-typed column stops the run naming file, column and config
key; a cell that fails a row check becomes a row reject.
"""

from __future__ import annotations

import polars as pl
from pandera.errors import SchemaErrors

from pipeline.errors import UserError
from pipeline.ingest.readers import ROW
from schemas.raw_tables import mapped_columns, raw_schema

_TEXT_LIKE = (pl.Categorical, pl.Enum)  # (a String column is left as it is: a no-op cast copied every
# cell's view, ~0.45 GB at 1M conversations)


def coerce_scalars(frame: pl.DataFrame, inp) -> pl.DataFrame:
    """Numbers/bools/categoricals in mapped text columns become text (Parquet keeps native types)."""
    text_targets = set(mapped_columns(inp).values())
    if inp.layout == "conversations":
        text_targets.discard(inp.columns.messages)
        text_targets.discard(inp.columns.tools)
    casts = [pl.nth(i).cast(pl.Utf8) for i, (n, t) in enumerate(frame.schema.items())  # by position: see readers
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
