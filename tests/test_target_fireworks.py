"""The fireworks destination: OpenAI's line with Fireworks' system-message rule, its losses, models (full and
short ids), prices and limits; whole runs checked by the independent checker (openai_compatible, fireworks)."""

from __future__ import annotations

import json

import pytest

from pipeline.targets import UnknownTargetError, resolve_target
from pipeline.targets.destinations import fireworks
from pipeline.targets.features import prepare
from pipeline.targets.model_tokenizers import ESTIMATE, tokenizer_for
from schemas.target import TargetConfig
from tests import destination_runs as runs
from tests.destination_checkers import DESTINATIONS
from tests.destination_runs import resolved

checker = DESTINATIONS["fireworks"]
CALLS = [{"id": f"c{i}", "type": "function", "function": {"name": "look", "arguments": "{}"}} for i in (1, 2)]
TOOLS = [{"type": "function", "function": {"name": "look"}}]


def verdict(example, **kw):
    return prepare(example, resolved("fireworks", **kw))


def test_openai_lines_with_weights_tools_and_parallel_calls_pass_as_they_are():
    ex = {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Look twice."},
                       {"role": "assistant", "content": "Draft.", "weight": 0},
                       {"role": "assistant", "content": None, "tool_calls": CALLS},
                       {"role": "tool", "tool_call_id": "c1", "content": "one"},
                       {"role": "tool", "tool_call_id": "c2", "content": "two"},
                       {"role": "assistant", "content": "One and two."}], "tools": TOOLS, "parallel_tool_calls": True}
    p = verdict(ex)
    assert (p.record, p.losses) == (ex, ())
    assert fireworks.from_record(p.record) == ex


