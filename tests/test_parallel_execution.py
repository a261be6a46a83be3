"""Process pools never change results: convert and chunked stage segments give the same output as one process."""

from __future__ import annotations

import pytest

import pipeline.convert.messages as messages_mod
from tests.conftest import ROOT
from tests.test_pipeline_e2e import DATA_FILES


def _sample_config(execution: dict) -> dict:
    import yaml

    cfg = yaml.safe_load((ROOT / "configs" / "default.yaml").read_text())
    for inp in cfg["inputs"]:
        inp["path"] = str(ROOT / inp["path"])
    cfg["stages"] = [s for s in cfg["stages"] if s["name"] != "moderation"]
    cfg["execution"] = execution
    return cfg


@pytest.mark.slow
def test_pool_and_chunks_do_not_change_outputs(run_config, monkeypatch, tmp_path):
    """The sample through every stage: one process whole-frame vs 2 workers, tiny chunks and tasks.
    Each run starts with a cold cache of its own."""
    one, out1 = run_config({**_sample_config({"workers": 1, "chunk_size": 100_000}),
                            "cache": {"dir": str(tmp_path / "cache-one")}}, out="one")
    monkeypatch.setattr(messages_mod, "CONVERSATIONS_PER_TASK", 37)
    many, out2 = run_config({**_sample_config({"workers": 2, "chunk_size": 41, "parallel_min_examples": 1}),
                             "cache": {"dir": str(tmp_path / "cache-many")}}, out="many")
    for f in DATA_FILES:
        assert (out1 / f).read_bytes() == (out2 / f).read_bytes(), f
    parallel = [s for s in many.stats["stages"] if s.get("workers", 1) > 1]
    chunked = {s["name"] for s in parallel}
    assert parallel, "no stage ran in the pool: the test would prove nothing"
    strip = lambda st: {s["name"]: (s["in"], s["out"], s["dropped"]) for s in st["stages"]}
    assert strip(one.stats) == strip(many.stats)
    for name in chunked:  # cache hit/miss counters are run state (they depend on chunking), not data facts
        without_cache = lambda f: {k: v for k, v in f.items() if k != "cache"}
        assert without_cache(one.stats["facts"][name]) == without_cache(many.stats["facts"][name]), name


@pytest.mark.slow
def test_the_pool_parts_stored_detections_reach_the_cache_once_the_run_is_done(run_config, tmp_path):
    """Language parts in two workers append their detections; the runner's finish_run (main process, after
    the parts) moves them into the keyed table, where the next run that detects reads them."""
    import sqlite3

    from pipeline.stages.language.detection import CACHE_FILE, DetectionCache

    cfg = {**_sample_config({"workers": 2, "chunk_size": 41, "parallel_min_examples": 1}),
           "cache": {"dir": str(tmp_path / "cache")}}
    first, _ = run_config(cfg, out="first")
    language = next(s for s in first.stats["stages"] if s["name"] == "language")
    assert language["workers"] == 2 and first.stats["facts"]["language"]["cache"]["misses"] > 100
    table = DetectionCache("py3langid").table
    with sqlite3.connect(tmp_path / "cache" / CACHE_FILE) as con:
        stored = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        assert con.execute(f"SELECT count(*) FROM {table}_new").fetchone()[0] == 0
    assert stored > 100
    # a rerun whose language step runs again (validate's params changed): every side text is read back
    cfg["stages"] = [{**s, "samples_per_reason": 3} if s["name"] == "validate" else s for s in cfg["stages"]]
    second, _ = run_config(cfg, out="second")
    assert not any(s.get("cached") for s in second.stats["stages"] if s["name"] == "language")
    assert second.stats["facts"]["language"]["cache"]["misses"] == 0
