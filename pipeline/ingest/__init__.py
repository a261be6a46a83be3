"""Ingest: resolve the configured inputs and read each file into a raw table of string cells.

Every data record gets a 1-based `__row` number (header excluded; for JSONL the line number). Files may
be compressed (.gz .bz2 .xz .zst) or members of a .zip; the format comes from the name under that.
Records that cannot be read become row rejects; a file that cannot be read at all stops the run.
"""

from pipeline.ingest.readers import RawTable, RowReject, read_table
from pipeline.ingest.sources import SourceFile, resolve_sources

__all__ = ["RawTable", "RowReject", "SourceFile", "read_table", "resolve_sources"]
