"""The destination framework on its own: a test destination written here (adding a destination is adding a module),
several targets in one run (one folder each, per-target rejects and accounting), loss policies, deadlines."""

from __future__ import annotations

import json
import re
import types

import pytest
import yaml

from pipeline.cli import main
from pipeline.targets import provider_modules, resolve_target
from pipeline.targets import rules as shared_rules
from pipeline.targets.base import FileRules, ModelFacts, Sourced
from pipeline.targets.deadlines import notices
from pipeline.targets.features import drop_features, features_used, prepare
from schemas.target import TargetConfig
from tests.conftest import ROOT, read_jsonl

S = Sourced


def _strict_module() -> types.ModuleType:
    """A destination that takes plain alternating text turns only, written as {"turns": [[role, text], ...]}."""
    m = types.ModuleType("strict")
    m.PROVIDER, m.TITLE, m.DOCS, m.DEFAULT_MODEL = "strict", "Strict test trainer", "https://example.test/docs", "s-1"
    m.MODELS = (ModelFacts("s-1", S(300, "https://example.test/limits", "2026-12-01"),
                           S(None, "not published", "2026-12-01"), "estimate:o200k_base",
                           last_new_job=S("2027-02-01", "https://example.test/deprecations", "2026-12-01")),)
    m.FILES = FileRules(S(5, "x", "d"), S(None, "x", "d"), S(None, "x", "d"), S(None, "x", "d"),
                        byte_order_mark=S(True, "https://example.test/bom", "2026-12-01"))
    m.SUPPORTS = frozenset()
    m.check = lambda ex: (shared_rules.roles_allowed(ex["messages"], ("system", "user", "assistant"))
                          or shared_rules.alternation(ex["messages"], first=("user",)))
    m.to_record = lambda ex: {"turns": [[x["role"], x["content"]] for x in ex["messages"]]}
    m.from_record = lambda r: {"messages": [{"role": a, "content": b} for a, b in r["turns"]]}
    return m


@pytest.fixture
def strict(monkeypatch):
    modules = {**provider_modules(), "strict": _strict_module()}
    monkeypatch.setattr("pipeline.targets.provider_modules", lambda: modules)
    return modules["strict"]


def _featured_file(folder) -> str:
    """12 chats using weights and message names (OpenAI features the strict destination lacks)."""
    path = folder / "featured.jsonl"
    lines = []
    for i in range(12):
        msgs = [{"role": "user", "content": f"Question number {i} about the invoice schedule", "name": f"c{i}"},
                {"role": "assistant", "content": f"A draft answer {i} we do not want to train on.", "weight": 0},
                {"role": "user", "content": f"Please answer question {i} properly this time"},
                {"role": "assistant", "content": f"Invoices for account {i} are issued on the first working day."}]
        lines.append(json.dumps({"messages": msgs}))
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _sample(folder=None, **extra) -> dict:
    cfg = yaml.safe_load((ROOT / "configs/default.yaml").read_text())
    cfg["inputs"] = [{**i, "path": str(ROOT / i["path"])} for i in cfg["inputs"]]
    if folder is not None:
        cfg["inputs"].append({"name": "featured", "path": _featured_file(folder), "layout": "conversations",
                              "columns": {"messages": "messages"}})
    cfg.pop("target", None)
    cfg["stages"] = [s for s in cfg["stages"] if s["name"] != "moderation"]
    return {**cfg, **extra}


def test_loss_detection_and_dropping():
    ex = {"tools": [{"type": "function", "function": {"name": "f"}}], "parallel_tool_calls": False, "messages": [
        {"role": "user", "content": "hi", "name": "ann"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "1", "type": "function",
                                                                "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "1", "content": "42"},
        {"role": "assistant", "content": "It is 42.", "weight": 0},
        {"role": "user", "content": [{"type": "text", "text": "and"}, {"type": "image_url", "image_url": {"url": "u"}}]},
        {"role": "assistant", "content": "done"}]}
    assert features_used(ex) == {"tools": 3, "names": 1, "weights": 1, "images": 1}
    out = drop_features(ex, ["tools", "names", "weights", "images"])
    assert out["messages"] == [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "It is 42."},
                               {"role": "user", "content": [{"type": "text", "text": "and"}]},
                               {"role": "assistant", "content": "done"}]
    assert "tools" not in out and "parallel_tool_calls" not in out and ex["messages"][0]["name"] == "ann"


