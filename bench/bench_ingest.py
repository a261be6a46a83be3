"""Why pyarrow is a dependency: CSV ingest with Arrow's parser vs the csv module, same file, same table.

    python -m bench.bench_ingest [--n 100000]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bench import synthetic
from pipeline.ingest.csv_reader import _read_csv_arrow, _read_csv_exact
from pipeline.ingest.sources import SourceFile
from schemas.inputs import CsvOptions


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--data", type=Path, default=Path("bench/data"))
    args = ap.parse_args()
    path = synthetic.write(args.n, args.data)["csv"]
    src, opts = SourceFile(0, str(path), "csv"), CsvOptions()
    timings = {}
    for name, fn in (("csv module (exact path)", _read_csv_exact), ("pyarrow (fast path)", _read_csv_arrow)):
        t = time.perf_counter()
        table = fn(src, opts)
        timings[name] = time.perf_counter() - t
        print(f"{name:<26} {timings[name]:6.2f} s  {table.n_rows / timings[name]:>12,.0f} rows/s")
    print(f"speed-up: {timings['csv module (exact path)'] / timings['pyarrow (fast path)']:.1f}×  ({path})")


if __name__ == "__main__":
    main()
