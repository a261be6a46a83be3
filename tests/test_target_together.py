"""The together destination: its rules (with `together files check`'s wording), records and their way back, losses,
models, and whole runs checked by the independent Together checker (tests/destination_checkers/together.py)."""

from __future__ import annotations

import copy
import json

import pytest

from pipeline.targets import UnknownTargetError, resolve_target
from pipeline.targets.destinations import together
from pipeline.targets.features import prepare
from pipeline.targets.model_tokenizers import ESTIMATE, tokenizer_for
from schemas.target import TargetConfig
from tests import destination_runs as runs
from tests.destination_checkers import DESTINATIONS
from tests.destination_runs import comparable, resolved

CALL = {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": "{\"q\": \"x\"}"}}
CALL2 = {**CALL, "id": "c2"}
checker = DESTINATIONS["together"]
TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}]


def u(text="Where is my parcel?", **kw):
    return {"role": "user", "content": text, **kw}


def a(text="It arrives tomorrow.", **kw):
    return {"role": "assistant", "content": text, **kw}


def s(text="You are a courier's assistant."):
    return {"role": "system", "content": text}


def tool(call_id="c1", text="in transit"):
    return {"role": "tool", "tool_call_id": call_id, "content": text}


def verdict(example, **target):
    return prepare(example, resolved("together", **target))


# ----------------------------------------------------------------------------------------------- rules


def test_a_good_conversation_with_tools_passes():
    ex = {"messages": [s(), u(), a(None, tool_calls=[CALL]), tool(), a(), u("Thanks"), a("You're welcome.")],
          "tools": TOOLS}
    assert together.check(ex) == []
    assert verdict(ex).record is not None


@pytest.mark.parametrize("messages, code, detail", [
    ([s(), u(), u("Hello?"), a()], "role_alternation",
     "message 3: together requires user/assistant alternation after the system message (two user messages in a row)"),
    ([u(), a(), a("Anything else?")], "role_alternation",
     ("message 3: together requires user/assistant alternation after the system message (two assistant messages "
      "in a row)")),
    ([a("Hi there."), u(), a()], "first_role",
     "message 1: together requires the conversation to start with a system or user message (found 'assistant')"),
    ([u(), a(), s(), u("Again"), a()], "system_position",
     "message 3: together accepts a system message only as the first message"),
    ([u(), a(None, tool_calls=[CALL, CALL2]), tool("c1"), tool("c2"), a()], "role_alternation",
     ("message 4: together requires user/assistant alternation after the system message (tool results of "
      "parallel calls cannot follow each other)")),
    ([u(), tool(), a()], "tool_position",
     "message 2: together requires a tool message right after the assistant message that called the tool"),
    ([u(), a([{"type": "refusal", "refusal": "No."}])], "non_text_content",
     "message 2: together accepts only text content"),
    ([u(), a(weight=2)], "invalid_weight",
     "message 2: together requires weight to be the integer 0 or 1 (found 2)"),
    ([u(), a(weight=True)], "invalid_weight",
     "message 2: together requires weight to be the integer 0 or 1 (found True)"),
    ([s(), u()], "no_assistant", "together requires at least one message with the assistant role"),
    ([u(), {"role": "developer", "content": "x"}, a()], "unsupported_role",
     "message 2: together accepts only the roles system, user, assistant, tool (found 'developer')"),
], ids=["two-users", "two-assistants", "assistant-first", "late-system", "parallel-tool-results", "orphan-tool",
        "refusal-part", "weight-2", "weight-bool", "no-assistant", "unknown-role"])
def test_each_rule_names_message_and_rule(messages, code, detail):
    p = verdict({"messages": messages})
    assert (p.record, p.reason) == (None, code)
    assert p.detail.split(" (+")[0] == detail


def test_several_problems_are_counted_in_the_detail():
    p = verdict({"messages": [a("Hi."), a("Hello?")]})
    assert p.reason == "first_role" and p.detail.endswith("(+1 more)")  # and two assistant messages in a row


# ------------------------------------------------------------------------------------------- records


