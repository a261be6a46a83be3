"""vertex-gemini: the rules, record and round trip of pipeline/targets/destinations/vertex_gemini.py on
hand-written chats, its loss policy, its model table, and whole runs (the sample config with
`--set target.provider=vertex-gemini`, the OpenAI cookbook drone file, LLaMA-Factory's glaive tool calls,
FastChat) whose files must pass the independent checker tests/destination_checkers/vertex_gemini.py and
round-trip back to the chat examples that were exported."""

from __future__ import annotations

import copy
import json
from functools import partial

import pytest

from pipeline.targets import UnknownTargetError
from pipeline.targets.destinations import vertex_gemini as vg
from pipeline.targets.features import prepare
from tests import destination_runs as runs
from tests.conftest import read_jsonl
from tests.destination_checkers import vertex_gemini as checker
from tests.destination_runs import chat, comparable, details, image_chat, resolved

WEATHER = {"type": "function", "function": {"name": "weather", "description": "Weather now", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
TOOL_CHAT = {"messages": [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Weather in Paris and Rome?"},
    {"role": "assistant", "content": "Checking both.", "tool_calls": [
        {"id": "a", "type": "function", "function": {"name": "weather", "arguments": "{\"city\": \"Paris\"}"}},
        {"id": "b", "type": "function", "function": {"name": "weather", "arguments": "{\"city\": \"Rome\"}"}}]},
    {"role": "tool", "tool_call_id": "a", "content": "18C"},
    {"role": "tool", "tool_call_id": "b", "content": "{\"temp\": 25}"},
    {"role": "assistant", "content": "Paris 18C, Rome 25C."}], "tools": [WEATHER]}
TOOL_RECORD = {
    "systemInstruction": {"parts": [{"text": "You are terse."}]},
    "contents": [
        {"role": "user", "parts": [{"text": "Weather in Paris and Rome?"}]},
        {"role": "model", "parts": [{"text": "Checking both."},
                                    {"functionCall": {"name": "weather", "args": {"city": "Paris"}}},
                                    {"functionCall": {"name": "weather", "args": {"city": "Rome"}}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "weather", "response": {"content": "18C"}}},
                                   {"functionResponse": {"name": "weather",
                                                         "response": {"content": "{\"temp\": 25}"}}}]},
        {"role": "model", "parts": [{"text": "Paris 18C, Rome 25C."}]}],
    "tools": [{"functionDeclarations": [{"name": "weather", "description": "Weather now", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]}]}


target = partial(resolved, "vertex-gemini")
texts = partial(details, provider="vertex-gemini")


# ----------------------------------------------------------------------------------------- rules

def test_a_plain_chat_passes_and_maps_to_contents():
    example = chat("s:Be brief.", "u:Hi", "a:Hello!", "u:Bye", "a:Bye!")
    assert vg.check(example) == []
    assert vg.to_record(example) == {
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "contents": [{"role": "user", "parts": [{"text": "Hi"}]}, {"role": "model", "parts": [{"text": "Hello!"}]},
                     {"role": "user", "parts": [{"text": "Bye"}]}, {"role": "model", "parts": [{"text": "Bye!"}]}]}
    assert vg.from_record(vg.to_record(example)) == example


def test_each_system_message_is_one_system_instruction_part():
    example = chat("s:Be brief.", "s:Answer in French.", "u:Hi", "a:Salut")
    record = vg.to_record(example)
    assert record["systemInstruction"] == {"parts": [{"text": "Be brief."}, {"text": "Answer in French."}]}
    assert vg.from_record(record) == example


def test_tool_calls_become_function_call_and_response_parts():
    assert vg.check(TOOL_CHAT) == []
    assert vg.to_record(TOOL_CHAT) == TOOL_RECORD
    back = vg.from_record(TOOL_RECORD)
    assert [c["id"] for c in back["messages"][2]["tool_calls"]] == ["call_1", "call_2"]
    assert [m.get("tool_call_id") for m in back["messages"][3:5]] == ["call_1", "call_2"]
    assert comparable(back) == comparable(TOOL_CHAT)
    assert checker.check_record(TOOL_RECORD) == []
    assert comparable(checker.to_chat(TOOL_RECORD)) == comparable(TOOL_CHAT)


def test_repeated_call_ids_answer_the_calls_in_order():
    """OpenAI's cookbook reuses one id ("call_id") for every call: the answers go to the calls in order."""
    example = copy.deepcopy(TOOL_CHAT)
    example["tools"].append({"type": "function", "function": {"name": "clock", "parameters": {"type": "object"}}})
    calls = example["messages"][2]["tool_calls"]
    calls[1]["function"]["name"] = "clock"
    for c in calls:
        c["id"] = "call_id"
    for m in example["messages"][3:5]:
        m["tool_call_id"] = "call_id"
    responses = vg.to_record(example)["contents"][2]["parts"]
    assert [p["functionResponse"]["name"] for p in responses] == ["weather", "clock"]


@pytest.mark.parametrize(("example", "code", "text"), [
    (chat("u:Hi", "f:x", "a:Hi"), "unsupported_role",
     "message 2: vertex-gemini accepts only the roles system, user, assistant, tool (found 'function')"),
    (chat("s:Be brief.", "a:Hello", "u:Hi", "a:Hi"), "first_role",
     ("message 2: vertex-gemini requires the conversation to start with user after the system message "
      "(found 'assistant')")),
    (chat("u:Hi", "u:Hello?", "a:Hi"), "role_alternation",
     ("message 2: vertex-gemini requires user/assistant alternation after the system message (two user "
      "messages in a row)")),
    (chat("u:Hi", "a:Hi", "s:Be brief.", "a:Ok"), "system_position",
     "message 3: vertex-gemini accepts a system message only at the start"),
    (chat("u:Hi", "a:Hi", "u:More"), "last_role",
     "message 3: vertex-gemini requires the last message to be from the assistant"),
    (chat("u:", "a:Hi"), "empty_message", "message 1: vertex-gemini requires text or a function call in every turn"),
])
def test_each_rule_names_the_message(example, code, text):
    problems = vg.check(example)
    assert problems[0].code == code
    assert texts(problems)[0] == text


def test_a_tool_result_without_a_call_and_a_user_after_results_are_rejected():
    orphan = chat("u:Hi", "t:18C", "a:Ok")
    assert texts(vg.check(orphan))[0] == ("message 2: vertex-gemini requires tool messages right after the "
                                          "assistant's tool call")
    after = copy.deepcopy(TOOL_CHAT)
    after["messages"][5] = {"role": "user", "content": "and Oslo?"}
    after["messages"].append({"role": "assistant", "content": "No idea."})
    assert "message 6: vertex-gemini requires the assistant to answer after tool results" in texts(vg.check(after))


def test_function_call_rules():
    undeclared = copy.deepcopy(TOOL_CHAT)
    undeclared["tools"] = []
    assert texts(vg.check(undeclared))[0] == ("message 3: vertex-gemini requires every called function to be "
                                              "declared in tools ('weather' is not)")
    bad_args = copy.deepcopy(TOOL_CHAT)
    bad_args["messages"][2]["tool_calls"][0]["function"]["arguments"] = "[\"Paris\"]"
    assert [p.code for p in vg.check(bad_args)] == ["function_args"]
    assert texts(vg.check(bad_args))[0] == ("message 3: vertex-gemini requires function call arguments as a JSON "
                                            "object (they become the functionCall's args)")
    unanswered = copy.deepcopy(TOOL_CHAT)
    del unanswered["messages"][4]
    assert texts(vg.check(unanswered)) == [("message 3: vertex-gemini requires one function response per "
                                            "function call right after the model's turn (2 calls, 1 tool results)")]


def test_a_last_turn_that_only_calls_a_function_is_a_training_target():
    """Google's function-calling tuning example ends on the model's functionCall: no answer is needed."""
    example = copy.deepcopy(TOOL_CHAT)
    example["messages"] = example["messages"][:3]
    assert vg.check(example) == []
    assert checker.check_record(vg.to_record(example)) == []


def test_image_parts_are_not_text():
    assert [p.code for p in vg.check(image_chat())] == ["non_text_content"]


# ----------------------------------------------------------------------------------------- losses

def test_weights_are_a_loss_rejected_dropped_or_warned():
    example = chat("u:Hi", "a:Hello", "u:Bye", "a:Bye!")
    example["messages"][1]["weight"] = 0
    rejected = prepare(example, target())
    assert (rejected.record, rejected.reason) == (None, "lossy_weights")
    assert "vertex-gemini cannot carry assistant turns with weight 0" in rejected.detail
    for lossy in ("drop_feature", "warn"):
        kept = prepare(example, target(lossy))
        assert kept.losses == ("weights",)
        assert [c["parts"][0]["text"] for c in kept.record["contents"]] == ["Hi", "Hello", "Bye", "Bye!"]
        assert "weight" not in json.dumps(kept.record)


def test_names_are_losses_parallel_tool_calls_a_setting_left_out():
    example = copy.deepcopy(TOOL_CHAT)
    example["parallel_tool_calls"] = False
    example["messages"][1]["name"] = "ann"
    assert prepare(example, target()).reason == "lossy_names"
    kept = prepare(example, target("drop_feature"))
    assert set(kept.losses) == {"names"}
    assert kept.record == TOOL_RECORD


def test_the_warn_policy_flags_the_example_in_a_run(run_config, tmp_path):
    path = tmp_path / "chats.jsonl"
    lines = [chat("u:Hi", "a:Hello", "u:More", f"a:Answer {i}") for i in range(12)]
    for line in lines:
        line["messages"][1]["weight"] = 0
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result, out = run_config({"inputs": [{"path": str(path), "layout": "conversations"}],
                              "target": {"provider": "vertex-gemini", "lossy": "warn"},
                              "stages": [{"name": "validate"}, {"name": "export"}]})
    flags = [p["flags"] for p in read_jsonl(out / "provenance.jsonl")]
    assert len(flags) == 12 and all("target:lossy_weights" in f for f in flags)
    (warning,) = [p for p in result.problems if p.code == "lossy_conversion"]
    assert warning.level == "warning" and "weight 0" in warning.message and "in 12 example(s)" in warning.message
    assert checker.check_file(out / "train.jsonl") == []


# ----------------------------------------------------------------------------------------- models

def test_default_model_has_the_published_limit_and_an_estimated_tokenizer():
    t = target()
    assert (t.model, t.max_example_tokens, t.exact_tokens, t.price_per_million) == ("gemini-2.5-flash", 131_072,
                                                                                   False, None)
    assert "countTokens" in t.describe()["tokenizer_note"]


def test_discontinued_and_unknown_models():
    with pytest.raises(UnknownTargetError, match="gemini-2.0-flash-001 was shut down on 2026-06-01"):
        target(model="gemini-2.0-flash-001")
    with pytest.raises(UnknownTargetError, match="set target.max_tokens"):
        target(model="gemini-9-ultra")
    assert target(model="gemini-9-ultra", max_tokens=32_000).max_example_tokens == 32_000


# ----------------------------------------------------------------------------------------- whole runs

@pytest.mark.slow
def test_sample_config_with_set_target_provider(tmp_path, monkeypatch):
    _, _, stats = runs.checked_sample_run(tmp_path, monkeypatch, "vertex-gemini", checker)
    (summary,) = stats["targets"].values()
    assert summary["examples"]["train"] > 100 and summary["tokens"]["exact"] is False
    assert summary["tokens"]["counted_with"] == "estimate:o200k_base"


def test_drone_file_is_written_whole(realdata, run_config):
    """Its parallel_tool_calls: false is OpenAI's training setting, not data: nothing is lost without it."""
    _, openai_folder, folder = runs.with_openai(run_config, [runs.real_inputs(realdata)["drone"]], "vertex-gemini")
    stats = runs.rows_accounted(folder)
    assert runs.reasons(folder) == {} and stats["target"]["losses"] == {}
    assert len(runs.assert_round_trips(openai_folder, folder, vg, checker, target("drop_feature"), comparable)) == 103


@pytest.mark.parametrize("name", ["glaive", "fastchat"])
def test_real_files_pass_the_checker_and_round_trip(realdata, run_config, name):
    _, openai_folder, folder = runs.with_openai(run_config, [runs.real_inputs(realdata)[name]], "vertex-gemini", "drop_feature")
    stats = runs.rows_accounted(folder)
    n = len(runs.assert_round_trips(openai_folder, folder, vg, checker, target("drop_feature"), comparable))
    assert n > 0 and stats["rows"]["exported"] > 0
    if name == "glaive":
        records = read_jsonl(folder / "train.jsonl")
        assert any("functionResponse" in p for r in records for c in r["contents"] for p in c["parts"])
