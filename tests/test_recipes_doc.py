"""Every recipe in docs/layouts.md is a valid input config and is run end to end by some test."""

from __future__ import annotations

import pytest
import yaml

from pipeline.config_loader import load_config
from tests.recipes import ROOT, recipe_config, recipes

TESTS = ROOT / "tests"


def test_the_recipes_are_there():
    assert len(recipes()) >= 12


@pytest.mark.parametrize("recipe_id", sorted(recipes()))
def test_recipe_loads_and_is_run_by_a_test(recipe_id, tmp_path):
    config = tmp_path / "c.yaml"
    cfg = recipe_config(recipe_id, tmp_path / "data.csv")
    if cfg["inputs"][0].get("split") == "validation":  # such a recipe sits beside a train input
        cfg["inputs"].append({**cfg["inputs"][0], "split": "auto", "path": str(tmp_path / "train.csv")})
    config.write_text(yaml.safe_dump(cfg, sort_keys=False))
    load_config(config)  # keys and values valid (files are resolved when a run starts)
    users = [p.name for p in TESTS.glob("test_*.py")
             if p.name != "test_recipes_doc.py" and f'"{recipe_id}"' in p.read_text(encoding="utf-8")]
    assert users, f"no test runs recipe {recipe_id!r} from docs/layouts.md"
