"""Every destination chatprep knows, on the sample, checked by its independent checker: adding a destination
without a checker (tests/destination_checkers) fails here."""

from __future__ import annotations

import json

import pytest
import yaml

from pipeline.targets import provider_modules
from tests.conftest import ROOT
from tests.destination_checkers import DESTINATIONS


def test_every_destination_has_an_independent_checker():
    assert set(provider_modules()) <= set(DESTINATIONS), set(provider_modules()) - set(DESTINATIONS)


@pytest.mark.slow
def test_every_destination_on_the_sample_in_one_run(run_config, monkeypatch):
    cfg = yaml.safe_load((ROOT / "configs/default.yaml").read_text())
    cfg.pop("target")
    cfg["inputs"] = [{**i, "path": str(ROOT / i["path"])} for i in cfg["inputs"]]
    cfg["stages"] = [s for s in cfg["stages"] if s["name"] != "moderation"]
    cfg["targets"] = [{"provider": p} for p in provider_modules()]
    _result, out = run_config(cfg)
    top = json.loads((out / "stats.json").read_text())
    assert len(top["targets"]) == len(provider_modules())
    for folder, summary in top["targets"].items():
        where = out / folder
        stats = json.loads((where / "stats.json").read_text())
        rows = stats["rows"]
        assert rows["input"] == rows["exported"] + rows["rejected"] == top["rows"]["input"], folder
        check = DESTINATIONS[summary["provider"]]
        for split in ("train", "validation"):
            assert check.check_file(where / f"{split}.jsonl", model=summary["model"], split=split) == [], (folder, split)
        assert summary["examples"]["train"] >= 290, folder  # the sample is plain chat: every destination takes it
