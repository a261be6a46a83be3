"""Parts by location (pipeline/engine/storage.py): a local path or a URI opened through pyarrow.fs. A URI stays
a URI through joins and checkpoint JSON, parts written and read there hold the same frames, and a per-part task
run on Ray workers from and to a file:// URI writes exactly the parts it writes from and to a local folder."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from pipeline.engine import storage
from pipeline.engine.parts import Parts, write_parts
from pipeline.engine.ray_executor import RayExecutor
from pipeline.engine.segments import _quiet, _run_chunk, _warn_in_worker
from pipeline.engine.stage import StageContext
from tests.conftest import sample_config


def test_a_uri_stays_a_uri():
    assert storage.join("s3://bucket/run/", "kept-00000.parquet") == "s3://bucket/run/kept-00000.parquet"
    assert storage.join("gs://b", "x.parquet") == "gs://b/x.parquet"
    assert storage.join(Path("/tmp/run"), "x.parquet") == Path("/tmp/run/x.parquet")
    parts = Parts.from_json("s3://bucket/ck/abc", {"names": ["kept-00000.parquet"], "heights": [3]})
    assert parts.paths == ["s3://bucket/ck/abc/kept-00000.parquet"]
    assert Parts.from_json("/tmp/ck", {"names": [], "heights": []}).folder == Path("/tmp/ck")


def test_object_store_uris_resolve_through_pyarrow_fs():
    try:
        fs, path = storage.filesystem("s3://bucket/checkpoints/abc?region=eu-west-1")
    except Exception as e:  # noqa: BLE001 — a pyarrow built without S3
        pytest.skip(f"pyarrow has no S3 filesystem here: {e}")
    assert fs.type_name == "s3" and path == "bucket/checkpoints/abc"


def test_parts_written_and_read_by_uri(tmp_path):
    frame = pl.DataFrame({"example_id": [f"e{i}" for i in range(7)], "example": [f"text {i}" for i in range(7)],
                          "n": list(range(7))})
    parts = write_parts(frame, (tmp_path / "p").as_uri(), "examples", 3)
    assert isinstance(parts.folder, str) and parts.folder.startswith("file://") and parts.heights == (3, 3, 1)
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == [f"examples-0000{i}.parquet" for i in range(3)]
    assert parts.read_all().equals(frame)
    assert parts.read_all(without=("example",)).equals(frame.drop("example"))
    assert parts.texts(["e5", "e1", "nope"]) == {"e1": "text 1", "e5": "text 5"}


def test_a_task_on_ray_reads_and_writes_parts_by_uri(ray_session, tmp_path):
    """The sample's first part through normalize + pii + validate as a Ray task, from and to file:// URIs (a
    location a worker opens through pyarrow.fs, as it would s3://), equals the same task on local paths."""
    import yaml

    from pipeline.config_loader import load_config
    from pipeline.convert.step import example_schema, read_and_convert
    from pipeline.engine.parts import PartWriter
    from pipeline.ingest import resolve_sources
    from pipeline.stages import stage_module

    cfg = sample_config("pii")
    cfg["stages"] = [{"name": "normalize"}, cfg["stages"][0], {"name": "validate"}, {"name": "export"}]
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({**cfg, "cache": {"dir": str(tmp_path / "cache")}}))
    config = load_config(tmp_path / "c.yaml")
    writer = PartWriter(tmp_path / "in", "examples", 100, example_schema(config))
    read_and_convert(config, resolve_sources(config.inputs), writer, lambda *a: None)
    examples = writer.parts()
    specs = [(stage_module(p.name).__name__, p) for p in config.stages[:3]]
    ctx = StageContext(config, tmp_path / "out", tmp_path / "cache", _quiet, _warn_in_worker)
    local = _run_chunk(specs, examples.paths[1], tmp_path / "local", 1, ctx)
    uri_in, uri_out = storage.join((tmp_path / "in").as_uri(), examples.names[1]), (tmp_path / "remote").as_uri()
    tasks = [(specs, uri_in, uri_out, i, ctx) for i in (1, 2)]      # two tasks: they run on Ray workers
    on_ray, _ = RayExecutor(2).map(_run_chunk, tasks, 2)
    assert [r[:4] for r in on_ray] == [r[:4] for r in local]
    written = sorted(p.name for p in (tmp_path / "local").iterdir())
    assert written and sorted(p.name for p in (tmp_path / "remote").iterdir()) == sorted(
        written + [n.replace("-00001", "-00002") for n in written])   # nothing else: no temporary file left
    for name in written:
        assert pl.read_parquet(tmp_path / "remote" / name).equals(pl.read_parquet(tmp_path / "local" / name)), name
