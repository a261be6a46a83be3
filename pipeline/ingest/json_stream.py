"""One JSON document read from a text stream piece by piece: the reader walks the containers that hold the
records (`[`, `{`, keys, commas) here and decodes each record with json's `raw_decode`, so only the
record being decoded and about a MiB of read-ahead text are in memory — never the whole file as text
plus all of its records as Python objects (≈ 10× the file). A single value bigger than the read-ahead
(a huge record) is read whole with geometrically growing reads, up to `max_value_chars` (ValueTooLong).

Errors are `json.JSONDecodeError`s located in the whole document (line, column), as `json.loads` gives.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

from pipeline.ingest.json_text import TooDeeplyNested

READ_CHARS = 1 << 20
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_CUT_SLACK = 32  # an error this close to the end of the text read so far may be a value cut by the read
_SEPARATOR = re.compile(r"[ \t\n\r]*([,\]])[ \t\n\r]*")  # after an array element


class ValueTooLong(Exception):
    def __init__(self, lineno: int, colno: int, limit: int):
        super().__init__(f"line {lineno}, column {colno}: a value of over {limit:,} characters")
        self.lineno, self.colno, self.limit = lineno, colno, limit


class JsonStream:
    """A position in a JSON document read from `text` (a text stream) `read_chars` at a time."""

    def __init__(self, text, read_chars: int | None = None, max_value_chars: int | None = None):
        self._text, self._read_chars, self._max_value = text, read_chars or READ_CHARS, max_value_chars
        self._buf, self._pos = "", 0
        self._lines_before = 0  # newlines in the text dropped from before the buffer
        self._column_before = 0  # characters since the last of them
        self._at_end = False
        self._decoder = json.JSONDecoder()

    # ------------------------------------------------------------------ reading

    def _read_more(self, chars: int) -> bool:
        """Drop the text before the position and read on; False at the end of the text."""
        if self._pos:
            done = self._buf[: self._pos]
            newlines = done.count("\n")
            self._lines_before += newlines
            self._column_before = (len(done) - done.rfind("\n") - 1 if newlines
                                   else self._column_before + len(done))
            self._buf, self._pos = self._buf[self._pos:], 0
        more = self._text.read(chars)
        if not more:
            self._at_end = True
            return False
        self._buf += more
        return True

    def peek(self) -> str:
        """The next character that is not whitespace ('' at the end), without taking it."""
        while True:
            self._pos = _WHITESPACE.match(self._buf, self._pos).end()
            if self._pos < len(self._buf):
                return self._buf[self._pos]
            if not self._read_more(self._read_chars):
                return ""

    def take(self, char: str, expected: str) -> None:
        if self.peek() != char:
            raise self.error(f"Expecting {expected}")
        self._pos += 1

    def value(self):
        """Decode the next value (read on while it may be cut off by the end of the text read so far)."""
        self.peek()
        chars = self._read_chars
        while True:
            start = self._pos  # reading more moves the value's text to the buffer's start (self._pos)
            try:
                obj, end = self._decoder.raw_decode(self._buf, start)
            except RecursionError:
                raise TooDeeplyNested from None
            except json.JSONDecodeError as e:
                cut = e.pos >= len(self._buf) - _CUT_SLACK or e.msg.startswith("Unterminated string")
                if cut and self._max_value and len(self._buf) - start > self._max_value:
                    e = self.error("", start)
                    raise ValueTooLong(e.lineno, e.colno, self._max_value) from None
                if self._at_end or not cut or not self._read_more(chars):
                    raise self.error(e.msg, self._pos + e.pos - start) from None
                chars *= 2
                continue
            if end > len(self._buf) - _CUT_SLACK and not self._at_end:
                if self._read_more(chars):
                    chars *= 2  # a number may go on in the text not read yet ("-2" of "-2.5e3")
                    continue
                end = self._pos + end - start
            self._pos = end
            return obj

    # ------------------------------------------------------------------ containers

    def array_items(self) -> Iterator[None]:
        """Walk an array: stops before each element (the caller reads it with value() or a walk)."""
        self.take("[", "'['")
        if self.peek() == "]":
            self._pos += 1
            return
        while True:
            yield
            if self.peek() == ",":
                self._pos += 1
                continue
            self.take("]", "',' delimiter")
            return

    def object_keys(self) -> Iterator[str]:
        """Walk an object: yields each key, stopped before its value (the caller must read the value)."""
        self.take("{", "'{'")
        if self.peek() == "}":
            self._pos += 1
            return
        while True:
            if self.peek() != '"':
                raise self.error("Expecting property name enclosed in double quotes")
            key = self.value()
            self.take(":", "':' delimiter")
            yield key
            if self.peek() == ",":
                self._pos += 1
                continue
            self.take("}", "',' delimiter")
            return

    def array_batches(self) -> Iterator[list]:
        """The elements of an array, decoded, a list of them at a time: the elements well inside the text
        read so far in one tight loop, the others (and any error) one by one by value()."""
        scan, separator = self._decoder.scan_once, _SEPARATOR.match
        for _ in self.array_items():
            batch: list = []
            buf, pos = self._buf, self._pos
            limit = len(buf) - _CUT_SLACK
            while True:  # stops before an element near the end of the text read so far, or not valid
                try:
                    obj, end = scan(buf, pos)
                except (StopIteration, json.JSONDecodeError, RecursionError):
                    break
                sep = separator(buf, end) if end < limit else None
                if sep is None or sep.end() > limit:
                    break
                batch.append(obj)
                pos = sep.end()
                if sep.group(1) == "]":
                    self._pos = pos
                    yield batch
                    return
            self._pos = pos
            batch.append(self.value())
            yield batch

    def skip(self) -> None:
        """Read past the next value, an array's or object's members one at a time (none is kept)."""
        char = self.peek()
        if char == "[":
            for _ in self.array_items():
                self.value()
        elif char == "{":
            for _ in self.object_keys():
                self.value()
        else:
            self.value()

    def end(self) -> None:
        """Only whitespace may follow the document."""
        if self.peek():
            raise self.error("Extra data")

    # ------------------------------------------------------------------ errors

    def error(self, msg: str, pos: int | None = None) -> json.JSONDecodeError:
        """A JSONDecodeError whose line and column count from the start of the document."""
        pos = self._pos if pos is None else pos
        newlines = self._buf.count("\n", 0, pos)
        column = pos - self._buf.rfind("\n", 0, pos) if newlines else self._column_before + pos + 1
        e = json.JSONDecodeError(msg, "", 0)
        e.lineno, e.colno = self._lines_before + newlines + 1, column
        return e
