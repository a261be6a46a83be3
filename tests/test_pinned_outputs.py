"""The sample's data files are pinned by hash: a refactor that changes one byte of what users train on fails here.

The hashes were taken from `configs/default.yaml` on data/sample/ before the engine/stages re-layout (issue 11)
and must only change with a deliberate, documented behaviour change. Moderation runs unscreened here (no
OPENAI_API_KEY), as `make prepare` does on a machine without a key.
"""

from __future__ import annotations

import hashlib

import pytest
import yaml

from tests.conftest import ROOT

PINNED = {
    "train.jsonl": "b60bbb29b5fd5a7541d8a859c554ddd0253f3fb79ed4cc325ae20262d7b56d35",
    "validation.jsonl": "4882f66cdd7f52d4f7900dc7a91126172cd8dd9ac85ba5653d73af4d021951db",
    "provenance.jsonl": "df28e6a281e3e8e48fec156fce86e79bde79d53f9f9ad8452b8e0458b04d0d77",
    "rejects.jsonl": "7164aca0e07946183be6bd60a4114964ec4df28463655aa596a9a3c1dbd0ae89",
}


def _default_config(execution: dict | None = None) -> dict:
    cfg = yaml.safe_load((ROOT / "configs" / "default.yaml").read_text())  # input paths relative to ROOT
    if execution:
        cfg["execution"] = execution
    return cfg


def _hashes(out) -> dict[str, str]:
    return {name: hashlib.sha256((out / name).read_bytes()).hexdigest() for name in PINNED}


@pytest.mark.parametrize("execution", [
    None,                                                                # defaults: one process at this size
    {"workers": 2, "chunk_size": 41, "parallel_min_examples": 1},        # the pool, many small parts
], ids=["default", "two-workers-small-parts"])
def test_sample_outputs_match_the_pinned_hashes(run_config, monkeypatch, tmp_path, execution):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.chdir(ROOT)  # source paths (in provenance, rejects and split groups) as in `make prepare`
    cfg = {**_default_config(execution), "cache": {"dir": str(tmp_path / "cache"), "checkpoints": False}}
    result, out = run_config(cfg)
    assert result.stats["rows"]["input"] == 1403
    assert _hashes(out) == PINNED


def test_outputs_written_in_slices_match_the_pinned_hashes(run_config, monkeypatch, tmp_path):
    """Provenance and reject lines are built a slice at a time (pipeline/outputs.py LINES_PER_SLICE): slices
    of 7 lines, a prime that cuts both files many times, give the same bytes."""
    from pipeline import outputs

    monkeypatch.setattr(outputs, "LINES_PER_SLICE", 7)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.chdir(ROOT)
    result, out = run_config({**_default_config(), "cache": {"dir": str(tmp_path / "cache"), "checkpoints": False}})
    assert result.stats["rows"]["input"] == 1403
    assert _hashes(out) == PINNED
