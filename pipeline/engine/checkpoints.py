"""Stage checkpoints: each stage's output stored under a key chained from the input fingerprint,
the config of every step so far, and the code they run (all of pipeline/ and schemas/, the installed
versions of the libraries that shape outputs, and Python's). A rerun with the same key loads it."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from pipeline import __version__
from pipeline.engine.atomic_files import atomic_write
from pipeline.engine.environment import library_versions

FORMAT = 2  # layout of a checkpoint folder: meta.json + Parquet parts (pipeline/engine/parts.py)
_PIPELINE = Path(__file__).resolve().parents[1]
_PACKAGES = (_PIPELINE, _PIPELINE.parent / "schemas")


@functools.lru_cache(maxsize=1)
def _all_code() -> str:
    """One hash of every source file of pipeline/ and schemas/ and of the library and Python versions:
    a checkpoint never outlives a code change, whichever helper module or library a stage happens to call."""
    h = hashlib.sha256(__version__.encode())
    h.update(json.dumps(library_versions(), sort_keys=True).encode())
    for pkg in _PACKAGES:
        for path in sorted(pkg.rglob("*.py")):
            h.update(str(path.relative_to(pkg.parent)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def code_hash(*modules) -> str:
    """The code key for a step: all pipeline code and library versions, plus the named modules (which may
    live elsewhere)."""
    h = hashlib.sha256(_all_code().encode())
    for m in modules:
        h.update(Path(m.__file__).read_bytes())
    return h.hexdigest()


def chain_key(previous: str, *parts) -> str:
    blob = json.dumps([previous, *parts], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


@contextlib.contextmanager
def cache_lock(cache_dir: Path, warn: Callable[[str], None]) -> Iterator[None]:
    """Hold the cache folder's lock (an flock on <cache>/run.lock, released by the kernel even when the
    process is killed) for a whole run: two runs sharing a cache folder take turns, the second waiting
    with a message, instead of removing checkpoints the other is reading. Holding it, the scratch
    folders of earlier (killed) runs are removed: no other run can be using them."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    with open(cache_dir / "run.lock", "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "unknown"
            warn(f"another run (process {holder}) is using the cache folder {cache_dir}; waiting for it to "
                 f"finish (give this run its own cache.dir to run both at once)")
            fcntl.flock(lock, fcntl.LOCK_EX)
        lock.seek(0)
        lock.truncate()
        lock.write(str(os.getpid()))
        lock.flush()
        shutil.rmtree(cache_dir / "scratch", ignore_errors=True)
        try:
            yield
        finally:
            lock.truncate(0)
            fcntl.flock(lock, fcntl.LOCK_UN)


class CheckpointStore:
    """Each step writes its output parts into a fresh work folder (`workdir`); `commit` adds meta.json and,
    when checkpoints are enabled, moves the folder under checkpoints/<key> where a rerun finds it with
    `lookup` (only meta.json is read: the parts stay on disk until a step reads them). With checkpoints
    disabled the work folders are scratch space, removed by `cleanup` at the end of the run."""

    def __init__(self, root: Path, enabled: bool):
        self.root, self.enabled = root / "checkpoints", enabled
        self.scratch = root / "scratch" / f"run-{os.getpid()}-{time.time_ns()}"

    def lookup(self, key: str) -> tuple[Path, dict] | None:
        d = self.root / key
        meta = d / "meta.json"
        if not self.enabled or not meta.is_file():
            return None
        try:
            info = json.loads(meta.read_text())
            if info.get("format") != FORMAT or not all((d / n).is_file() for p in info["parts"].values()
                                                       for n in p["names"]):
                raise ValueError("incomplete checkpoint")
        except Exception:  # noqa: BLE001 — a damaged or older checkpoint (any error) is recomputed, never trusted
            shutil.rmtree(d, ignore_errors=True)
            return None
        meta.touch()  # last use, for `prune`
        return d, info

    def prune(self, keep: set[str], max_bytes: float | None) -> list[str]:
        """Remove least recently used checkpoints (never those in `keep`) until the store holds at most
        `max_bytes`; returns the keys removed."""
        if max_bytes is None or not self.root.is_dir():
            return []
        entries = []
        for d in self.root.iterdir():
            if not d.is_dir():
                continue
            files = [f for f in d.iterdir() if f.is_file()]
            meta = d / "meta.json"
            used = meta.stat().st_mtime if meta.is_file() else 0.0
            entries.append((used, d.name, sum(f.stat().st_size for f in files), d))
        total = sum(e[2] for e in entries)
        removed = []
        for _, name, size, d in sorted(entries):  # oldest use first
            if total <= max_bytes:
                break
            if name in keep:
                continue
            shutil.rmtree(d, ignore_errors=True)
            total -= size
            removed.append(name)
        return removed

    def workdir(self, key: str) -> Path:
        d = self.scratch / key
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
        return d

    def commit(self, key: str, work: Path, parts: dict, data: dict) -> Path:
        """Seal a step's work folder; returns the folder its parts now live in."""
        atomic_write(work / "meta.json", json.dumps({"format": FORMAT, "parts": parts, **data}, default=str))
        if not self.enabled:
            return work
        final = self.root / key
        self.root.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(final, ignore_errors=True)
        os.replace(work, final)
        return final

    def cleanup(self) -> None:
        shutil.rmtree(self.scratch, ignore_errors=True)
        try:
            self.scratch.parent.rmdir()  # only when no other run is using it
        except OSError:
            pass
