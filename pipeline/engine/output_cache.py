"""A finished run's output files and report data, kept in the checkpoint store so that a rerun whose every
step is cached (same inputs, config and code: the same key) copies them instead of rebuilding them.

What is kept under checkpoints/<key>: each destination's line files (train/validation, provenance.jsonl,
rejects.jsonl and its extra files) with their sizes, and the report's data that needs the examples' text
(the message sample behind the distributions, the sample viewer: `memo`). stats.json, manifest.json and
report.html are always written anew (they hold the run's timings). Files are copied (never hard-linked: the
user may edit the outputs), so the cached copy and the output folder stay independent.

At 1M conversations the line files are ~1.7 GB: a copy is kernel-side (copy_file_range), where rebuilding
them reads every example part and encodes every provenance and reject line.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipeline.engine.checkpoints import CheckpointStore

FILES = "files"  # the checkpoint's one Parts entry: the output files (relative names) and their sizes


class OutputCache:
    """The cached outputs for `key` (a hit) or the record of this run's (a miss, saved by `save`)."""

    def __init__(self, store: CheckpointStore, key: str):
        self.store, self.key = store, key
        hit = store.lookup(key)
        self.folder, data = hit if hit else (None, {})
        files = data.get("parts", {}).get(FILES, {})
        self.sizes = dict(zip(files.get("names", []), files.get("heights", [])))
        if self.folder is not None and not self._sizes_match():
            self.folder, data, self.sizes = None, {}, {}  # a damaged copy is rebuilt, never trusted
        self.targets: dict[str, dict] = data.get("targets", {})  # folder -> {"sizes": ..., "extras": ...}
        self.memos: dict[str, Any] = data.get("memos", {})

    @property
    def hit(self) -> bool:
        return self.folder is not None

    def _sizes_match(self) -> bool:
        return all((self.folder / name).stat().st_size == size for name, size in self.sizes.items())

    def target(self, folder: str) -> dict | None:
        """{"sizes": {line file: bytes}, "extras": [names], "files": {name: cached name}} of the destination
        written into `folder` (relative to the output folder; "" for a single destination), or None."""
        return self.targets.get(folder) if self.hit else None

    def copy_into(self, out_dir: Path, folder: str) -> None:
        """The cached files of destination `folder` into `out_dir / folder`."""
        for name, cached in self.targets[folder]["files"].items():
            _copy_synced(self.folder / cached, out_dir / folder / name)

    def memo(self, name: str, build: Callable[[], Any]) -> Any:
        """The cached value `name` (JSON data), else build() recorded for `save`."""
        if name not in self.memos:
            self.memos[name] = build()
        return self.memos[name]

    def remember(self, folder: str, sizes: dict[str, int], files: list[str], extras: list[str]) -> None:
        """Destination `folder`'s line-file sizes, the files it wrote (all copied by `save`) and its extras."""
        j = len(self.targets)
        self.targets[folder] = {"sizes": sizes, "extras": extras, "files": {n: f"{j:03d}-{i:03d}" for i, n in enumerate(files)}}

    def save(self, out_dir: Path) -> None:
        """Copy this run's files (as written into `out_dir`, the staging folder) into the store under the
        key (a miss only; nothing when checkpoints are off)."""
        if self.hit or not self.store.enabled:
            return
        work = self.store.workdir(self.key)
        cached = []
        for folder, t in self.targets.items():
            for name, cached_name in t["files"].items():
                shutil.copyfile(out_dir / folder / name, work / cached_name)
                cached.append(cached_name)
        sizes = [(work / name).stat().st_size for name in cached]
        self.store.commit(self.key, work, {FILES: {"names": cached, "heights": sizes}},
                          {"targets": self.targets, "memos": self.memos})


def _copy_synced(src: Path, dst: Path) -> None:
    """Copy src to dst (kernel-side where the OS can) and fsync it, as the outputs' atomic writes do."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    fd = os.open(dst, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(dst, 0o644)
