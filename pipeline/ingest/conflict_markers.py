"""Git merge-conflict markers left in a text export (`<<<<<<< HEAD`, `=======`, `>>>>>>> branch`).

A marker above the header stops the run naming every marker line and the `csv.skip_rows` that starts
at the header; a marker line among the records is rejected as `merge_conflict_marker`.
"""

from __future__ import annotations

import re

from pipeline.errors import UserError
from pipeline.ingest.file_streams import open_text

MARKER = re.compile(r"(?:<{7}|>{7}|\|{7})(?:[ \t].*)?|={7}")
PREFIXES = ("<<<<<<<", "=======", ">>>>>>>", "|||||||")
SHOWN = 10


def is_marker(line: str) -> bool:
    """A whole line (without its line ending) that git writes around a conflict."""
    return line.startswith(PREFIXES) and MARKER.fullmatch(line.rstrip("\r\n")) is not None


def record_is_marker(record: list[str], separator: str) -> bool:
    """A parsed CSV record that is a marker line (a branch name may hold the separator)."""
    return bool(record) and record[0].startswith(PREFIXES) and is_marker(separator.join(record))


def marker_above_header(source, options, line: int) -> UserError:
    """The stop for a file whose header line (`line`, 1-based) is a conflict marker: every marker line of
    the file (the first few) and the skip_rows that starts at the first line below the top markers."""
    found: list[tuple[int, str]] = []
    total = 0
    top_end = None  # the last line of the run of markers starting at the header line
    number = 0
    with open_text(source, options.encoding, "replace", newline="") as text:
        for number, raw in enumerate(text, start=1):
            if not is_marker(raw):
                if top_end is None and number >= line:
                    top_end = number - 1
                continue
            total += 1
            if len(found) < SHOWN:
                found.append((number, raw.rstrip("\r\n")))
    top_end = top_end if top_end is not None else number
    listed = ", ".join(f"line {n} {t!r}" for n, t in found) + (f", … ({total} in all)" if total > SHOWN else "")
    return UserError(
        f"{source.path}: line {line} is a git merge-conflict marker, not the header; conflict markers in the "
        f"file: {listed}. Resolve the conflict in the file, or set csv.skip_rows: {top_end} on this input to "
        f"start at the header on line {top_end + 1} (marker lines further down are then rejected as "
        f"merge_conflict_marker, and a header repeated below as repeated_header).")