def test_prepare_applies_policy_then_rules(strict):
    ex = {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b", "weight": 0},
                       {"role": "user", "content": "c"}, {"role": "assistant", "content": "d"}]}
    rejected = prepare(ex, resolve_target(TargetConfig(provider="strict")))
    assert rejected.reason == "lossy_weights" and "lossy: drop_feature" in rejected.detail
    kept = prepare(ex, resolve_target(TargetConfig(provider="strict", lossy="drop_feature")))
    assert kept.losses == ("weights",) and kept.record["turns"][1] == ["assistant", "b"]
    bad = {"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"},
                        {"role": "assistant", "content": "c"}]}
    p = prepare(bad, resolve_target(TargetConfig(provider="strict")))
    assert p.reason == "role_alternation"
    assert p.detail == ("message 2: strict requires user/assistant alternation after the system message "
                        "(two user messages in a row)")


def test_several_targets_one_folder_each_every_row_accounted(strict, run_config, monkeypatch, tmp_path):
    monkeypatch.chdir(ROOT)
    _single, out1 = run_config(_sample(tmp_path), out="single")
    several, out = run_config(_sample(tmp_path, targets=[{"provider": "openai"}, {"provider": "strict"}]),
                              out="several")
    o, s = out / "openai-gpt-4o-mini-2024-07-18", out / "strict-s-1"
    # openai's files are those of a run for openai alone: the other target's rules never drop its examples
    for name in ("train.jsonl", "validation.jsonl", "provenance.jsonl"):
        assert (o / name).read_bytes() == (out1 / name).read_bytes(), name
    # its rejects too, but where every target rejects an example the detail says so
    every = re.compile(rb" \(every target rejects it; first: openai-gpt-4o-mini-2024-07-18\)")
    assert every.sub(b"", (o / "rejects.jsonl").read_bytes()) == (out1 / "rejects.jsonl").read_bytes()
    # the strict target: a BOM, its own record shape, its own rejects, and every row in one place
    raw = (s / "train.jsonl").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    records = [json.loads(line) for line in raw[3:].decode().splitlines()]
    assert records and all(set(r) == {"turns"} for r in records)
    rejects = read_jsonl(s / "rejects.jsonl")
    own = [r for r in rejects if r["reason"].startswith("lossy_")]
    assert len(own) == 12 and all(r["example"] and r["stage"] == "validate" for r in own)
    assert all(r["source"]["file"].endswith("featured.jsonl") for r in own)
    stats = json.loads((s / "stats.json").read_text())
    rows = stats["rows"]
    assert rows["input"] == rows["exported"] + rows["rejected"] == several.stats["rows"]["input"]
    top = json.loads((out / "stats.json").read_text())
    assert set(top["targets"]) == {"openai-gpt-4o-mini-2024-07-18", "strict-s-1"}
    assert top["targets"]["strict-s-1"]["rejected_for_this_target"] == stats["target"]["rejected_for_this_target"]
    assert stats["target"]["rejected_for_this_target"]["lossy_names"] == 12  # its first loss names the reason
    assert top["targets"]["strict-s-1"]["tokens"]["exact"] is False  # an estimate, and it says so
    assert (out / "report.html").is_file() and not (out / "train.jsonl").exists()
    manifest = json.loads((out / "manifest.json").read_text())
    assert "strict-s-1/train.jsonl" in manifest["outputs"]


def test_lossy_drop_feature_counts_and_warn_flags(strict, run_config, monkeypatch, tmp_path):
    monkeypatch.chdir(ROOT)
    _result, out = run_config(_sample(tmp_path, target={"provider": "strict", "lossy": "warn"}))
    stats = json.loads((out / "stats.json").read_text())
    assert stats["targets"]["strict-s-1"]["losses"] == {"names": 12, "weights": 12}
    turns = [json.loads(x)["turns"] for x in (out / "train.jsonl").read_bytes()[3:].decode().splitlines()]
    assert any(t[1][1].startswith("A draft answer") for t in turns)  # the weight-0 reply is trained now
    assert any(p["code"] == "lossy_conversion" for p in stats["problems"])
    flagged = [json.loads(x) for x in (out / "provenance.jsonl").read_text().splitlines()]
    assert any(f.startswith("target:lossy_") for p in flagged for f in p["flags"])


def test_deadlines_warn_before_and_block_after(monkeypatch):
    t = resolve_target(TargetConfig())
    from datetime import date

    before = notices(t, date(2026, 12, 6))
    assert [n.level for n in before] == ["warning", "warning"]
    assert "2027-01-06 (31 days from today)" in before[0].message
    after = notices(t, date(2027, 1, 7))
    assert after[0].level == "error" and "no new fine-tuning jobs" in after[0].message
    monkeypatch.setenv("CHATPREP_TODAY", "2027-01-20")
    with pytest.raises(ValueError, match="was shut down on 2027-01-14"):
        resolve_target(TargetConfig(model="gpt-4o-mini-2024-07-18"))


