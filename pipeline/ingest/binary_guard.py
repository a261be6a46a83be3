"""Binary data where text is expected, judged window by window as a text source is read: a stream wrapper
(`BinaryGuard`) between a source's bytes and its decoder that looks at every MiB the reader consumes, so
a file that is text for its first MiB and NULs or control bytes later stops within a MiB or two of where
the binary data begins, instead of being parsed into a cell of hundreds of MB (≈ 11 bytes of memory per
byte of file). The rule is the head sniff's (binary_sniff.py): NULs over 1 % or control bytes over 10 % of
a window. Memory: the window being judged and the one before it (2 MiB).

The message names the file, the byte offset (in the decompressed data) and line where the binary data
begins, what was found and the fix.
"""

from __future__ import annotations

import io

import numpy as np

from pipeline.errors import UserError

WINDOW_BYTES = 1 << 20
MIN_JUDGED_BYTES = 4096  # a smaller file (or last partial window) is not judged: its rows are
MAX_NUL_SHARE = 0.01  # more NULs than this share of a window: binary, not text
MAX_CONTROL_SHARE = 0.1  # more control bytes (NUL included) than this share: binary, not text
CONTROL = bytes(b for b in range(32) if b not in b"\t\n\r\x0b\x0c\x1b")
_BLOCK = 4096  # where binary data begins: the first block this size that is itself mostly binary


def counts(data) -> tuple[int, int]:
    """(NUL bytes, control bytes NUL included) in `data`."""
    data = bytes(data)
    return data.count(0), len(data) - len(data.translate(None, CONTROL))


def is_binary(nuls: int, controls: int, size: int) -> bool:
    return nuls > MAX_NUL_SHARE * size or controls > MAX_CONTROL_SHARE * size


def found_words(nuls: int, controls: int) -> str:
    return f"{nuls:,} NUL bytes" if nuls * 2 >= controls else f"{controls:,} control bytes"


def wide_encoding(encoding: str) -> bool:
    """UTF-16 / UTF-32 text holds NULs and control bytes: its decoder judges it, not byte shares."""
    return any(wide in encoding.replace("-", "").replace("_", "") for wide in ("16", "32"))


class BinaryGuard(io.BufferedIOBase):
    """Reads through to `raw`, judging each WINDOW_BYTES of data as it passes (and a last partial window
    of MIN_JUDGED_BYTES or more at the end): binary data raises UserError naming `source`."""

    def __init__(self, raw, source, compressed: bool = False):
        super().__init__()
        self._raw, self._source, self._compressed = raw, source, compressed
        self._window = bytearray()
        self._window_start = 0  # offset of the window's first byte in the data
        self._lines_before = 0  # newlines before the window
        self._previous = b""  # the window judged before this one (to find where binary data begins)
        self._at_end = False

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        # no size for "all": pyarrow's streams take None, lzma's -1
        return self._take(self._raw.read() if size is None or size < 0 else self._raw.read(size))

    def read1(self, size: int = -1) -> bytes:
        if size < 0 or not hasattr(self._raw, "read1"):
            return self.read(size)
        return self._take(self._raw.read1(size))

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def _take(self, data: bytes) -> bytes:
        if not data:
            if not self._at_end and len(self._window) >= MIN_JUDGED_BYTES:
                self._judge()
            self._at_end = True
            return data
        view = memoryview(data)
        while view:
            room = WINDOW_BYTES - len(self._window)
            self._window += view[:room]
            view = view[room:]
            if len(self._window) == WINDOW_BYTES:
                self._judge()
        return data

    def _judge(self) -> None:
        window = bytes(self._window)
        nuls, controls = counts(window)
        if is_binary(nuls, controls, len(window)):
            raise self._error(window)
        self._window_start += len(window)
        self._lines_before += window.count(b"\n")
        self._previous, self._window = window, bytearray()

    def _error(self, window: bytes) -> UserError:
        both = self._previous + window
        start = _binary_start(both, len(self._previous))
        line = self._lines_before - self._previous.count(b"\n") + both.count(b"\n", 0, start) + 1
        nuls, controls = counts(both[start:])
        return binary_data_error(self._source, self._window_start - len(self._previous) + start, line,
                                 found_words(nuls, controls), len(both) - start, self._compressed)


def _binary_start(data: bytes, judged_from: int) -> int:
    """Where binary data begins in `data`, whose part from `judged_from` was judged binary: the first NUL or
    control byte of the first _BLOCK bytes (at any offset) that are binary on their own (else of the
    judged part)."""
    values = np.frombuffer(data, np.uint8)
    nuls = np.concatenate(([0], np.cumsum(values == 0)))
    controls = np.concatenate(([0], np.cumsum(_IS_CONTROL[values])))
    size = min(_BLOCK, len(data))
    binary = ((nuls[size:] - nuls[:-size] > MAX_NUL_SHARE * size)
              | (controls[size:] - controls[:-size] > MAX_CONTROL_SHARE * size))
    first = int(np.argmax(binary)) if binary.any() else judged_from
    return first + _first_control(data[first:])


_IS_CONTROL = np.zeros(256, bool)
_IS_CONTROL[list(CONTROL)] = True


def _first_control(data: bytes) -> int:
    """Index of the first NUL or control byte in `data` (len(data) if none)."""
    hits = np.flatnonzero(_IS_CONTROL[np.frombuffer(data, np.uint8)])
    return int(hits[0]) if hits.size else len(data)


def binary_data_error(source, offset: int, line: int, found: str, span: int, compressed: bool) -> UserError:
    where = "in the decompressed data " if compressed else ""
    if line > 1 and source.format in ("csv", "jsonl") and not compressed:
        fix = (f"if only the end is damaged, keep the lines before it (e.g. `head -n {line - 1} FILE > "
               f"fixed.{source.format}`), else export it again")
    else:
        fix = "export it again" + (" (UTF-16 text needs csv.encoding: utf-16)" if offset == 0 else "")
    return UserError(f"{source.path}: binary data, not {source.format} text, from byte offset {offset:,} "
                     f"{where}(line {line:,}): {found} in the {span:,} bytes from there. Check that this is the "
                     f"export you meant; {fix}")