def test_record_is_messages_and_tools_only_and_goes_back_unchanged():
    ex = {"messages": [s(), u(), a(None, tool_calls=[CALL]), tool(), a()], "tools": TOOLS}
    record = together.to_record(ex)
    assert record == ex and set(record) == {"messages", "tools"}
    assert together.from_record(copy.deepcopy(record)) == ex


def test_weights_leave_every_input_untrained_explicitly():
    """Together trains on the inputs once any message has a weight: system, user and tool messages get weight 0."""
    ex = {"messages": [s(), u(), a("Draft.", weight=0), u("Properly please"), a(None, tool_calls=[CALL]), tool(),
                       a("Final.")], "tools": TOOLS}
    record = together.to_record(ex)
    assert [(m["role"], m.get("weight")) for m in record["messages"]] == [
        ("system", 0), ("user", 0), ("assistant", 0), ("user", 0), ("assistant", None), ("tool", 0),
        ("assistant", None)]  # an assistant without a weight trains (Together's default is 1)
    assert together.from_record(record) == ex


def test_text_parts_become_one_string():
    ex = {"messages": [u([{"type": "text", "text": "Parcel 7"}, {"type": "text", "text": "where?"}]), a()]}
    record = together.to_record(ex)
    assert record["messages"][0]["content"] == "Parcel 7\nwhere?"
    assert together.from_record(record)["messages"][0] == u("Parcel 7\nwhere?")


@pytest.mark.parametrize("feature, example", [
    ("names", {"messages": [u(name="ann"), a()]}),
    ("refusals", {"messages": [u(), a("I can't.", refusal="private")]}),
    ("functions", {"messages": [u(), a(None, function_call={"name": "f", "arguments": "{}"}),
                                {"role": "function", "name": "f", "content": "1"}, a()],
                   "functions": [{"name": "f"}]}),
    ("images", {"messages": [u([{"type": "text", "text": "This?"},
                                {"type": "image_url", "image_url": {"url": "https://example.test/a.png"}}]), a()]}),
])
def test_losses_reject_drop_and_warn(feature, example):
    rejected = verdict(example)
    assert rejected.reason == f"lossy_{feature}" and "lossy: drop_feature" in rejected.detail
    for policy in ("drop_feature", "warn"):
        kept = verdict(example, lossy=policy)
        assert kept.losses == (feature,) and kept.record is not None
        text = json.dumps(kept.record)
        assert not any(k in text for k in ('"name"', '"refusal"', "parallel_tool_calls", '"functions"', "image_url"))
        assert set(kept.record) <= {"messages", "tools"}


# -------------------------------------------------------------------------------------------- models


def test_default_model_and_its_published_limit():
    t = resolve_target(TargetConfig(provider="together"))
    assert t.model == "openai/gpt-oss-20b" and t.max_example_tokens == 16_384
    assert t.limit_source == "model table"
    assert t.facts.max_example_tokens.source.startswith("https://docs.together.ai/docs/fine-tuning-models")
    assert t.tokenizer == tokenizer_for("gpt-oss") and t.exact_tokens == (t.tokenizer != ESTIMATE)
    assert t.price_per_million is None and t.price_source == "price not published"


def test_other_models_need_their_limit_and_can_bring_their_tokenizer(tmp_path):
    with pytest.raises(UnknownTargetError, match="Context Length"):
        resolve_target(TargetConfig(provider="together", model="Qwen/Qwen3-8B"))
    t = resolve_target(TargetConfig(provider="together", model="Qwen/Qwen3-8B", max_tokens=32_768))
    assert (t.max_example_tokens, t.tokenizer, t.exact_tokens) == (32_768, ESTIMATE, False)
    own = resolve_target(TargetConfig(provider="together", model="zai-org/GLM-4.6", tokenizer=str(tmp_path)))
    assert own.tokenizer == "open:custom" and own.max_example_tokens == 128_000


def test_parquet_is_refused_because_togethers_parquet_is_pre_tokenized():
    with pytest.raises(UnknownTargetError, match="together reads jsonl files, not parquet"):
        resolve_target(TargetConfig(provider="together", file_format="parquet"))


# ---------------------------------------------------------------------------------------------- runs


