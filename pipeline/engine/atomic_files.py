"""Writing outputs: every file goes to a temp file in the same folder, then is renamed into place."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

from pipeline.errors import InternalInvariantError


class AtomicFile:
    """A file written under a temporary name in the same folder and renamed into place on `commit`
    (after fsync), or removed on `discard`: readers see the old file or the whole new one, never a part."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, self.tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        self.file = os.fdopen(fd, "wb")

    def write(self, data: bytes | memoryview | str) -> None:
        self.file.write(data.encode("utf-8") if isinstance(data, str) else data)

    def commit(self) -> None:
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        os.chmod(self.tmp, 0o644)
        os.replace(self.tmp, self.path)

    def discard(self) -> None:
        self.file.close()
        Path(self.tmp).unlink(missing_ok=True)


def atomic_write(path: Path, chunks: Iterable[str | bytes | memoryview] | str) -> None:
    out = AtomicFile(path)
    try:
        if isinstance(chunks, str):
            out.write(chunks)
        else:
            for c in chunks:
                out.write(c)
        out.commit()
    except BaseException:
        out.discard()
        raise


def write_jsonl(path: Path, objects: Iterable[dict]) -> None:
    atomic_write(path, (json.dumps(o, ensure_ascii=False) + "\n" for o in objects))


def write_lines(path: Path, lines: Iterable[str]) -> None:
    atomic_write(path, (line + "\n" for line in lines))


def write_json(path: Path, obj) -> None:
    atomic_write(path, json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=False) + "\n")


def line_bytes(lines: pl.Series) -> Iterator[memoryview]:
    """The UTF-8 bytes of a Series of text lines, each followed by a newline, taken straight from
    Arrow's string buffers (no Python string per line). Lines must not be null."""
    if lines.null_count():
        raise InternalInvariantError(f"{lines.null_count()} null lines in {lines.name!r}")
    if not len(lines):
        return
    arr = (lines + "\n").rechunk().to_arrow()
    for chunk in (arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]):
        if chunk.type != pa.large_string():
            chunk = chunk.cast(pa.large_string())
        _, offsets, data = chunk.buffers()
        off = np.frombuffer(offsets, dtype=np.int64, count=len(chunk) + 1, offset=8 * chunk.offset)
        yield memoryview(data)[int(off[0]):int(off[-1])]


def write_series_lines(path: Path, lines: pl.Series) -> None:
    atomic_write(path, line_bytes(lines))
