"""Binary data where text is expected, told from the first MiB of a CSV / JSON / JSONL source (after
decompression) before it is parsed: a Parquet file under a text name, UTF-16 text read as UTF-8, or
bytes that are mostly NULs or control characters. The run stops naming the file, what was found and the
fix, instead of parsing gigabytes of garbage into one huge cell.
"""

from __future__ import annotations

from pipeline.errors import UserError
from pipeline.ingest.file_streams import open_bytes

SNIFF_BYTES = 1 << 20
_CONTROL = bytes(b for b in range(32) if b not in b"\t\n\r\x0b\x0c\x1b")
MIN_JUDGED_BYTES = 4096  # a smaller file is parsed as it is (cheap); its cells are judged row by row
MAX_NUL_SHARE = 0.01  # more NULs than this share of the sample: binary, not text
MAX_CONTROL_SHARE = 0.1  # more control bytes (NUL included) than this share: binary, not text
_SIGNATURES = {b"PAR1": ("a Parquet file", "set the input's format: parquet (or name the file .parquet)"),
               b"PK\x03\x04": ("a zip archive", "name it .zip (its CSV/JSON members are read)"),
               b"\x1f\x8b": ("gzip data", "name it with .gz after the format (e.g. chats.csv.gz)"),
               b"\x28\xb5\x2f\xfd": ("zstd data", "name it with .zst after the format (e.g. chats.csv.zst)"),
               b"%PDF": ("a PDF document", "export the conversations as CSV, JSON or Parquet")}
_WIDE = {b"\xff\xfe": "utf-16", b"\xfe\xff": "utf-16"}


def check_text_data(source, encoding: str) -> None:
    """Raise UserError when the top of a text source is binary data."""
    if any(wide in encoding.replace("-", "").replace("_", "") for wide in ("16", "32")):
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
    nuls, controls = head.count(0), len(head) - len(head.translate(None, _CONTROL))
    if nuls > MAX_NUL_SHARE * len(head) or controls > MAX_CONTROL_SHARE * len(head):
        found = f"{nuls:,} NUL bytes" if nuls * 2 >= controls else f"{controls:,} control bytes"
        raise UserError(f"{source.path}: binary data, not {source.format} text: {found} in its first "
                        f"{len(head):,} bytes. Check that this is the export you meant (UTF-16 text needs "
                        f"csv.encoding: utf-16)")
