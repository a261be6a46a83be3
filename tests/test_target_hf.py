"""The hf destination (TRL / axolotl / LLaMA-Factory): its files checked by the independent checker
(tests/destination_checkers/hf.py, written from TRL's, LLaMA-Factory's and axolotl's docs), counts by the model's
own tokenizer and template, the tool-call arguments pitfall, a user's tokenizer, and nothing lost."""

from __future__ import annotations

import json

import pytest
import yaml

from pipeline.chat.open_models import OpenModelSpec, load_counter
from pipeline.targets import resolve_target
from pipeline.targets.destinations import hf
from pipeline.targets.features import prepare
from schemas.target import TargetConfig
from tests.conftest import ROOT, read_jsonl
from tests.destination_checkers import DESTINATIONS
from tests.destination_checkers.hf_configs import check_axolotl_snippet, check_llamafactory_entry

CHECK = DESTINATIONS["hf"]
CALL = {"messages": [
    {"role": "system", "content": "You book rooms."},
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call00001", "type": "function", "function": {"name": "weather", "arguments": "{\"city\": \"Paris\"}"}}]},
    {"role": "tool", "tool_call_id": "call00001", "content": "sunny"},
    {"role": "assistant", "content": "Sunny."}],
    "tools": [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}]}


def _sample(**extra) -> dict:
    cfg = yaml.safe_load((ROOT / "configs/default.yaml").read_text())
    cfg["inputs"] = [{**i, "path": str(ROOT / i["path"])} for i in cfg["inputs"]]
    cfg["stages"] = [s for s in cfg["stages"] if s["name"] != "moderation"]
    return {**cfg, **extra}


def test_record_has_arguments_as_objects_and_round_trips():
    record = hf.to_record(CALL)
    call = record["messages"][2]["tool_calls"][0]
    assert call["function"]["arguments"] == {"city": "Paris"}  # an object: templates encode it once
    assert record["messages"][3] == {"role": "tool", "content": "sunny", "tool_call_id": "call00001", "name": "weather"}
    assert hf.from_record(record)["messages"][2]["tool_calls"][0]["function"]["arguments"] == '{"city":"Paris"}'
    assert json.loads(hf.from_record(record)["messages"][2]["tool_calls"][0]["function"]["arguments"]) == \
        json.loads(CALL["messages"][2]["tool_calls"][0]["function"]["arguments"])


