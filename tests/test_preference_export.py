"""Preference files per destination (docs/preference-design.md, 3): every writer's lines pass the independent
checker (tests/destination_checkers) and give back the pair; end to end from YAML on LLaMA-Factory's DPO demo
with every row accounted for."""

from __future__ import annotations

import json

import pytest

from pipeline.chat import preference
from pipeline.targets import resolve_target
from pipeline.targets.features import prepare_preference
from schemas.target import TargetConfig
from tests.destination_checker_cases import write_jsonl
from tests.destination_checkers import DESTINATIONS
from tests.destination_checkers.hf_configs import check_axolotl_dpo, check_llamafactory_entry
from tests.recipes import recipe_config

WRITERS = ("openai", "azure-openai", "fireworks", "together", "hf", "bedrock-nova")
TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}]


def read_jsonl(path) -> list[dict]:
    """Lines of a written file (azure-openai's start with the byte-order mark it asks for)."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8-sig").splitlines() if line.strip()]


def pair(rejected="Paris, I think.", tools=False):
    ex = {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital of France?"},
                       {"role": "assistant", "content": "Paris."}],
          "preference": {"rejected": {"role": "assistant", "content": rejected}, "signal": "explicit"}}
    return {**ex, "tools": TOOLS} if tools else ex


@pytest.mark.parametrize("provider", WRITERS)
def test_each_writer_passes_its_checker_and_keeps_the_pair(provider, tmp_path):
    target = resolve_target(TargetConfig(provider=provider, lossy="drop_feature"))
    examples = [pair(), pair("Lyon.")] + ([pair(tools=True)] if "tools" in target.supports else [])
    examples *= 5  # above every destination's minimum file size
    prepared = [prepare_preference(e, target) for e in examples]
    assert [p.reason for p in prepared] == [None] * len(examples)
    path = write_jsonl(tmp_path / "train.jsonl", [p.record for p in prepared])
    checker = DESTINATIONS[provider]
    assert checker.check_preference_file(path) == []
    for e, p in zip(examples, prepared, strict=True):
        assert checker.preference_to_pair(p.record) == preference.pair(e)


def test_tools_are_a_loss_where_a_destination_lacks_them():
    nova = resolve_target(TargetConfig(provider="bedrock-nova"))
    p = prepare_preference(pair(tools=True), nova)
    assert p.record is None and p.reason == "lossy_tools"
    kept = prepare_preference(pair(tools=True), resolve_target(TargetConfig(provider="bedrock-nova",
                                                                             lossy="drop_feature")))
    assert kept.losses == ("tools",) and "tools" not in kept.chat


def test_a_reply_that_only_calls_a_tool_leaves_no_side_once_tools_are_dropped():
    ex = pair(tools=True)
    ex["preference"]["rejected"] = {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}]}
    p = prepare_preference(ex, resolve_target(TargetConfig(provider="bedrock-nova", lossy="drop_feature")))
    assert p.reason == "empty_side" and "rejected reply" in p.detail


def test_the_rejected_reply_is_held_to_the_destination_rules():
    p = prepare_preference(pair("User: Paris"), resolve_target(TargetConfig(provider="bedrock-nova")))
    assert p.reason == "reserved_string" and "(in the rejected reply)" in p.detail
    assert prepare_preference(pair("User: Paris"), resolve_target(TargetConfig(provider="hf"))).reason is None


def test_openai_shape_needs_a_prompt_ending_on_user():
    ex = pair()
    ex["messages"].insert(2, {"role": "assistant", "content": "Hm."})
    ex["messages"].insert(3, {"role": "tool", "tool_call_id": "x", "content": "42"})
    p = prepare_preference(ex, resolve_target(TargetConfig(provider="openai")))
    assert p.reason == "prompt_not_ending_on_user"


def test_recipe_runs_on_the_real_dpo_demo_for_every_writer(realdata, run_config):
    path = realdata / "llamafactory-demo/dpo_zh_demo.json"
    n_rows = len(json.loads(path.read_text(encoding="utf-8")))
    cfg = recipe_config("preference-pairs", path,
                        stages=[{"name": "dedup"}, {"name": "split"}, {"name": "export"}])
    cfg["targets"] = [{"provider": p} for p in WRITERS]
    _, out = run_config(cfg)
    folders = sorted(d for d in out.iterdir() if d.is_dir())
    assert len(folders) == len(WRITERS)
    for provider, folder in zip(sorted(WRITERS), folders, strict=True):
        assert folder.name.startswith(provider)
        written = 0
        for split in ("train", "validation"):
            assert DESTINATIONS[provider].check_preference_file(folder / f"{split}.jsonl", split=split) == [], \
                folder.name
            written += len(read_jsonl(folder / f"{split}.jsonl"))
        rejects = read_jsonl(folder / "rejects.jsonl")
        assert written + len(rejects) == n_rows, folder.name  # every row: a pair written or a reject
        assert {r["reason"] for r in rejects} <= {"exact_duplicate", "reserved_string"}
        assert written >= n_rows - 15
        if provider == "hf":
            assert_hf_trainer_files(folder)


def assert_hf_trainer_files(folder, tools=False):
    """LLaMA-Factory's ranking files and entries, and axolotl's DPO config, pass the checkers written from those
    trainers' readers, and LLaMA-Factory's files hold the same pairs as TRL's lines."""
    info = json.loads((folder / "dataset_info.json").read_text())
    assert set(info) == {"chatprep_train", "chatprep_validation"}
    for split in ("train", "validation"):
        entry = info[f"chatprep_{split}"]
        assert entry["ranking"] is True and entry["formatting"] == ("openai" if tools else "sharegpt")
        lf_path = folder / entry["file_name"]
        assert check_llamafactory_entry(entry, lf_path) == [], split
        trl = read_jsonl(folder / f"{split}.jsonl")
        lf = read_jsonl(lf_path)
        assert len(lf) == len(trl)
        for t, f in zip(trl, lf, strict=True):
            assert [m["role"] for m in f["messages"]] == [m["role"] for m in t["prompt"]]
            for side in ("chosen", "rejected"):
                reply = t[side][0]
                if reply.get("tool_calls"):
                    assert f[side]["role"] == "function"
                    assert json.loads(f[side]["content"]) == [c["function"] for c in reply["tool_calls"]]
                else:
                    assert f[side] == {"role": "assistant", "content": reply["content"]}
    axolotl = (folder / "axolotl.yaml").read_text()
    assert check_axolotl_dpo(axolotl, {"datasets": folder / "train.jsonl",
                                       "test_datasets": folder / "validation.jsonl"}) == []
    assert ("reads only each message's role and content" in axolotl) is tools


