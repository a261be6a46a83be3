"""Resolve each input's path or glob into concrete files (a .zip into its members), tell each one's format
from its name (under a compression suffix: `test.jsonl.gz` is JSONL), and fingerprint them."""

from __future__ import annotations

import errno
import fnmatch
import glob
import hashlib
import os
import stat
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from pipeline.errors import UserError
from pipeline.ingest.file_streams import COMPRESSIONS, compression_of, without_compression

RACY_SECONDS = 2.0
EXTENSION_FORMATS = {".csv": "csv", ".tsv": "csv", ".parquet": "parquet", ".pq": "parquet",
                     ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".txt": "csv"}


@dataclass(frozen=True)
class SourceFile:
    input_index: int  # position in config.inputs
    path: str  # as shown to the user (relative to the working directory when possible); "<zip>:<member>"
    format: str  # csv | parquet | jsonl | json
    archive: str | None = None  # the .zip file on disk when this source is one of its members
    member: str | None = None  # the member's name inside `archive`
    json_path: tuple[str, ...] = ()  # JSON: the keys leading to the records (json.path)
    key_column: str = "key"  # JSON object keyed by id: the column receiving each record's key

    @property
    def file(self) -> str:
        """The file on disk."""
        return self.archive or self.path

    @property
    def data_name(self) -> str:
        """The name of the data itself: the zip member, or the file without its compression suffix."""
        return self.member if self.member is not None else without_compression(self.path)

    def fingerprint(self, memo_dir: Path | None = None) -> dict:
        """{path, bytes, sha256}. With `memo_dir`, the hash of a file whose path, size, inode and
        modification time (ns) are unchanged since it was last hashed is reused (as `git status`
        does), so a rerun does not read gigabytes of input just to find its checkpoints."""
        p = Path(self.file)
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


def format_from_name(name: str) -> str | None:
    """csv | parquet | jsonl | json from the extension under any compression suffix, or None."""
    return EXTENSION_FORMATS.get(PurePosixPath(without_compression(name)).suffix.lower())


def resolve_sources(inputs) -> list[SourceFile]:
    """All files of all inputs, in config order then sorted path order (a zip's members in sorted order).
    Stops on any missing/empty file."""
    files: list[SourceFile] = []
    for i, inp in enumerate(inputs):
        key = f"inputs[{i}].path"
        matches = sorted(glob.glob(inp.path, recursive=True)) if glob.has_magic(inp.path) else [inp.path]
        if not matches:
            raise UserError(f"{key}: no file matches the glob {inp.path!r} (relative to {Path.cwd()})")
        for m in matches:
            p = Path(m)
            _check_regular_file(p, m, key)
            if p.stat().st_size == 0:
                raise UserError(f"{key}: {m} is empty (0 bytes)")
            members = _zip_members(m, inp.zip_members, i) if p.suffix.lower() == ".zip" else [None]
            for member in members:
                files.append(_source(inp, i, m, member))
        if inp.zip_members and not any(Path(m).suffix.lower() == ".zip" for m in matches):
            raise UserError(f"inputs[{i}].zip_members is set but no file of {inp.path!r} is a .zip; "
                            f"remove zip_members or point path at the archive")
    paths = [f.path for f in files]
    dupes = {p for p in paths if paths.count(p) > 1}
    if dupes:
        raise UserError(f"inputs: the same file is listed twice: {', '.join(sorted(dupes))}")
    return files


def _check_regular_file(p: Path, m: str, key: str) -> None:
    """Stop unless `p` is (a link to) a regular file, saying what it is instead."""
    if p.is_symlink() and not p.exists():
        try:
            target = p.resolve(strict=True)
        except RuntimeError:  # Python < 3.13
            target = None
        except OSError as e:
            target = None if e.errno == errno.ELOOP else os.readlink(p)
        what = f"points to {target}, which does not exist" if target else "is part of a loop of symbolic links"
        raise UserError(f"{key}: {m} is a symbolic link that {what}; point path at the real file")
    if not p.exists():
        raise UserError(f"{key}: file not found: {m} (relative to {Path.cwd()})")
    if p.is_dir():
        raise UserError(f"{key}: {m} is a folder; give a file or a glob such as {m.rstrip('/')}/*.csv")
    mode = p.stat().st_mode
    if not stat.S_ISREG(mode):
        kind = ("a named pipe (FIFO)" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
                else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a regular file")
        raise UserError(f"{key}: {m} is {kind}, not a regular file: its data cannot be read twice (the run "
                        f"fingerprints, then reads it); save the data to a file and point path at it")


def _source(inp, i: int, file: str, member: str | None) -> SourceFile:
    name = member if member is not None else file
    if member is not None and compression_of(member):
        raise UserError(f"inputs[{i}].path: {file} holds {member}, compressed inside the zip; unpack the zip "
                        f"or store the member uncompressed (a zip compresses its members already)")
    fmt = inp.format
    if fmt == "auto":
        fmt = format_from_name(name)
        if fmt is None:
            ext = PurePosixPath(without_compression(name)).suffix
            known = ", ".join(sorted({*EXTENSION_FORMATS, *COMPRESSIONS, ".zip"}))
            raise UserError(
                f"inputs[{i}].path: cannot tell the format of {name} from its extension {ext!r} "
                f"(known: {known}); set inputs[{i}].format to one of csv, parquet, jsonl, json"
            )
    json = inp.json_options
    if json.path and fmt != "json":
        raise UserError(f"inputs[{i}].json.path is set but {name} is read as {fmt}; json.path applies to "
                        f"JSON files (one document): remove it or set inputs[{i}].format: json")
    json_path = tuple(json.path.split(".")) if json.path else ()
    if member is None:
        return SourceFile(i, file, fmt, json_path=json_path, key_column=json.key_column)
    return SourceFile(i, f"{file}:{member}", fmt, archive=file, member=member, json_path=json_path,
                      key_column=json.key_column)


def _zip_members(path: str, pattern: str | None, i: int) -> list[str]:
    """The members of a zip to read: those matching `pattern`, or its only file."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if not n.endswith("/")]
    except (zipfile.BadZipFile, OSError) as e:
        raise UserError(f"inputs[{i}].path: {path} is not a readable zip archive ({e}); "
                        f"test it with `unzip -t {path}`") from None
    shown = ", ".join(names[:20]) + (f", … ({len(names)} in all)" if len(names) > 20 else "")
    if pattern is None:
        if len(names) != 1:
            raise UserError(f"inputs[{i}].path: {path} holds {len(names)} files ({shown or 'none'}); set "
                            f"inputs[{i}].zip_members to a glob of the ones to read, e.g. '*.jsonl'")
        return names
    chosen = sorted(n for n in names if fnmatch.fnmatchcase(n, pattern))
    if not chosen:
        raise UserError(f"inputs[{i}].zip_members: no member of {path} matches {pattern!r}; it holds: "
                        f"{shown or 'no files'}")
    return chosen
