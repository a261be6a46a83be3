"""Example frames on disk: numbered Parquet parts that together hold one frame, in row order.

Between steps the runner keeps examples here rather than in memory: a chunked segment's workers read
their input part and write their output parts themselves, so the main process never holds the
whole frame for batch stages, and a step's output on disk is its checkpoint. Only global stages
(dedup, split) and the report read a whole frame, and they may read just the columns they need.

Parts are written with LZ4 (fast to write and read; they are working files, not an archive), through
pipeline/engine/storage.py: a part's location is a local path or a URI (s3://, gs://) every node can open.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import polars as pl

from pipeline.engine import storage
from pipeline.engine.storage import Location

# the bulky columns, left on disk where a step does not need them; a name ending in ":" is a prefix (line:<x>)
TEXT_COLUMNS = ("example", "line", "line:")


def _left_out(name: str, without: tuple[str, ...]) -> bool:
    return any(name == w or (w.endswith(":") and name.startswith(w)) for w in without)


@dataclass(frozen=True)
class Parts:
    """Files `names` (in order) inside `folder` (a local Path, or a URI: pipeline/engine/storage.py), holding
    `heights` rows each."""

    folder: Location
    names: tuple[str, ...]
    heights: tuple[int, ...]

    @property
    def height(self) -> int:
        return sum(self.heights)

    @property
    def paths(self) -> list[Location]:
        return [storage.join(self.folder, n) for n in self.names]

    def read(self, i: int, columns: list[str] | None = None) -> pl.DataFrame:
        return _read(storage.join(self.folder, self.names[i]), columns)

    def frames(self, columns: list[str] | None = None) -> Iterator[pl.DataFrame]:
        for i in range(len(self.names)):
            yield self.read(i, columns)

    def read_all(self, columns: list[str] | None = None, without: tuple[str, ...] = ()) -> pl.DataFrame:
        """The whole frame (or some columns of it; `without` leaves columns out)."""
        if without:
            frames = []
            for path in self.paths:
                names = storage.parquet_columns(path)
                frames.append(_read(path, [c for c in (columns or names) if not _left_out(c, without) and c in names]))
        else:
            frames = list(self.frames(columns))
        return pl.concat(frames, how="diagonal_relaxed") if len(frames) > 1 else frames[0]

    def texts(self, ids) -> dict[str, str]:
        """example_id -> example text for the rows whose example_id is in `ids`, read part by part (so only one
        part's texts are in memory besides the ones found)."""
        if not len(ids):
            return {}
        wanted = pl.Series(list(ids), dtype=pl.Utf8).implode()
        found: dict[str, str] = {}
        for frame in self.frames(["example_id", "example"]):
            found.update(frame.filter(pl.col("example_id").is_in(wanted)).iter_rows())
        return found

    def to_json(self) -> dict:
        return {"names": list(self.names), "heights": list(self.heights)}

    @staticmethod
    def from_json(folder: Location, data: dict) -> Parts:
        return Parts(storage.folder_of(folder), tuple(data["names"]), tuple(data["heights"]))

    def moved(self, folder: Location) -> Parts:
        return Parts(storage.folder_of(folder), self.names, self.heights)


def _read(path: Location, columns: list[str] | None) -> pl.DataFrame:
    return storage.read_parquet(path, columns)


def write_part(frame: pl.DataFrame, path: Location) -> None:
    """One part, published whole (a temporary name renamed into place; one object on S3 / GCS)."""
    storage.write_parquet(frame, path)


def part_name(prefix: str, i: int) -> str:
    return f"{prefix}-{i:05d}.parquet"


def write_parts(frame: pl.DataFrame, folder: Location, prefix: str, size: int) -> Parts:
    """`frame` as parts of at most `size` rows (always at least one part, so the schema survives)."""
    writer = PartWriter(folder, prefix, size)
    writer.add(frame)
    return writer.parts()


def gather_parts(folder: Location, prefix: str, heights: list[int]) -> Parts:
    """The Parts of files `prefix-00000.parquet`, ... already written (e.g. by workers)."""
    return Parts(storage.folder_of(folder), tuple(part_name(prefix, i) for i in range(len(heights))),
                 tuple(heights))


class PartWriter:
    """Writes frames, in order, as parts of at most `size` rows as they come (nothing accumulates in
    memory). With `schema`, every part gets exactly those columns (missing ones null), so parts of
    inputs with different metadata columns still share one schema."""

    def __init__(self, folder: Location, prefix: str, size: int, schema: dict | None = None):
        self.folder, self.prefix, self.size, self.schema = storage.folder_of(folder), prefix, size, schema
        self.names: list[str] = []
        self.heights: list[int] = []
        self._empty = pl.DataFrame(schema=schema or {})  # what an empty result is written as

    def _conform(self, frame: pl.DataFrame) -> pl.DataFrame:
        if self.schema is None:
            return frame
        return (frame.with_columns(pl.lit(None, dtype).alias(n) for n, dtype in self.schema.items()
                                   if n not in frame.columns).select(list(self.schema)).cast(self.schema))

    def add(self, frame: pl.DataFrame) -> None:
        frame = self._conform(frame)
        self._empty = frame.head(0)
        for start in range(0, frame.height, self.size):
            chunk = frame.slice(start, self.size)
            name = part_name(self.prefix, len(self.names))
            write_part(chunk, storage.join(self.folder, name))
            self.names.append(name)
            self.heights.append(chunk.height)

    def mark(self) -> int:
        """Where the writer is now: `rollback(mark)` forgets every part written after it."""
        return len(self.names)

    def rollback(self, mark: int) -> None:
        """Forget the parts written since `mark` (the next ones reuse their names and overwrite them)."""
        del self.names[mark:], self.heights[mark:]

    def parts(self) -> Parts:
        if not self.names:
            name = part_name(self.prefix, 0)
            write_part(self._empty, storage.join(self.folder, name))
            return Parts(self.folder, (name,), (0,))
        return Parts(self.folder, tuple(self.names), tuple(self.heights))