def test_rules_and_losses():
    t = resolve_target(TargetConfig(provider="hf"))
    assert t.facts.tokenizer == "open:gpt-oss" and t.max_example_tokens == 131_072 and t.price_per_million is None
    weighted = {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b", "weight": 0},
                             {"role": "user", "content": "c"}, {"role": "assistant", "content": "d"}]}
    assert prepare(weighted, t).reason == "lossy_weights"
    none_trained = {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b", "weight": 0}]}
    p = prepare(none_trained, resolve_target(TargetConfig(provider="hf", lossy="drop_feature")))
    assert p.reason is None and p.losses == ("weights",)  # the weight dropped: the reply is trained


def test_sample_run_files_pass_the_independent_checks(run_config, monkeypatch):
    monkeypatch.chdir(ROOT)
    _result, out = run_config(_sample(target={"provider": "hf"}))
    for split in ("train", "validation"):
        assert CHECK.check_file(out / f"{split}.jsonl", split=split) == []
    info = json.loads((out / "dataset_info.json").read_text())
    assert check_llamafactory_entry(info["chatprep_train"], out / "train.jsonl") == []
    assert check_axolotl_snippet((out / "axolotl.yaml").read_text(), out / "train.jsonl") == []
    stats = json.loads((out / "stats.json").read_text())
    target = stats["targets"]["hf-gpt-oss-20b"]
    assert target["tokens"]["exact"] and target["tokens"]["counted_with"] == "open:gpt-oss"
    assert target["price_source"] == "price not published" and target["tokens"]["estimate"]["cost_usd"] is None
    rows = stats["rows"]
    assert rows["input"] == rows["exported"] + rows["rejected"]
    # the counts are gpt-oss's own: recount the exported lines (back to chat) with the counter
    counter = load_counter(OpenModelSpec(family="gpt-oss"), out.parent / ".cache")
    lines = read_jsonl(out / "train.jsonl")
    assert sum(counter.count(hf.from_record(r))[0] for r in lines) == target["tokens"]["train_tokens"]


def test_tool_calls_from_real_files(run_config, realdata, monkeypatch):
    cfg = _sample(target={"provider": "hf", "model": "gpt-oss-120b"})
    cfg["inputs"] = [{"path": str(realdata / "openai-cookbook-ft/drone_training.jsonl"), "layout": "conversations",
                      "columns": {"messages": "messages", "tools": "tools"}}]
    cfg["stages"] = [s for s in cfg["stages"] if s["name"] not in ("language", "heuristics", "pii")]
    _result, out = run_config(cfg)
    stats = json.loads((out / "stats.json").read_text())
    assert stats["rows"]["input"] == stats["rows"]["exported"] + stats["rows"]["rejected"] == 103
    lines = read_jsonl(out / "train.jsonl") + read_jsonl(out / "validation.jsonl")
    assert CHECK.check_file(out / "train.jsonl") == []
    calls = [c for r in lines for m in r["messages"] for c in m.get("tool_calls") or []]
    assert calls and all(isinstance(c["function"]["arguments"], dict) for c in calls)
    info = json.loads((out / "dataset_info.json").read_text())
    assert info["chatprep_train"]["formatting"] == "openai"
    assert check_llamafactory_entry(info["chatprep_train"], out / "train.jsonl") == []
    # the round trip through the independent reader gives back the chat examples we exported
    originals = {json.dumps(json.loads(line)["messages"][-1]) for line in
                 (realdata / "openai-cookbook-ft/drone_training.jsonl").read_text().splitlines()}
    back = [CHECK.to_chat(r) for r in lines]
    assert all(m["role"] in ("system", "user", "assistant", "tool") for b in back for m in b["messages"])
    assert len(originals) >= 1 and len(back) == stats["rows"]["exported"]


def test_a_users_tokenizer_counts_exactly(run_config, monkeypatch, tmp_path):
    tokenizers = pytest.importorskip("tokenizers")
    tok = tokenizers.Tokenizer(tokenizers.models.BPE())
    tok.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator(["hello assistant user system support billing"] * 5, tokenizers.trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<|im_start|>", "<|im_end|>"],
        initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet()))
    tok.save(str(tmp_path / "tokenizer.json"))
    template = ("{% for m in messages %}<|im_start|>{{ m.role }}\n{% if m.role == 'assistant' %}{% generation %}"
                "{{ m.content }}<|im_end|>{% endgeneration %}{% else %}{{ m.content }}<|im_end|>{% endif %}\n"
                "{% endfor %}")
    (tmp_path / "chat.jinja").write_text(template)
    monkeypatch.chdir(ROOT)
    _result, out = run_config(_sample(target={"provider": "hf", "model": "my-model", "max_tokens": 4096,
                                             "tokenizer": str(tmp_path / "tokenizer.json"),
                                             "chat_template": str(tmp_path / "chat.jinja")}))
    stats = json.loads((out / "stats.json").read_text())
    target = stats["targets"]["hf-my-model"]
    assert target["tokens"]["counted_with"] == "open:custom" and target["max_example_tokens"] == 4096
    first = hf.from_record(read_jsonl(out / "train.jsonl")[0])
    # rendered as transformers does (trim_blocks: the newline after {% endif %} goes)
    rendered = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>" for m in first["messages"])
    assert len(tok.encode(rendered, add_special_tokens=False).ids) > 0
    counter = load_counter(OpenModelSpec(tokenizer_file=str(tmp_path / "tokenizer.json"),
                                         chat_template=str(tmp_path / "chat.jinja")), out.parent / ".cache")
    assert counter.count(first)[0] == len(tok.encode(rendered, add_special_tokens=False).ids)


def test_unknown_model_without_a_tokenizer_says_what_to_set(tmp_path, capsys):
    from pipeline.cli import main

    p = tmp_path / "c.yaml"
    p.write_text("inputs: [{path: x.jsonl, layout: conversations}]\nstages: [{name: export}]\n"
                 "target: {provider: hf, model: llama-9}\n")
    assert main(["check-config", str(p)]) == 2
    err = capsys.readouterr().err
    assert "target.model (line 3): unknown model 'llama-9' for hf" in err and "target.tokenizer" in err


def test_a_wrong_tokenizer_path_stops_before_any_work(tmp_path, capsys):
    from pipeline.cli import main

    sets = ["--set", "target.provider=hf", "--set", "target.model=my-model", "--set", "target.max_tokens=4096",
            "--set", f"output.dir={tmp_path / 'out'}", "--set", f"cache.dir={tmp_path / 'cache'}"]
    missing = ["--set", f"target.tokenizer={tmp_path / 'nope.json'}"]
    assert main(["prepare", "--config", str(ROOT / "configs/default.yaml"), *sets, *missing]) == 2
    err = capsys.readouterr().err
    assert "target.tokenizer" in err and "does not exist" in err and "Traceback" not in err
    assert not (tmp_path / "cache").exists()  # stopped before any work
    bad = tmp_path / "tokenizer.json"
    bad.write_text('{"x": 1}')
    assert main(["check-config", str(ROOT / "configs/default.yaml"), *sets, "--set", f"target.tokenizer={bad}",
                 "--set", f"target.chat_template={bad}"]) == 2
    assert "is not a Hugging Face tokenizer.json" in capsys.readouterr().err
