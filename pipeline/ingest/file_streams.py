"""A source opened as a stream: plain, compressed (.gz .bz2 .xz .zst) or a member of a .zip, read as it
goes — never decompressed whole into memory. gzip, bz2 and zstd are decoded by Arrow's codecs, xz by
`lzma`, zip members by `zipfile`.

Text streams decode as they read, through a guard that judges every MiB for binary data (binary_guard.py:
the run stops naming where the binary data begins, instead of reading hundreds of MB of NULs into one
cell); a byte the encoding cannot decode stops the run naming its line and offset in the decompressed data
(found by a second pass, only on that error path, which also tells binary data from another encoding).
"""

from __future__ import annotations

import codecs
import io
import lzma
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import PurePosixPath
from typing import BinaryIO

from pipeline.errors import UserError
from pipeline.ingest.binary_guard import WINDOW_BYTES, BinaryGuard, wide_encoding

COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz", ".zst": "zstd"}
_ARROW_CODECS = {"gzip", "bz2", "zstd"}
_DAMAGED = (OSError, EOFError, lzma.LZMAError, zipfile.BadZipFile, zlib.error)


def compression_of(name: str) -> str | None:
    """gzip | bz2 | xz | zstd from the name's last suffix, or None."""
    return COMPRESSIONS.get(PurePosixPath(name).suffix.lower())


def without_compression(name: str) -> str:
    """`test.jsonl.gz` -> `test.jsonl`: the name that tells the format of the data inside."""
    return name[: -len(PurePosixPath(name).suffix)] if compression_of(name) else name


def is_compressed(source) -> bool:
    """Whether the source's data is decompressed as it is read (a compressed file or a zip member)."""
    return source.member is not None or compression_of(source.file) is not None


def is_utf8(encoding: str) -> bool:
    return encoding.lower().replace("_", "-") in ("utf-8", "utf8")


@contextmanager
def open_bytes(source) -> Iterator[BinaryIO]:
    """The source's data as a binary stream (decompressed, or the zip member's bytes)."""
    codec = "zip" if source.member is not None else compression_of(source.file)
    try:
        if source.member is not None:
            with zipfile.ZipFile(source.file) as archive, archive.open(source.member) as f:
                yield f
        elif codec in _ARROW_CODECS:
            import pyarrow as pa

            with pa.input_stream(source.file, compression=codec) as f:
                yield f
        elif codec == "xz":
            with lzma.open(source.file) as f:
                yield f
        else:
            with open(source.file, "rb") as f:
                yield f
    except _DAMAGED as e:
        if codec is None:
            raise UserError(f"{source.path}: cannot read the file ({e})") from None
        raise UserError(f"{source.path}: the {codec} data is damaged or not {codec} ({type(e).__name__}: {e}). "
                        f"Test the file (e.g. `{_TEST_COMMANDS[codec]}`), or rename it if it is not "
                        f"compressed") from None


_TEST_COMMANDS = {"gzip": "gzip -t FILE", "bz2": "bzip2 -t FILE", "xz": "xz -t FILE", "zstd": "zstd -t FILE",
                  "zip": "unzip -t FILE"}


@contextmanager
def open_text(source, encoding: str, errors: str, newline: str) -> Iterator[io.TextIOWrapper]:
    """The source's data as text, decoded as it is read (a UTF-8 byte-order mark is dropped). `newline`
    as for `open()`: "" keeps line endings and splits at \\r, \\n and \\r\\n; "\\n" splits at \\n only."""
    enc = "utf-8-sig" if is_utf8(encoding) else encoding
    try:
        codecs.lookup(enc)
    except LookupError:
        raise UserError(f"{source.path}: unknown encoding {encoding!r} (e.g. utf-8, cp1252, latin-1)") from None
    with open_bytes(source) as raw:
        guarded = raw if wide_encoding(encoding) else BinaryGuard(raw, source, is_compressed(source))
        text = io.TextIOWrapper(guarded, encoding=enc, errors=errors, newline=newline)
        try:
            yield text
        except UnicodeDecodeError:
            raise _decode_error(source, encoding) from None
        finally:
            text.detach()  # `open_bytes` closes the stream


def _decode_error(source, encoding: str) -> UserError:
    """Where the first undecodable byte is: its line (1-based) and offset in the decompressed data; or,
    when the data there (up to the next MiB) is binary, where the binary data begins."""
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    offset = newlines = 0
    found = None
    try:
        with open_bytes(source) as raw:
            data = raw if wide_encoding(encoding) else BinaryGuard(raw, source, is_compressed(source))
            for chunk in iter(lambda: data.read(WINDOW_BYTES), b""):
                if found is not None:
                    return found  # the window after the bad byte was judged too: not binary data
                pending = decoder.getstate()[0]
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as e:
                    start = offset - len(pending) + e.start
                    line = newlines - pending.count(b"\n") + e.object[: e.start].count(b"\n") + 1
                    found = UserError(
                        f"{source.path}: line {line}: byte 0x{e.object[e.start]:02x} at offset {start} is not "
                        f"valid {encoding}. Set the input's csv.encoding (e.g. cp1252 or latin-1) if the file uses "
                        f"another encoding, or csv.encoding_errors: replace to keep going with U+FFFD in place of "
                        f"bad bytes.")
                offset += len(chunk)
                newlines += chunk.count(b"\n")
    except UserError as binary:
        return binary
    return found or UserError(f"{source.path}: the data ends inside a {encoding} character; set "
                              f"csv.encoding_errors: replace to keep going with U+FFFD in its place")
