"""Stage checkpoints: each stage's output stored under a key chained from the input fingerprint,
the config of every step so far, and the code of those steps. A rerun with the same key loads it."""

from __future__ import annotations

import functools
import hashlib
import json
import shutil
from pathlib import Path

import polars as pl

from pipeline import __version__
from pipeline.outputs import atomic_write

_PACKAGES = (Path(__file__).resolve().parent, Path(__file__).resolve().parent.parent / "schemas")


@functools.lru_cache(maxsize=1)
def _all_code() -> str:
    """One hash of every source file of pipeline/ and schemas/: a checkpoint never outlives a code change,
    whichever helper module a stage happens to call."""
    h = hashlib.sha256(__version__.encode())
    for pkg in _PACKAGES:
        for path in sorted(pkg.rglob("*.py")):
            h.update(str(path.relative_to(pkg.parent)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def code_hash(*modules) -> str:
    """The code key for a step: all pipeline code, plus the named modules (which may live elsewhere)."""
    h = hashlib.sha256(_all_code().encode())
    for m in modules:
        h.update(Path(m.__file__).read_bytes())
    return h.hexdigest()


def chain_key(previous: str, *parts) -> str:
    blob = json.dumps([previous, *parts], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


class CheckpointStore:
    def __init__(self, root: Path, enabled: bool):
        self.root, self.enabled = root / "checkpoints", enabled

    def load(self, key: str) -> tuple[dict[str, pl.DataFrame], dict] | None:
        d = self.root / key
        meta = d / "meta.json"
        if not self.enabled or not meta.is_file():
            return None
        try:
            info = json.loads(meta.read_text())
            frames = {name: pl.read_parquet(d / f"{name}.parquet") for name in info["frames"]}
        except Exception:  # noqa: BLE001 — a damaged checkpoint (any error) is recomputed, never trusted
            shutil.rmtree(d, ignore_errors=True)
            return None
        return frames, info["data"]

    def save(self, key: str, frames: dict[str, pl.DataFrame], data: dict) -> None:
        if not self.enabled:
            return
        d = self.root / key
        d.mkdir(parents=True, exist_ok=True)
        for name, frame in frames.items():
            tmp = d / f".{name}.parquet.tmp"
            frame.write_parquet(tmp)
            tmp.replace(d / f"{name}.parquet")
        atomic_write(d / "meta.json", json.dumps({"frames": list(frames), "data": data}, default=str))
