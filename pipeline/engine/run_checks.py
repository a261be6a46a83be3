"""Checks made before any work: every input file readable, the output and cache folders creatable and
writable, and the output folder apart from the inputs. Each problem stops the run (UserError, exit 2)
with a message naming the path, what was found and the fix."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from pipeline.errors import UserError


def check_run_paths(sources, out_dir: Path, cache_dir: Path) -> None:
    """Raise one UserError listing every problem found with the run's files and folders."""
    problems = [p for p in (_folder_problem(out_dir, "output folder", "--out or output.dir"),
                            _folder_problem(cache_dir, "cache folder", "cache.dir")) if p]
    problems += [p for s in sources if (p := _unreadable(Path(s.file)))]
    problems += _overlaps(sources, out_dir)
    if problems:
        raise UserError("\n".join(problems))


def _unreadable(path: Path) -> str | None:
    try:
        with path.open("rb") as f:
            f.read(1)
    except PermissionError:
        return (f"input file {path}: permission denied (cannot be read by this user); "
                f"fix: make it readable (e.g. chmod a+r {path}) or run as its owner")
    except OSError as e:
        return f"input file {path}: cannot be read ({e.strerror or e}); fix: check the file and the input's path"
    return None


def _folder_problem(folder: Path, what: str, key: str) -> str | None:
    """Why `folder` cannot be created or written into, or None. Creates nothing: probes the folder
    itself, or the nearest existing folder above it, with a temporary file."""
    folder = Path(os.path.abspath(folder))
    existing = folder
    while not existing.exists() and not existing.is_symlink():
        existing = existing.parent
    if existing.is_symlink() and not existing.exists():
        return f"{what} {folder}: {existing} is a broken symbolic link; fix: remove it or set {key} to another folder"
    if not existing.is_dir():
        where = "is a file" if existing == folder else f"cannot be created: {existing} is a file, not a folder"
        return f"{what} {folder} {where}; fix: set {key} to a folder path, or move that file away"
    try:
        fd, probe = tempfile.mkstemp(prefix=".chatprep-write-check.", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        verb = "is not writable" if existing == folder else f"cannot be created: {existing} is not writable"
        return (f"{what} {folder} {verb} ({e.strerror or e}); fix: set {key} to a folder you can write to, "
                f"or change the permissions")
    return None


def _overlaps(sources, out_dir: Path) -> list[str]:
    """Inputs inside the output folder: a run would read the files an earlier run wrote there."""
    out = Path(os.path.realpath(out_dir))
    inside = sorted({s.file for s in sources if Path(os.path.realpath(s.file)).is_relative_to(out)})
    if not inside:
        return []
    shown = ", ".join(inside[:3]) + (f" and {len(inside) - 3} more" if len(inside) > 3 else "")
    return [(f"output folder {out_dir} holds input files ({shown}): a run would read its own outputs; "
             f"fix: set --out / output.dir to a folder outside the inputs, or narrow the inputs' path glob")]
