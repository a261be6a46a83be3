"""A rerun whose every step is cached copies the first run's output files and report data
(pipeline/engine/output_cache.py) instead of rebuilding them: the same bytes, a new output folder, and a damaged
cached copy is rebuilt rather than trusted."""

from __future__ import annotations

import importlib
import re

import pytest
import yaml

from tests.conftest import ROOT
from tests.test_pinned_outputs import PINNED, _hashes
from tests.test_targets_framework import _featured_file, strict  # noqa: F401 (a fixture)

LINE_FILES = tuple(PINNED)


def _config(tmp_path) -> dict:
    cfg = yaml.safe_load((ROOT / "configs" / "default.yaml").read_text())
    return {**cfg, "cache": {"dir": str(tmp_path / "cache")}}


def _page_data(out) -> str:
    """The report's chart and sample-viewer data (the page's JSON block)."""
    html = (out / "report.html").read_text()
    return re.search(r'<script type="application/json" id="report-data">(.*?)</script>', html, re.DOTALL).group(1)


def _refuse_rebuilding(monkeypatch) -> None:
    from pipeline import outputs

    distributions = importlib.import_module("pipeline.report.distributions")  # the package exports a function
    sample_viewer = importlib.import_module("pipeline.report.sample_viewer")  # of the same name

    def refuse(*_a, **_k):
        raise AssertionError("rebuilt instead of copied from the cache")

    monkeypatch.setattr(outputs, "write_splits", refuse)
    monkeypatch.setattr(outputs, "reject_lines", refuse)
    monkeypatch.setattr(distributions, "_message_columns", refuse)
    monkeypatch.setattr(sample_viewer, "_sample_examples", refuse)


@pytest.fixture
def cold_run(run_config, monkeypatch, tmp_path):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.chdir(ROOT)
    _, out = run_config(_config(tmp_path), out="out-cold")
    assert _hashes(out) == PINNED
    return out


def test_a_cached_rerun_copies_the_files_and_report_data(cold_run, run_config, monkeypatch, tmp_path):
    _refuse_rebuilding(monkeypatch)
    result, out = run_config(_config(tmp_path), out="out-warm")
    assert _hashes(out) == PINNED
    for name in (*LINE_FILES,):
        assert (out / name).read_bytes() == (cold_run / name).read_bytes()
        assert (out / name).stat().st_ino != (cold_run / name).stat().st_ino  # a copy, never a link
    assert _page_data(out) == _page_data(cold_run)
    assert result.stats["targets"] and result.stats["examples"]["train"] > 0


def test_a_damaged_cached_file_is_rebuilt(cold_run, run_config, tmp_path):
    cached = [p for p in (tmp_path / "cache" / "checkpoints").glob("*/*") if p.name[:3].isdigit()]
    assert cached, "the cold run kept its files in the cache"
    with open(cached[0], "ab") as f:
        f.write(b"{}\n")
    _, out = run_config(_config(tmp_path), out="out-warm")
    assert _hashes(out) == PINNED
    assert _page_data(out) == _page_data(cold_run)


def test_outputs_are_not_kept_without_checkpoints(run_config, monkeypatch, tmp_path):
    from pipeline.engine import output_cache

    def refuse(*_a, **_k):
        raise AssertionError("copied into the cache with checkpoints off")

    monkeypatch.setattr(output_cache.shutil, "copyfile", refuse)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.chdir(ROOT)
    cfg = {**_config(tmp_path), "cache": {"dir": str(tmp_path / "cache"), "checkpoints": False}}
    _, out = run_config(cfg)
    assert _hashes(out) == PINNED
    assert not (tmp_path / "cache" / "checkpoints").exists()


def test_the_universe_read_as_arrays_accounts_like_the_plain_frame(tmp_path):
    import polars as pl

    from pipeline.engine.accounting import account_rows, read_universe
    from pipeline.engine.parts import write_parts

    universe = pl.DataFrame({"source_file": ["b.csv"] * 3 + ["a.csv"] * 4, "row": [1, 2, 3, 1, 2, 3, 4]})
    parts = write_parts(universe, tmp_path, "universe", 3)  # three parts; a file spans two of them
    read = read_universe(parts)
    assert {f: r.tolist() for f, r in read.items()} == {"b.csv": [1, 2, 3], "a.csv": [1, 2, 3, 4]}
    exported = pl.DataFrame({"source_file": ["a.csv", "b.csv"], "source_rows": [[1, 2, 3, 4], [2]]})
    rejects = pl.DataFrame({"source_file": ["b.csv"], "source_rows": [[1, 3]]})
    got = account_rows(read, exported, rejects)
    assert got == account_rows(universe, exported, rejects)
    assert list(got["by_source"]) == ["b.csv", "a.csv"]  # the order rows were read in


@pytest.mark.usefixtures("strict")  # a test destination whose folder gets its own drops and a byte-order mark
def test_several_targets_are_copied_folder_by_folder(run_config, monkeypatch, tmp_path):
    """Each destination's folder (its lines with a byte-order mark, provenance, rejects with its own drops)."""
    cfg = {"inputs": [{"path": str(_featured_file(tmp_path)), "layout": "conversations"}],
           "stages": [{"name": "validate"}, {"name": "export"}],
           "targets": [{"provider": "openai"}, {"provider": "strict"}],
           "cache": {"dir": str(tmp_path / "cache")}}
    _, cold = run_config(cfg, out="out-cold")
    _refuse_rebuilding(monkeypatch)
    _, warm = run_config(cfg, out="out-warm")
    files = sorted(p.relative_to(cold) for p in cold.rglob("*.jsonl"))
    assert len(files) == 8 and any(f.parts[0].startswith("strict") for f in files)
    for f in files:
        assert (warm / f).read_bytes() == (cold / f).read_bytes(), f