def test_sample_config_with_set_provider(tmp_path, monkeypatch):
    _result, out, stats = runs.checked_sample_run(tmp_path, monkeypatch, "together", checker)
    summary = stats["targets"]["together-openai_gpt-oss-20b"]
    assert summary["model"] == "openai/gpt-oss-20b" and summary["examples"]["train"] >= 1
    assert summary["tokens"]["exact"] is (summary["tokenizer"] != ESTIMATE) and summary["tokens"]["note"]
    assert all(set(r) == {"messages"} for r in runs.read_lines(out / "train.jsonl"))


def test_a_few_examples_are_enough_for_together(tmp_path, run_config):
    """Together's minimum is 1 example: three make no error (OpenAI's minimum of 10 is OpenAI's)."""
    data = tmp_path / "three.jsonl"
    data.write_text("".join(json.dumps({"messages": [u(f"Where is parcel {i}?"), a(f"Parcel {i} is in Leeds.")]}) + "\n"
                            for i in range(3)))
    result, _out = run_config({"inputs": [{"path": str(data), "layout": "conversations"}],
                               "stages": [{"name": "validate"}, {"name": "export"}], "target": {"provider": "together"}})
    assert result.stats["examples"]["train"] == 3
    assert not [p for p in result.stats["problems"] if p["level"] == "error"]


@pytest.mark.slow
@pytest.mark.parametrize("lossy", ["reject", "drop_feature", "warn"])
def test_real_exports_and_every_feature(realdata, run_config, tmp_path, lossy):
    inputs = [*runs.real_inputs(realdata).values(), runs.featured_file(tmp_path)]
    result, openai_folder, folder = runs.with_openai(run_config, inputs, "together", lossy)
    assert folder.name == "together-openai_gpt-oss-20b"
    stats = runs.rows_accounted(folder)
    own = stats["target"]["rejected_for_this_target"]
    if lossy == "reject":  # the crafted names and refusals: each named (parallel_tool_calls is a setting, left out)
        assert (own["lossy_names"], own["lossy_refusals"]) == (3, 3) and "lossy_parallel_tool_calls" not in own
        assert own["role_alternation"] == 3  # the crafted parallel tool results: two tool messages in a row
    else:  # the same written without what Together cannot carry; parallel tool results still break its turn rule
        assert stats["target"]["losses"] == {"names": 3, "refusals": 3}
        assert own == {"role_alternation": 3}
    pairs = runs.assert_round_trips(openai_folder, folder, together, checker, resolved("together", lossy), _texts,
                               checker_sees=lambda example: comparable(_inputs_unweighted(example)))
    records = [record for _, record in pairs]
    # from_record gives strings, so _texts changes nothing on its side: the read-back is to the letter
    assert all(not isinstance(m.get("content"), list) for r in records for m in together.from_record(r)["messages"])
    warned = [p for p in result.problems if p.code == "lossy_conversion"]
    flagged = {f for p in runs.read_lines(folder / "provenance.jsonl") for f in p["flags"] if f.startswith("target:")}
    if lossy == "warn":  # as drop_feature, and said: a run warning and a flag on every example that lost something
        assert len(warned) == 1 and "message `name` fields (removed) in 3 example(s)" in warned[0].message
        assert flagged == {"target:lossy_names", "target:lossy_refusals"}
    else:
        assert not warned and not flagged
    weighted = [r for r in records if any("weight" in m for m in r["messages"])]
    assert len(weighted) == (0 if lossy == "reject" else 3)  # the weighted chats carry names: lost or rejected
    assert all(m["weight"] == 0 for r in weighted for m in r["messages"] if m["role"] != "assistant")


def _texts(example: dict) -> dict:
    """Text-part lists as the one string Together records carry (parts joined by a newline)."""
    example = copy.deepcopy(example)
    for m in example["messages"]:
        if isinstance(m.get("content"), list) and all(p.get("type") == "text" for p in m["content"]):
            m["content"] = "\n".join(p["text"] for p in m["content"])
    return example


def _inputs_unweighted(example: dict) -> dict:
    """Without the weight 0 Together's records spell out on every input once a message is weighted (the
    independent checker reads a record as it is)."""
    return {**example, "messages": [{k: v for k, v in m.items() if k != "weight" or m.get("role") == "assistant"}
                                    for m in example["messages"]]}
