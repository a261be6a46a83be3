"""Row accounting: every source row ends in an exported example or, when in none, in rejects.

Most layouts make one row -> one example (or many rows -> one), so a row is in exactly one place. Some
layouts put one row into several examples: the paths of a reply tree (threads), and the pairs of a rated
reply (preference_ratings), whose row is listed in each pair's source_rows. Such a row counts once as
exported when any of its examples is, and may also sit in rejects with another of its examples (say a pair
that dedup dropped): the counts say how many rows were cited more than once, so the stats show the
difference instead of hiding it.

Per source file, the row numbers are marked in boolean arrays (rows are 1-based record numbers, so
the arrays are as long as the file): linear time and a few bytes per row, even for tens of millions.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from pipeline.engine import storage
from pipeline.engine.parts import Parts
from pipeline.errors import InternalInvariantError

# rows cited by more than one exported example; exported rows that a reject cites too (for another example)
IN_SEVERAL, ALSO_REJECTED = "in_several_examples", "exported_also_rejected"


def read_universe(parts: Parts) -> dict[str, np.ndarray]:
    """Every source row read: source file -> its row numbers (in the order read), read part by part as
    numpy arrays (at 1M conversations, 11M rows: ~0.09 GB; a frame of file names and rows took ~0.26 GB)."""
    by_file: dict[str, list[np.ndarray]] = {}
    for path in parts.paths:
        fs, where = storage.filesystem(path) if storage.is_uri(path) else (None, path)
        table = pq.read_table(where, filesystem=fs, read_dictionary=["source_file"]).combine_chunks()
        files, rows = table.column("source_file").chunk(0), table.column("row").to_numpy()
        names, codes = files.dictionary.to_pylist(), files.indices.to_numpy()
        if len(names) == 1:
            by_file.setdefault(names[0], []).append(rows)
            continue
        for code in dict.fromkeys(codes.tolist()):  # in order of first row
            by_file.setdefault(names[code], []).append(rows[codes == code])
    return {f: np.concatenate(a) if len(a) > 1 else a[0] for f, a in by_file.items()}


def _rows_by_file(frame: pl.DataFrame) -> dict[str, np.ndarray]:
    """source file -> every row its examples cite (or, for the universe frame, its rows). Grouped before
    the lists are flattened, so the file name is not repeated per row (at 1M conversations that
    repetition was ~0.9 GB for a moment)."""
    column = "source_rows" if "source_rows" in frame.columns else "row"
    if frame.height and frame["source_file"].n_unique() == 1:  # (one file, the common case: no grouping copy)
        rows = frame[column].explode() if column == "source_rows" else frame[column]
        return {frame["source_file"][0]: rows.drop_nulls().to_numpy()}
    files = frame.select("source_file", column).group_by(["source_file"], maintain_order=True)
    return {f: (part[column].explode() if column == "source_rows" else part[column]).drop_nulls().to_numpy()
            for (f,), part in files}


def _cited_twice(rows: np.ndarray) -> int:
    """How many distinct rows appear more than once."""
    ordered = np.sort(rows)
    repeated = ordered[1:][ordered[1:] == ordered[:-1]]
    return int(np.count_nonzero(np.diff(repeated) != 0)) + 1 if repeated.size else 0


def _marks(rows: np.ndarray | None, size: int) -> np.ndarray:
    out = np.zeros(size, dtype=bool)
    if rows is not None and rows.size:
        out[rows] = True
    return out


def account_rows(universe: pl.DataFrame | dict[str, np.ndarray], exported: pl.DataFrame, rejects: pl.DataFrame) -> dict:
    """Counts per source: input = exported + rejected, each row once. When some rows are cited by several
    examples, `in_several_examples` and `exported_also_rejected` say how many (absent when 0, so a run of
    one-row-one-place layouts has the three counts only). Raises if a row is unaccounted for, or an exported
    row is not a real row."""
    read = universe if isinstance(universe, dict) else _rows_by_file(universe)  # (a dict: read_universe's)
    out_rows, rej_rows = _rows_by_file(exported), _rows_by_file(rejects)
    phantom_files = sorted(set(out_rows) - set(read))
    if phantom_files:
        raise InternalInvariantError(f"exported examples cite files that were never read: {phantom_files[:5]}")
    by_source, total = {}, {"input": 0, "exported": 0, "rejected": 0}
    for f, rows in read.items():
        exp, rej = out_rows.get(f), rej_rows.get(f)
        size = 1 + max(int(a.max()) for a in (rows, exp, rej) if a is not None and a.size) if rows.size else 1
        is_read = _marks(rows, size)
        if exp is not None and exp.size and not is_read[exp].all():
            bad = np.unique(exp[~is_read[exp]])[:5].tolist()
            raise InternalInvariantError(f"exported examples cite rows that were never read: {[(f, r) for r in bad]}")
        is_out, is_rej = _marks(exp, size), _marks(rej, size)
        lost = rows[~is_out[rows] & ~is_rej[rows]]
        if lost.size:
            raise InternalInvariantError(f"{lost.size} source rows were neither exported nor rejected: "
                                         f"{[(f, int(r)) for r in lost[:5]]}")
        n_read = int(np.count_nonzero(is_read))
        if n_read != rows.size:
            raise InternalInvariantError(f"{f}: {rows.size - n_read} rows were numbered twice at ingest")
        n_out = int(np.count_nonzero(is_out))
        by_source[f] = {"input": n_read, "exported": n_out, "rejected": n_read - n_out}
        several = _cited_twice(exp) if exp is not None and exp.size > n_out else 0
        both = int(np.count_nonzero(is_out & is_rej))
        by_source[f].update({k: n for k, n in ((IN_SEVERAL, several), (ALSO_REJECTED, both)) if n})
        for k, n in by_source[f].items():
            total[k] = total.get(k, 0) + n
    return {"total": total, "by_source": by_source}
