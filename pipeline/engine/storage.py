"""Where Parquet parts live: a folder on this machine (or one every node mounts), or object storage named by a
URI (`s3://bucket/prefix`, `gs://bucket/prefix`, `hdfs://…`, `file:///…`) read and written through pyarrow.fs.

Tasks read and write parts only through here (pipeline/engine/parts.py), so a part's location is a string a
worker on another node can open, never a path that only means something on the driver's disk. A part is
published whole: locally under a temporary name renamed into place; on object storage as one object, which
S3 and GCS make visible only once its upload completed; elsewhere under a temporary name moved into place.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import polars as pl

COMPRESSION = "lz4"
_WHOLE_OBJECT_STORES = {"s3", "gcs"}  # an object appears complete or not at all: no temporary name needed

Location = Path | str


def is_uri(location: Location) -> bool:
    return isinstance(location, str) and "://" in location


def join(folder: Location, name: str) -> Location:
    """`folder`/`name`, keeping a URI a URI (pathlib would fold `s3://b` into `s3:/b`)."""
    return f"{folder.rstrip('/')}/{name}" if is_uri(folder) else Path(folder) / name


def folder_of(location: Location) -> Location:
    """A Parts folder as given: a URI stays a string, anything else becomes a Path."""
    return location if is_uri(location) else Path(location)


def filesystem(uri: str):
    """(pyarrow FileSystem, path inside it) for a URI."""
    from pyarrow import fs

    return fs.FileSystem.from_uri(uri)


def read_parquet(location: Location, columns: list[str] | None = None) -> pl.DataFrame:
    if not is_uri(location):
        return pl.read_parquet(location, columns=columns, use_pyarrow=False)
    import pyarrow.parquet as pq

    fs, path = filesystem(location)
    return pl.from_arrow(pq.read_table(path, columns=columns, filesystem=fs))


def parquet_columns(location: Location) -> list[str]:
    if not is_uri(location):
        return list(pl.read_parquet_schema(location))
    import pyarrow.parquet as pq

    fs, path = filesystem(location)
    with fs.open_input_file(path) as f:
        return list(pq.read_schema(f).names)


def write_parquet(frame: pl.DataFrame, location: Location) -> None:
    """One part, published whole (see the module docstring)."""
    if not is_uri(location):
        path = Path(location)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        frame.write_parquet(tmp, compression=COMPRESSION, statistics=False)
        tmp.replace(path)
        return
    buffer = io.BytesIO()
    frame.write_parquet(buffer, compression=COMPRESSION, statistics=False)
    fs, path = filesystem(location)
    parent, _, name = path.rpartition("/")
    fs.create_dir(parent, recursive=True)
    target = path if fs.type_name in _WHOLE_OBJECT_STORES else f"{parent}/.{name}.{os.getpid()}.tmp"
    with fs.open_output_stream(target) as out:
        out.write(buffer.getbuffer())
    if target != path:
        fs.move(target, path)
