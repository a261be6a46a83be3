"""Resolve each input's path or glob into concrete files, and fingerprint them."""

from __future__ import annotations

import glob
import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import UserError

RACY_SECONDS = 2.0
EXTENSION_FORMATS = {".csv": "csv", ".tsv": "csv", ".parquet": "parquet", ".pq": "parquet",
                     ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".txt": "csv"}


@dataclass(frozen=True)
class SourceFile:
    input_index: int  # position in config.inputs
    path: str  # as shown to the user (relative to the working directory when possible)
    format: str  # csv | parquet | jsonl | json

    def fingerprint(self, memo_dir: Path | None = None) -> dict:
        """{path, bytes, sha256}. With `memo_dir`, the hash of a file whose path, size, inode and
        modification time (ns) are unchanged since it was last hashed is reused (as `git status`
        does), so a rerun does not read gigabytes of input just to find its checkpoints."""
        p = Path(self.path)
        st = p.stat()
        stamp = f"{p.resolve()}\x00{st.st_size}\x00{st.st_ino}\x00{st.st_mtime_ns}"
        memo = memo_dir / "input-hashes" / hashlib.sha256(stamp.encode()).hexdigest()[:32] if memo_dir else None
        if memo is not None and memo.is_file():
            digest = memo.read_text().strip()
        else:
            h = hashlib.sha256()
            with p.open("rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
            digest = h.hexdigest()
            # memoise only a file last modified a while ago: a rewrite within the same timestamp tick
            # (same size, same inode) would otherwise look unchanged ("racy git")
            if memo is not None and time.time() - st.st_mtime > RACY_SECONDS:
                memo.parent.mkdir(parents=True, exist_ok=True)
                tmp = memo.with_name(f".{memo.name}.{os.getpid()}.tmp")
                tmp.write_text(digest)
                tmp.replace(memo)
        return {"path": self.path, "bytes": st.st_size, "sha256": digest}


def resolve_sources(inputs) -> list[SourceFile]:
    """All files of all inputs, in config order then sorted path order. Stops on any missing/empty file."""
    files: list[SourceFile] = []
    for i, inp in enumerate(inputs):
        key = f"inputs[{i}].path"
        matches = sorted(glob.glob(inp.path, recursive=True)) if glob.has_magic(inp.path) else [inp.path]
        if not matches:
            raise UserError(f"{key}: no file matches the glob {inp.path!r} (relative to {Path.cwd()})")
        for m in matches:
            p = Path(m)
            if not p.exists():
                raise UserError(f"{key}: file not found: {m} (relative to {Path.cwd()})")
            if p.is_dir():
                raise UserError(f"{key}: {m} is a folder; give a file or a glob such as {m.rstrip('/')}/*.csv")
            if p.stat().st_size == 0:
                raise UserError(f"{key}: {m} is empty (0 bytes)")
            fmt = inp.format
            if fmt == "auto":
                fmt = EXTENSION_FORMATS.get(p.suffix.lower())
                if fmt is None:
                    raise UserError(
                        f"{key}: cannot tell the format of {m} from its extension {p.suffix!r}; "
                        f"set inputs[{i}].format to one of csv, parquet, jsonl, json"
                    )
            files.append(SourceFile(i, m, fmt))
    paths = [f.path for f in files]
    dupes = {p for p in paths if paths.count(p) > 1}
    if dupes:
        raise UserError(f"inputs: the same file is listed twice: {', '.join(sorted(dupes))}")
    return files
