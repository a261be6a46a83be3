"""Binary data where text is expected, in a CSV / JSON / JSONL source (after decompression): the top of the
file before it is parsed — a Parquet file under a text name, UTF-16 text read as UTF-8, or a first MiB
that is mostly NULs or control bytes — and, for binary data further down, `scan_for_binary`, which reads
the whole source through the same window rule (binary_guard.py) in constant memory. The run stops naming
the file, what was found and the fix, instead of parsing gigabytes of garbage into one huge cell.
"""

from __future__ import annotations

import numpy as np

from pipeline.errors import UserError
from pipeline.ingest.binary_guard import (
    MIN_JUDGED_BYTES,
    WINDOW_BYTES,
    BinaryGuard,
    counts,
    found_words,
    is_binary,
    wide_encoding,
)
from pipeline.ingest.file_streams import is_compressed, open_bytes

SNIFF_BYTES = WINDOW_BYTES
_SIGNATURES = {b"PAR1": ("a Parquet file", "set the input's format: parquet (or name the file .parquet)"),
               b"PK\x03\x04": ("a zip archive", "name it .zip (its CSV/JSON members are read)"),
               b"\x1f\x8b": ("gzip data", "name it with .gz after the format (e.g. chats.csv.gz)"),
               b"\x28\xb5\x2f\xfd": ("zstd data", "name it with .zst after the format (e.g. chats.csv.zst)"),
               b"%PDF": ("a PDF document", "export the conversations as CSV, JSON or Parquet")}
_WIDE = {b"\xff\xfe": "utf-16", b"\xfe\xff": "utf-16"}


def check_text_data(source, encoding: str) -> None:
    """Raise UserError when the top of a text source is binary data."""
    if wide_encoding(encoding):
        return  # UTF-16 / UTF-32 text holds NULs: the decoder judges it
    with open_bytes(source) as f:
        head = f.read(SNIFF_BYTES)
    for magic, (what, fix) in _SIGNATURES.items():
        if head.startswith(magic):
            raise UserError(f"{source.path}: read as {source.format} but it starts like {what}; {fix}")
    for bom, name in _WIDE.items():
        if head.startswith(bom):
            raise UserError(f"{source.path}: the file is {name.upper()} text (byte-order mark "
                            f"{bom.hex(' ')}); set the input's csv.encoding: {name}")
    if len(head) < MIN_JUDGED_BYTES:
        return
    nuls, controls = counts(head)
    if is_binary(nuls, controls, len(head)):
        raise UserError(f"{source.path}: binary data, not {source.format} text: {found_words(nuls, controls)} in "
                        f"its first {len(head):,} bytes. Check that this is the export you meant (UTF-16 text "
                        f"needs csv.encoding: utf-16)")


def scan_for_binary(source, encoding: str) -> None:
    """Read the whole source window by window (2 MiB of memory at most): UserError at the first binary
    window, naming the byte offset and line where the binary data begins."""
    if wide_encoding(encoding):
        return
    with open_bytes(source) as raw:
        guard = BinaryGuard(raw, source, is_compressed(source))
        while guard.read(WINDOW_BYTES):
            pass


_SLICE = 8 << 20
_WHITESPACE = np.frombuffer(b"\t\n\r\x0b\x0c\x1b", np.uint8)


def has_control_bytes(batch) -> bool:
    """Whether a text cell of an Arrow record batch holds a NUL or control byte: one numpy pass over each
    string column's character data (~10 GB/s), so the fast CSV path only scans a file that may be binary."""
    for column in batch.columns:
        data = column.buffers()[2] if len(column.buffers()) == 3 else None
        if data is None:
            continue
        values = np.frombuffer(data, np.uint8)
        for at in range(0, values.size, _SLICE):
            part = values[at:at + _SLICE]
            if part.min() >= 32:  # the common case, a reduction with no array to allocate
                continue
            low = part[part < 32]
            if low.size and not np.isin(low, _WHITESPACE).all():
                return True
    return False
