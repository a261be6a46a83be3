"""The preference sample (data/sample/generate_preference.py, configs/preference.yaml, `make prepare-preference`):
from YAML alone, every destination's DPO file passes its independent checker, every source row is a pair or a
reject, and each case planted in the data (data/sample/README_preference.md) lands where the README says. The
committed files are what the generator writes."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT
from tests.destination_checkers import DESTINATIONS

SAMPLE = ROOT / "data" / "sample"
GENERATED = ("rated_replies.csv", "agent_edits.jsonl", "README_preference.md")
PROVIDERS = ("openai", "azure-openai", "together", "fireworks", "hf", "bedrock-nova")
PII_VALUES = ("billing.sam.porter@example.com", "+44 20 7946 0958")


def read_jsonl(path: Path) -> list[dict]:
    """Lines of a written file (azure-openai's start with a byte-order mark)."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8-sig").splitlines() if line.strip()]


def source_ids() -> dict[tuple[str, int], str]:
    """(file name, row) -> the row's prompt_id (ratings) or id (edits); rows are 1-based records."""
    with (SAMPLE / "rated_replies.csv").open(encoding="utf-8", newline="") as f:
        ids = {("rated_replies.csv", i): row["prompt_id"] for i, row in enumerate(csv.DictReader(f), start=1)}
    edits = read_jsonl(SAMPLE / "agent_edits.jsonl")
    return ids | {("agent_edits.jsonl", i): row["id"] for i, row in enumerate(edits, start=1)}


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """configs/preference.yaml as `make prepare-preference` runs it (from the repo root, no OPENAI_API_KEY),
    into a temporary folder."""
    from pipeline.config_loader import load_config
    from pipeline.runner import run_pipeline

    tmp = tmp_path_factory.mktemp("preference-sample")
    cfg = yaml.safe_load((ROOT / "configs" / "preference.yaml").read_text())
    cfg["cache"] = {"dir": str(tmp / "cache")}
    path = tmp / "preference.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("OPENAI_API_KEY", raising=False)
        mp.chdir(ROOT)  # the inputs' paths are relative to the repo root, as in the Makefile
        run_pipeline(load_config(path), str(path), tmp / "out", quiet=True)
    return tmp / "out"


def folders(out: Path) -> dict[str, Path]:
    """provider -> its output folder (one per target)."""
    found = {}
    for d in sorted(p for p in out.iterdir() if p.is_dir()):
        provider = next(p for p in sorted(PROVIDERS, key=len, reverse=True) if d.name.startswith(p + "-"))
        found[provider] = d
    return found


def outcomes(folder: Path) -> dict[str, list[tuple[str, str]]]:
    """source id -> [(stage or 'written', reason or split), ...] for every source row of the folder's run."""
    ids, where = source_ids(), defaultdict(list)
    for rec in read_jsonl(folder / "provenance.jsonl"):
        for row in rec["source"]["rows"]:
            where[ids[(Path(rec["source"]["file"]).name, row)]].append(("written", rec["file"]))
    for rec in read_jsonl(folder / "rejects.jsonl"):
        for row in rec["source"]["rows"]:
            where[ids[(Path(rec["source"]["file"]).name, row)]].append((rec["stage"], rec["reason"]))
    return where


def paired(outcome: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """A rated prompt's outcomes without its unpaired replies (neither its best nor its worst)."""
    return [o for o in outcome if o != ("convert", "unpaired_reply")]


def test_every_destination_file_passes_its_checker_and_every_row_is_a_pair_or_a_reject(run):
    by_provider = folders(run)
    assert set(by_provider) == set(PROVIDERS)
    ids = source_ids()
    for provider, folder in by_provider.items():
        written = 0
        for split in ("train", "validation"):
            path = folder / f"{split}.jsonl"
            assert DESTINATIONS[provider].check_preference_file(path, split=split) == [], folder.name
            written += len(read_jsonl(path))
        provenance, rejects = read_jsonl(folder / "provenance.jsonl"), read_jsonl(folder / "rejects.jsonl")
        assert len(provenance) == written > 80, folder.name
        cited = {(Path(r["source"]["file"]).name, row) for r in provenance + rejects for row in r["source"]["rows"]}
        assert cited == set(ids), folder.name  # every row of both files, and no other
        rows = json.loads((folder / "stats.json").read_text())["rows"]
        exported = {(Path(r["source"]["file"]).name, row) for r in provenance for row in r["source"]["rows"]}
        assert rows["input"] == len(ids) == rows["exported"] + rows["rejected"], folder.name
        assert rows["exported"] == len(exported), folder.name


def test_planted_cases_land_where_the_readme_says(run):
    readme = (SAMPLE / "README_preference.md").read_text()
    for provider, folder in folders(run).items():
        where = outcomes(folder)
        assert where["rate-011"] == [("convert", "unpaired_reply")] * 3, provider       # the tie
        assert where["rate-022"] == [("convert", "single_reply")], provider             # a single reply
        assert where["rate-033"] == [("convert", "unpaired_reply")] * 2, provider       # identical replies
        # the near-duplicate prompt: its best/worst pair is dropped, its source's is written (the replies in
        # between are unpaired in both: best_vs_worst makes one pair per prompt)
        assert paired(where["rate-066"]) == [("dedup", "near_duplicate")] * 2, provider
        assert paired(where["rate-006"]) == [("written", "train.jsonl")] * 2 or \
            paired(where["rate-006"]) == [("written", "validation.jsonl")] * 2, provider
        assert [s for s, _ in paired(where["rate-044"])] == ["written"] * 2, provider    # the German prompt
        for i in range(31, 36):
            assert where[f"edit-{i:03d}"] == [("convert", "identical_pair")], provider    # sent as it is
        for i in range(36, 41):
            assert where[f"edit-{i:03d}"] == [("convert", "trivial_edit")], provider      # a cosmetic fix
        for i in range(1, 31):
            assert where[f"edit-{i:03d}"] and {s for s, _ in where[f"edit-{i:03d}"]} == {"written"}, provider
    for planted in ("rate-011", "rate-022", "rate-033", "rate-066", "rate-006", "rate-044", "rate-028",
                    "edit-031", "edit-040"):
        assert f"`{planted}`" in readme


def test_the_pii_in_a_low_rated_reply_is_redacted_in_every_written_rejected_reply(run):
    for provider, folder in folders(run).items():
        for path in folder.iterdir():
            text = path.read_text(encoding="utf-8-sig")
            assert not any(v in text for v in PII_VALUES), path  # nowhere: files, rejects, provenance
        pairs = []
        for split in ("train", "validation"):
            lines = read_jsonl(folder / f"{split}.jsonl")
            pairs += [DESTINATIONS[provider].preference_to_pair(line) for line in lines]
        with_pii = [p for p in pairs if p["prompt"][-1]["content"] == "Why was my direct debit taken twice this month?"]
        assert len(with_pii) == 1, provider
        rejected = with_pii[0]["rejected"][0]["content"]
        assert "[EMAIL]" in rejected and "[PHONE]" in rejected, provider
    report_html = (run / "report.html").read_text()
    assert not any(v in report_html for v in PII_VALUES)


def test_length_bias_is_warned_and_the_report_has_the_preference_section(run):
    stats = json.loads((run / "stats.json").read_text())
    codes = [p["code"] for p in stats["problems"]]
    assert "preference_length_bias" in codes
    bias = stats["preference"]["length_bias"]
    assert bias["warning"] is True and bias["chosen_longer_share"] > 0.7
    assert bias["rejected_longer"] >= 1  # the concise best replies: pairs whose shorter reply is chosen
    html = (run / "report.html").read_text()
    assert '<section id="preference"><h2>Preference pairs</h2>' in html
    assert 'data-warning="preference_length_bias"' in html
    assert stats["preference"]["edits"]  # the acceptance rate of the edited drafts


def test_the_generator_reproduces_the_committed_files_byte_for_byte(tmp_path):
    subprocess.run([sys.executable, str(SAMPLE / "generate_preference.py"), "--out", str(tmp_path)],
                   check=True, capture_output=True, cwd=ROOT)
    for name in GENERATED:
        assert (tmp_path / name).read_bytes() == (SAMPLE / name).read_bytes(), name
