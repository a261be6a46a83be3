"""Helpers for the destination-checker self-tests: write records to a JSONL file, and mutate a copy of one."""

from __future__ import annotations

import copy
import json
from pathlib import Path


def write_jsonl(path: Path, records: list, *, prefix: bytes = b"", newline: str = "\n") -> Path:
    text = "".join(json.dumps(r, ensure_ascii=False) + newline for r in records)
    path.write_bytes(prefix + text.encode("utf-8"))
    return path


def changed(record: dict, change) -> dict:
    """A deep copy of `record` after `change(copy)` (which edits in place)."""
    result = copy.deepcopy(record)
    change(result)
    return result


def assert_one_error_mentions(errors: list[str], *fragments: str) -> None:
    """Some error names every fragment (so a test fails if the rule is gone or the message says something else)."""
    assert errors, "expected an error, got none"
    assert any(all(f in e for f in fragments) for e in errors), f"no error mentions {fragments}: {errors}"
