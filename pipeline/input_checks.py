"""What `chatprep check-config` says about the input files beyond the config: every file resolved, its
columns read cheaply (pipeline/ingest/peek.py) and checked against the input's column mapping by the
run's own raw-table check (pipeline/ingest/raw_checks.py), so check-config reports what a run would.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from pipeline.errors import UserError
from pipeline.ingest import SourceFile, resolve_sources
from pipeline.ingest.peek import peek_columns
from pipeline.ingest.raw_checks import check_raw_table, coerce_scalars
from pipeline.ingest.readers import ROW


@dataclass
class InputReport:
    files: list[SourceFile]
    checked: int = 0  # files whose columns were read
    problems: list[str] = field(default_factory=list)  # a run would stop on each
    notes: list[str] = field(default_factory=list)  # what could not be told without a full read


def check_inputs(config) -> InputReport:
    """Resolve every input (a missing file raises UserError at once, as a run does) and check each
    file's columns."""
    report = InputReport(resolve_sources(config.inputs))
    for src in report.files:
        inp, peek = config.inputs[src.input_index], None
        try:
            peek = peek_columns(src, inp.csv)
            if peek is None:
                report.notes.append(f"{src.path}: columns not checked (a compressed file or a JSON object is "
                                    f"read whole only by a run)")
                continue
            frame = pl.DataFrame(schema={**peek.columns, ROW: pl.Int64})
            joined = {name: pl.Utf8 for join in inp.metadata_join for name in join.targets().values()}
            frame = coerce_scalars(frame.with_columns(pl.lit(None, dtype=t).alias(n) for n, t in joined.items()
                                                      if n not in frame.columns), inp)
            check_raw_table(frame, inp, src.input_index, src.path)
            report.checked += 1
        except UserError as e:
            if peek is not None and not peek.complete:
                report.checked += 1
                report.notes.append(f"{e} (only its first {peek.records:,} records were read; a run stops if "
                                    f"no record has the column)")
            else:
                report.problems.append(str(e))
    return report
