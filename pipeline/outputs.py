"""Writing outputs: every file goes to a temp file in the same folder, then is renamed into place."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path


def atomic_write(path: Path, chunks: Iterable[str] | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            if isinstance(chunks, str):
                f.write(chunks)
            else:
                for c in chunks:
                    f.write(c)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_jsonl(path: Path, objects: Iterable[dict]) -> None:
    atomic_write(path, (json.dumps(o, ensure_ascii=False) + "\n" for o in objects))


def write_lines(path: Path, lines: Iterable[str]) -> None:
    atomic_write(path, (line + "\n" for line in lines))


def write_json(path: Path, obj) -> None:
    atomic_write(path, json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=False) + "\n")


def write_series_lines(path: Path, lines, block: int = 50_000) -> None:
    """Write a polars Series of text lines in blocks, so no full Python list of lines is ever built."""
    n = len(lines)
    atomic_write(path, ("\n".join(lines.slice(i, block).to_list()) + "\n" for i in range(0, n, block)))