@pytest.mark.parametrize("messages, code, detail", [
    ([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"},
      {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Bye"},
      {"role": "assistant", "content": "Bye"}], "system_position",
     "message 3: fireworks accepts a system message only as the first message of the conversation"),
    ([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": [{"type": "refusal", "refusal": "No."}]}],
     "non_text_content", "message 2: fireworks accepts only text content"),
    ([{"role": "developer", "content": "Be brief."}, {"role": "user", "content": "Hi"},
      {"role": "assistant", "content": "Hello"}], "unsupported_role",
     "message 1: fireworks accepts only the roles system, user, assistant, tool (found 'developer')"),
], ids=["late-system", "refusal-part", "unknown-role"])
def test_each_rule_names_message_and_rule(messages, code, detail):
    p = verdict({"messages": messages})
    assert (p.record, p.reason, p.detail) == (None, code, detail)


@pytest.mark.parametrize("feature, example", [
    ("names", {"messages": [{"role": "user", "content": "Hi", "name": "ann"}, {"role": "assistant", "content": "Hi"}]}),
    ("refusals", {"messages": [{"role": "user", "content": "Card?"},
                               {"role": "assistant", "content": "No.", "refusal": "private"}]}),
    ("functions", {"messages": [{"role": "user", "content": "Hi"},
                                {"role": "assistant", "content": None, "function_call": {"name": "f", "arguments": "{}"}},
                                {"role": "function", "name": "f", "content": "1"},
                                {"role": "assistant", "content": "One."}], "functions": [{"name": "f"}]}),
    ("images", {"messages": [{"role": "user", "content": [
        {"type": "text", "text": "This?"}, {"type": "image_url", "image_url": {"url": "https://e.test/a.png"}}]},
        {"role": "assistant", "content": "A cat."}]}),
])
def test_losses_reject_drop_and_warn(feature, example):
    assert verdict(example).reason == f"lossy_{feature}"
    for policy in ("drop_feature", "warn"):
        kept = verdict(example, lossy=policy)
        assert kept.losses == (feature,) and kept.record is not None
        assert not any(k in json.dumps(kept.record) for k in ('"name"', '"refusal"', '"function', "image_url"))


def test_models_full_and_short_ids_limits_and_prices():
    t = resolve_target(TargetConfig(provider="fireworks"))
    assert t.model == "accounts/fireworks/models/gpt-oss-20b" and t.max_example_tokens == 131_072
    assert "context window" in t.facts.max_example_tokens.source and "may be lower" in t.facts.max_example_tokens.source
    assert t.tokenizer == tokenizer_for("gpt-oss") and t.price_per_million is None
    short = resolve_target(TargetConfig(provider="fireworks", model="qwen3-8b"))
    assert short.facts.name == "accounts/fireworks/models/qwen3-8b" and short.max_example_tokens is None
    assert short.limit_source.startswith("not published") and short.price_per_million == 0.50
    assert resolve_target(TargetConfig(provider="fireworks", model="llama-v3p1-70b-instruct")).price_per_million == 3.0
    assert resolve_target(TargetConfig(provider="fireworks", model="glm-5p1")).max_example_tokens == 200_000
    with pytest.raises(UnknownTargetError, match="short ids such as gpt-oss-20b"):
        resolve_target(TargetConfig(provider="fireworks", model="accounts/me/models/custom-7b"))
    custom = resolve_target(TargetConfig(provider="fireworks", model="accounts/me/models/custom-7b", max_tokens=8192))
    assert (custom.max_example_tokens, custom.tokenizer, custom.exact_tokens) == (8192, ESTIMATE, False)


def test_a_users_tokenizer_counts_exactly(tmp_path):
    for model in ("qwen3-8b", "accounts/fireworks/models/qwen3-8b"):
        t = resolve_target(TargetConfig(provider="fireworks", model=model, tokenizer=str(tmp_path)))
        assert (t.tokenizer, t.exact_tokens, t.price_per_million) == ("open:custom", True, 0.50)


def test_file_rules_three_to_three_million_jsonl_no_bom():
    f = fireworks.FILES
    assert (f.min_train.value, f.max_train.value, f.max_validation.value) == (3, 3_000_000, 3_000_000)
    assert f.max_file_bytes.value is None and "150 MB" in f.max_file_bytes.source
    assert f.byte_order_mark.value is False and f.formats == ("jsonl",)


# ---------------------------------------------------------------------------------------------- runs


@pytest.mark.parametrize("n, errors", [(2, ["target_too_few_examples", "too_few_examples"]), (3, [])])
def test_fireworks_minimum_is_three_examples(tmp_path, run_config, n, errors):
    data = tmp_path / "few.jsonl"
    data.write_text("".join(json.dumps({"messages": [{"role": "user", "content": f"Question {i}?"},
                                                     {"role": "assistant", "content": f"Answer {i}."}]}) + "\n"
                            for i in range(n)))
    result, _out = run_config({"inputs": [{"path": str(data), "layout": "conversations"}],
                               "stages": [{"name": "validate"}, {"name": "export"}],
                               "target": {"provider": "fireworks"}})
    found = [p for p in result.stats["problems"] if p["level"] == "error"]
    assert sorted(p["code"] for p in found) == errors
    assert all("fewer than 3" in p["message"] or "at least 3" in p["message"] for p in found)


def test_sample_config_with_set_provider(tmp_path, monkeypatch):
    _result, out, stats = runs.checked_sample_run(tmp_path, monkeypatch, "fireworks", checker)
    summary = stats["targets"]["fireworks-accounts_fireworks_models_gpt-oss-20b"]
    assert summary["max_example_tokens"] == 131_072 and summary["examples"]["train"] >= 3
    assert summary["tokens"]["note"] and summary["tokens"]["exact"] is (summary["tokenizer"] != ESTIMATE)
    assert not (out / "train.jsonl").read_bytes().startswith(b"\xef\xbb\xbf")
    assert all(set(r) <= {"messages", "tools", "parallel_tool_calls"} for r in runs.read_lines(out / "train.jsonl"))


@pytest.mark.slow
@pytest.mark.parametrize("lossy", ["reject", "drop_feature"])
def test_real_exports_and_every_feature(realdata, run_config, tmp_path, lossy):
    inputs = [*runs.real_inputs(realdata).values(), runs.featured_file(tmp_path)]
    _result, openai_folder, folder = runs.with_openai(run_config, inputs, "fireworks", lossy)
    assert folder.name == "fireworks-accounts_fireworks_models_gpt-oss-20b"
    stats = runs.rows_accounted(folder)
    if lossy == "reject":  # the crafted names and refusals; drone's tools and settings travel as they are
        assert stats["target"]["rejected_for_this_target"] == {"lossy_names": 3, "lossy_refusals": 3}
    else:
        assert stats["target"]["rejected_for_this_target"] == {}
        assert stats["target"]["losses"] == {"names": 3, "refusals": 3}
    pairs = runs.assert_round_trips(openai_folder, folder, fireworks, checker, resolved("fireworks", lossy))
    assert sum(1 for _, r in pairs if r.get("parallel_tool_calls") is False) == 103  # drone's setting kept
