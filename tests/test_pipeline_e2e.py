"""End to end: every source row ends in exactly one place, reruns are byte-identical, real files per layout."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import ROOT, read_jsonl

STAGES = [{"name": "split", "validation_fraction": 0.1}, {"name": "export"}]
DATA_FILES = ("train.jsonl", "validation.jsonl", "provenance.jsonl", "rejects.jsonl")


def real_inputs(realdata: Path) -> dict[str, dict]:
    return {
        "agentune": {"path": str(realdata / "agentune-insurance-calls/messages.csv"), "layout": "messages",
                     "columns": {"conversation_id": "conversation_id", "role": "author", "content": "message"},
                     "roles": {"customer": "user", "agent": "assistant"}},
        "persuasion": {"path": str(realdata / "persuasionforgood/full_dialog.csv"), "layout": "messages",
                       "columns": {"conversation_id": "B2", "role": "B4", "content": "Unit"},
                       "roles": {"0": "assistant", "1": "user"}},
        "alpaca": {"path": str(realdata / "llamafactory-demo/alpaca_en_demo.json"), "layout": "pairs",
                   "columns": {"prompt": "instruction", "context": "input", "response": "output"}},
        "fastchat": {"path": str(realdata / "fastchat-dummy/dummy_conversation.json"), "layout": "conversations",
                     "columns": {"messages": "conversations", "id": "id", "role_key": "from", "content_key": "value"},
                     "roles": {"human": "user", "gpt": "assistant"}},
        "cookbook": {"path": str(realdata / "openai-cookbook-ft/*.jsonl"), "layout": "conversations"},
    }


def assert_every_row_in_exactly_one_place(out: Path, stats: dict) -> None:
    """Rebuild the accounting from the files alone: provenance + rejects cover every row once."""
    exported = Counter()
    for p in read_jsonl(out / "provenance.jsonl"):
        for row in p["source"]["rows"]:
            exported[(p["source"]["file"], row)] += 1
    assert all(n == 1 for n in exported.values()), "a row was exported twice"
    rejected = {(r["source"]["file"], row) for r in read_jsonl(out / "rejects.jsonl") for row in r["source"]["rows"]}
    assert not (rejected & set(exported)), "a row is both exported and rejected"
    assert len(exported) == stats["rows"]["exported"]
    assert len(rejected) == stats["rows"]["rejected"]
    assert stats["rows"]["input"] == stats["rows"]["exported"] + stats["rows"]["rejected"]
    assert sum(s["rows"] for s in stats["sources"]) == stats["rows"]["input"]
    lines = sum(1 for f in ("train.jsonl", "validation.jsonl") for _ in (out / f).open())
    assert lines == stats["examples"]["train"] + stats["examples"]["validation"] == len(read_jsonl(out / "provenance.jsonl"))


@pytest.mark.parametrize("name", ["agentune", "persuasion", "alpaca", "fastchat", "cookbook"])
def test_real_file_accounting(realdata, run_config, name):
    result, out = run_config({"inputs": [real_inputs(realdata)[name]], "stages": STAGES})
    assert result.stats["examples"]["train"] > 0
    assert_every_row_in_exactly_one_place(out, json.loads((out / "stats.json").read_text()))
    for line in (out / "train.jsonl").read_text().splitlines():
        assert set(json.loads(line)) <= {"messages", "tools", "parallel_tool_calls", "functions"}


def test_cookbook_tools_pass_through(realdata, run_config):
    _, out = run_config({"inputs": [real_inputs(realdata)["cookbook"]], "stages": [{"name": "export"}]})
    drone = [json.loads(line) for line in (realdata / "openai-cookbook-ft/drone_training.jsonl").open()]
    exported = read_jsonl(out / "train.jsonl")
    assert exported[: len(drone)] == drone  # intact, tools and tool_calls included


def test_rerun_is_byte_identical_and_uses_checkpoints(realdata, run_config):
    cfg = {"inputs": list(real_inputs(realdata).values()), "stages": STAGES}
    first, out1 = run_config(cfg, out="out1")
    second, out2 = run_config(cfg, out="out2")
    for f in DATA_FILES:
        assert (out1 / f).read_bytes() == (out2 / f).read_bytes(), f
    assert all(s.get("cached") for s in second.stats["stages"])
    strip = lambda s: [{k: v for k, v in st.items() if k not in ("seconds", "cached")} for st in s["stages"]]
    assert strip(first.stats) == strip(second.stats) and first.stats["rows"] == second.stats["rows"]


def test_checkpoints_off_gives_same_bytes(realdata, run_config):
    inputs = [real_inputs(realdata)["alpaca"], real_inputs(realdata)["cookbook"]]
    _, a = run_config({"inputs": inputs, "stages": STAGES}, out="a")
    _, b = run_config({"inputs": inputs, "stages": STAGES, "cache": {"checkpoints": False}}, out="b")
    for f in DATA_FILES:
        assert (a / f).read_bytes() == (b / f).read_bytes()


def test_changed_input_invalidates_checkpoint(tmp_path, run_config):
    p = tmp_path / "c.csv"
    body = "cid,who,text\n" + "".join(f"c{i},user,q{i}\nc{i},assistant,a{i}\n" for i in range(12))
    p.write_text(body)
    cols = {"conversation_id": "cid", "role": "who", "content": "text"}
    cfg = {"inputs": [{"path": str(p), "layout": "messages", "columns": cols}], "stages": STAGES}
    first, _ = run_config(cfg)
    p.write_text(body + "c99,user,new\nc99,assistant,one\n")
    second, _ = run_config(cfg)
    assert second.stats["rows"]["input"] == first.stats["rows"]["input"] + 2
    assert not second.stats["stages"][0].get("cached")


def cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "pipeline", *args], capture_output=True, text=True, cwd=cwd,
                          check=False)


def test_cli_help_teaches():
    out = cli("--help").stdout
    assert "train.jsonl" in out and "examples:" in out and "exit codes" in out
    out = cli("prepare", "--help").stdout
    assert "--set" in out and "stages.split.seed=7" in out


def test_cli_bad_config_is_one_clear_message(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("inputs:\n  - path: x.csv\n    layout: message\nstages: [{name: export}]\n")
    r = cli("check-config", str(bad))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "inputs[0].layout: 'message' is not one of messages, pairs, conversations" in r.stderr
    r = cli("prepare", "--config", str(bad))
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_cli_prepare_and_exit_code_for_too_few_examples(tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"messages": [{"role": "user", "content": f"q{i}"},
                                                     {"role": "assistant", "content": f"a{i}"}]}) + "\n"
                            for i in range(3)))
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"inputs: [{{path: {data}, layout: conversations}}]\nstages: [{{name: export}}]\n"
                   f"cache: {{dir: {tmp_path / 'cache'}}}\n")
    r = cli("prepare", "--config", str(cfg), "--out", str(tmp_path / "o"))
    assert r.returncode == 1, r.stderr
    assert "fewer than 10" in r.stdout and "rows read: 3" in r.stdout
    assert (tmp_path / "o" / "train.jsonl").read_text().count("\n") == 3
    r = cli("check-config", str(cfg))
    assert r.returncode == 0 and "OK" in r.stdout