def test_config_errors_name_the_key(tmp_path, capsys):
    p = tmp_path / "c.yaml"
    p.write_text("inputs: [{path: x.jsonl, layout: conversations}]\nstages: [{name: export}]\n"
                 "target:\n  provider: openia\n")
    assert main(["check-config", str(p)]) == 2
    err = capsys.readouterr().err
    assert "target.provider (line 4): unknown provider 'openia'" in err and "Traceback" not in err
    p.write_text("inputs: [{path: x.jsonl, layout: conversations}]\nstages: [{name: tokens, model: gpt-4o}, "
                 "{name: export}]\ntarget: {provider: openai}\n")
    assert main(["check-config", str(p)]) == 2
    assert "set once, in target.model" in capsys.readouterr().err


def test_targets_command_lists_sources_and_dates(capsys):
    assert main(["targets"]) == 0
    text = capsys.readouterr().out
    for name in provider_modules():
        assert f"\n{name} — " in text
    assert "2027-01-06" in text and "as of" in text
    assert main(["targets", "nope"]) == 2


def test_targets_command_says_what_each_destination_does_with_preference_pairs(capsys):
    assert main(["targets", "azure-openai"]) == 0
    text = capsys.readouterr().out
    assert "preference (DPO) files: input + preferred_output" in text
    assert "DPO jobs only on gpt-4.1-mini-2025-04-14, gpt-4.1-2025-04-14, gpt-4o-2024-08-06  [MicrosoftDocs" in text
    assert main(["targets", "together"]) == 0
    assert "tokens per preference (DPO) example: 8,192  [" in capsys.readouterr().out
    assert main(["targets", "vertex-gemini"]) == 0
    assert "preference (DPO) files: vertex-gemini: Vertex AI supervised tuning of Gemini documents no preference" \
        in capsys.readouterr().out


def test_file_rules_name_the_limit_its_source_and_the_fix():
    from pipeline.targets.files import file_problems

    vertex = resolve_target(TargetConfig(provider="vertex-gemini"))
    codes = {p.code: p.message for p in file_problems(vertex, {"train": 12, "validation": 5_001},
                                                       {"train.jsonl": 2 * 2**30, "validation.jsonl": 10})}
    assert set(codes) == {"target_validation_too_large", "target_file_too_large"}
    assert "set split.validation_max: 5000" in codes["target_validation_too_large"]
    assert "train.jsonl is 2,048.0 MiB" in codes["target_file_too_large"]
    fireworks = resolve_target(TargetConfig(provider="fireworks"))
    [few] = file_problems(fireworks, {"train": 2, "validation": 0}, {"train.jsonl": 10})
    assert few.code == "target_too_few_examples" and "at least 3" in few.message
    assert file_problems(fireworks, {"train": 3, "validation": 0}, {"train.jsonl": 10}) == []
    [many] = file_problems(fireworks, {"train": 3_000_001, "validation": 0}, {})
    assert many.code == "target_too_many_examples" and "at most 3,000,000" in many.message


def test_a_duplicate_cluster_keeps_a_copy_every_target_can_take(strict, run_config, tmp_path):
    """Two copies of one chat, the first with a message name the strict target cannot carry: dedup keeps the
    second, so the strict target does not lose the conversation."""
    path = tmp_path / "dups.jsonl"
    chat = [{"role": "user", "content": "How do I reset the router in the hallway cupboard?"},
            {"role": "assistant", "content": "Hold the reset button for ten seconds, then wait for the green light."}]
    named = [{**chat[0], "name": "ann"}, chat[1]]
    others = [[{"role": "user", "content": f"Question {i} about invoices and payment dates"},
               {"role": "assistant", "content": f"Answer {i}: invoices go out on the first working day."}]
              for i in range(10)]
    path.write_text("".join(json.dumps({"messages": m}) + "\n" for m in [named, chat, *others]))
    _, out = run_config({"inputs": [{"path": str(path), "layout": "conversations"}],
                         "stages": [{"name": "validate"}, {"name": "dedup"}, {"name": "export"}],
                         "targets": [{"provider": "openai"}, {"provider": "strict"}]})
    strict_lines = [json.loads(x) for x in (out / "strict-s-1" / "train.jsonl").read_bytes()[3:].decode().splitlines()]
    assert any(t["turns"][0][1].startswith("How do I reset the router") for t in strict_lines)
    openai_rejects = read_jsonl(out / "openai-gpt-4o-mini-2024-07-18" / "rejects.jsonl")
    [dup] = [r for r in openai_rejects if r["stage"] == "dedup"]
    assert dup["source"]["rows"] == [1]  # the named copy went, the one both can take stayed
