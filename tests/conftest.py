"""Shared fixtures: where the real third-party data is, the tiktoken cache, and a tiny pipeline runner."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CHATPREP_SHARED", ROOT.parent / "shared"))
REALDATA = SHARED / "realdata"

if "TIKTOKEN_CACHE_DIR" not in os.environ and (SHARED / "tiktoken_cache").is_dir():
    os.environ["TIKTOKEN_CACHE_DIR"] = str(SHARED / "tiktoken_cache")


@pytest.fixture
def realdata() -> Path:
    """The shared real-data folder; tests using it are skipped cleanly when it is absent."""
    if not REALDATA.is_dir():
        pytest.skip(f"real data folder not found at {REALDATA} (set CHATPREP_SHARED)")
    return REALDATA


@pytest.fixture
def run_config(tmp_path, monkeypatch):
    """Run the pipeline on a config dict (written as YAML in tmp_path); returns (result, out_dir)."""
    import yaml

    from pipeline.config_loader import load_config
    from pipeline.runner import run_pipeline

    def _run(config: dict, name: str = "config.yaml", out: str = "out"):
        config = {"cache": {"dir": str(tmp_path / ".cache")}, **config}
        path = tmp_path / name
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        cfg = load_config(path)
        result = run_pipeline(cfg, str(path), tmp_path / out, quiet=True)
        return result, tmp_path / out

    return _run


def sample_config(stage: str) -> dict:
    """The default config's inputs (absolute paths) with only `stage`, as configured there, and export."""
    import yaml

    cfg = yaml.safe_load((ROOT / "configs/default.yaml").read_text())
    inputs = [{**i, "path": str(ROOT / i["path"])} for i in cfg["inputs"]]
    block = next(s for s in cfg["stages"] if s["name"] == stage)
    return {"inputs": inputs, "convert": cfg["convert"], "stages": [block, {"name": "export"}]}


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