def test_hf_pairs_with_tool_calls_get_llamafactory_openai_entries_and_an_axolotl_warning(tmp_path, run_config):
    call = {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": '{"city": "Paris"}'}}
    rows = [{"messages": [{"role": "user", "content": f"Weather in city {i}?"}],
             "chosen": {"role": "assistant", "content": None, "tool_calls": [call]} if i % 2 else
             {"role": "assistant", "content": f"Sunny in city {i}."},
             "rejected": {"role": "assistant", "content": f"No idea about city {i}."}, "tools": TOOLS}
            for i in range(12)]
    path = tmp_path / "pairs.jsonl"
    write_jsonl(path, rows)
    cfg = {"inputs": [{"path": str(path), "layout": "preference",
                       "columns": {"messages": "messages", "chosen": "chosen", "rejected": "rejected",
                                   "tools": "tools"}}],
           "stages": [{"name": "split", "validation_fraction": 0.25}, {"name": "export"}],
           "target": {"provider": "hf"}}
    _, out = run_config(cfg)
    assert len(read_jsonl(out / "train.jsonl")) + len(read_jsonl(out / "validation.jsonl")) == 12
    assert_hf_trainer_files(out, tools=True)
    lf = read_jsonl(out / "llamafactory_train.jsonl") + read_jsonl(out / "llamafactory_validation.jsonl")
    assert sum(r["chosen"]["role"] == "function" for r in lf) == 6 and all(r["tools"] == TOOLS for r in lf)
