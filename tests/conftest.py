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


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray instance (2 CPUs, a 500 MB object store) for every Ray test of the session, stopped at
    its end; RayExecutor joins it and leaves it running. Without Ray installed the tests are skipped, or fail
    when CHATPREP_REQUIRE_RAY is set (CI installs Ray: a missing install must not pass as skips)."""
    try:
        import ray
    except ImportError:
        if os.environ.get("CHATPREP_REQUIRE_RAY"):
            pytest.fail("Ray is not installed but CHATPREP_REQUIRE_RAY is set: run `make setup-ray`")
        pytest.skip("Ray is not installed (make setup-ray)")
    from pipeline.engine.ray_executor import WORKER_ENV

    ray.init(address="local", num_cpus=2, object_store_memory=500 * 2**20, include_dashboard=False,
             configure_logging=False, runtime_env={"env_vars": dict(WORKER_ENV)})
    try:
        yield ray
    finally:
        ray.shutdown()
