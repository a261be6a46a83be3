"""What every destination checker needs: reading a JSONL file line by line with the file-level rules
(encoding, byte-order mark, blank lines, one JSON object per line), and the count and size limits.

Errors are plain strings that name where the problem is ("line 3: ..."), so a failing test shows the
file's own problem. Nothing here knows any destination's record shape.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

UTF8_BOM = b"\xef\xbb\xbf"
GIB = 1024 ** 3
MIB = 1024 ** 2


@dataclass(frozen=True)
class FileRules:
    """The file-level rules of one destination (each number from docs/destinations-sources.md)."""

    bom: str                      # "forbid" | "allow" (accepted, not required)
    max_bytes: int | None         # file size limit; None = none published
    min_train: int | None         # minimum examples in a training file
    max_train: int | None         # maximum examples in a training file
    max_validation: int | None    # maximum examples in a validation file
    min_validation: int | None = None


def read_jsonl(path: Path, *, bom: str) -> tuple[list[tuple[int, Any]], list[str]]:
    """Parsed lines as (line number, value) and the file-level errors.

    The file must be UTF-8; a UTF-8 byte-order mark is an error unless `bom="allow"`; every line must be one
    JSON value (blank lines and CR line endings are errors); the last line may or may not end with a newline.
    """
    data = Path(path).read_bytes()
    errors: list[str] = []
    if data.startswith(UTF8_BOM):
        if bom == "forbid":
            errors.append("line 1: the file starts with a UTF-8 byte-order mark (EF BB BF); write UTF-8 without it")
        data = data[len(UTF8_BOM):]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        return [], errors + [f"line {line}: not UTF-8 (byte {e.start}: {e.reason})"]
    if text.startswith("\ufeff"):  # a second mark, or one that a bom="allow" destination would not strip
        errors.append("line 1: a byte-order mark character U+FEFF starts the text")
    records: list[tuple[int, Any]] = []
    for number, line in enumerate(_lines(text), start=1):
        if line.endswith("\r"):
            errors.append(f"line {number}: CR line ending (write LF only)")
            line = line[:-1]
        if not line.strip():
            errors.append(f"line {number}: blank line")
            continue
        try:
            records.append((number, json.loads(line)))
        except ValueError as e:
            errors.append(f"line {number}: not valid JSON ({e})")
    return records, errors


def _lines(text: str) -> Iterator[str]:
    parts = text.split("\n")
    if parts and parts[-1] == "":
        parts.pop()  # the text after the final newline
    yield from parts


def check_file_rules(path: Path, n_examples: int, rules: FileRules, split: str) -> list[str]:
    """Size and example-count limits of the whole file."""
    errors = []
    size = Path(path).stat().st_size
    if size == 0:
        errors.append("the file is empty")
    if rules.max_bytes is not None and size > rules.max_bytes:
        errors.append(f"the file has {size:,} bytes; the limit is {rules.max_bytes:,}")
    if split == "train":
        low, high, what = rules.min_train, rules.max_train, "training"
    elif split == "validation":
        low, high, what = rules.min_validation, rules.max_validation, "validation"
    else:
        raise ValueError(f"split must be 'train' or 'validation', not {split!r}")
    if low is not None and n_examples < low:
        errors.append(f"{n_examples} examples; a {what} file needs at least {low:,}")
    if high is not None and n_examples > high:
        errors.append(f"{n_examples:,} examples; a {what} file takes at most {high:,}")
    return errors


def check_records(path: Path, rules: FileRules, split: str, check_record) -> list[str]:
    """The whole-file check shared by the JSONL destinations: file rules, then `check_record(obj)` per line."""
    records, errors = read_jsonl(path, bom=rules.bom)
    for number, obj in records:
        errors += [f"line {number}: {e}" for e in check_record(obj)]
    return errors + check_file_rules(path, len(records), rules, split)


def strings_in(value) -> Iterator[str]:
    """Every string inside a JSON value (keys excluded)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)


def unexpected_keys(obj: dict, allowed: set[str], where: str) -> list[str]:
    return [f"{where}: key {k!r} is not allowed (allowed: {', '.join(sorted(allowed))})"
            for k in obj if k not in allowed]


def is_int(value) -> bool:
    """A JSON integer: not a float, not a bool."""
    return type(value) is int


def preference_to_pair(record: dict) -> dict:
    """{"prompt": [...], "chosen": [...], "rejected": [...], "tools"?} in OpenAI messages, from OpenAI's
    preference line (the shape openai, azure-openai, fireworks and together all read)."""
    pair = {"prompt": copy.deepcopy(record["input"]["messages"]),
            "chosen": copy.deepcopy(record["preferred_output"]),
            "rejected": copy.deepcopy(record["non_preferred_output"])}
    if "tools" in record["input"]:
        pair["tools"] = copy.deepcopy(record["input"]["tools"])
    return pair
