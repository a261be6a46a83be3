"""bedrock-nova: the rules, record and round trip of pipeline/targets/destinations/bedrock_nova.py on
hand-written chats, its loss policy (tools dropped, then the rules judge what is left), its model table, and
whole runs (the sample config with `--set target.provider=bedrock-nova`, FastChat, LLaMA-Factory's glaive
tool calls, the OpenAI cookbook drone file) whose files must pass the independent checker
tests/destination_checkers/bedrock_nova.py and round-trip back to the exported chat examples."""

from __future__ import annotations

import copy
import json
from functools import partial

import pytest

from pipeline.targets import UnknownTargetError
from pipeline.targets.destinations import bedrock_nova as nova
from pipeline.targets.features import prepare
from tests import destination_runs as runs
from tests.conftest import read_jsonl
from tests.destination_checkers import bedrock_nova as checker
from tests.destination_runs import chat, comparable, details, image_chat, resolved

CALL = {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\": \"Paris\"}"}}
WEATHER = {"type": "function", "function": {"name": "weather", "parameters": {"type": "object", "properties": {
    "city": {"type": "string"}}}}}


target = partial(resolved, "bedrock-nova")
texts = partial(details, provider="bedrock-nova")


# ----------------------------------------------------------------------------------------- rules

def test_a_plain_chat_passes_and_maps_to_the_conversation_schema():
    example = chat("s:Be brief.", "u:Hi", "a:Hello!", "u:Bye", "a:Bye!")
    assert nova.check(example) == []
    record = nova.to_record(example)
    assert record == {"schemaVersion": "bedrock-conversation-2024", "system": [{"text": "Be brief."}],
                      "messages": [{"role": "user", "content": [{"text": "Hi"}]},
                                   {"role": "assistant", "content": [{"text": "Hello!"}]},
                                   {"role": "user", "content": [{"text": "Bye"}]},
                                   {"role": "assistant", "content": [{"text": "Bye!"}]}]}
    assert nova.from_record(record) == example
    assert checker.check_record(record) == [] and checker.to_chat(record) == example


def test_text_parts_become_one_text_block():
    example = chat("u:x", "a:Hi")
    example["messages"][0]["content"] = [{"type": "text", "text": "Line one"}, {"type": "text", "text": "Line two"}]
    record = nova.to_record(example)
    assert record["messages"][0]["content"] == [{"text": "Line one\nLine two"}]
    assert "system" not in record
    assert nova.from_record(record)["messages"][0]["content"] == "Line one\nLine two"


@pytest.mark.parametrize(("example", "code", "text"), [
    (chat("u:Hi", "t:18C", "a:Hi"), "unsupported_role",
     "message 2: bedrock-nova accepts only the roles system, user, assistant (found 'tool')"),
    (chat("s:Be brief.", "a:Hello", "u:Hi", "a:Hi"), "first_role",
     ("message 2: bedrock-nova requires the conversation to start with user after the system message "
      "(found 'assistant')")),
    (chat("u:Hi", "a:Hello", "a:Again", "u:Ok", "a:Bye"), "role_alternation",
     ("message 3: bedrock-nova requires user/assistant alternation after the system message (two assistant "
      "messages in a row)")),
    (chat("u:Hi", "a:Hi", "s:Be brief.", "a:Ok"), "system_position",
     "message 3: bedrock-nova accepts a system message only at the start"),
    (chat("u:Hi", "a:Hi", "u:More"), "last_role",
     "message 3: bedrock-nova requires the last message to be from the assistant"),
    (chat("s:Be brief."), "no_messages", "bedrock-nova needs at least one user and one assistant message"),
    (chat("u:Hi", "a:"), "empty_message", "message 2: bedrock-nova rejects a message without text"),
])
def test_each_rule_names_the_message(example, code, text):
    problems = nova.check(example)
    assert problems[0].code == code
    assert texts(problems)[0] == text


# the Nova guide's seven, and what AWS's validator adds (INVALID_TOKENS_TEXT), written out here on purpose
RESERVED = ("User:", "Bot:", "Assistant:", "System:", "<image>", "<video>", "[EOS]", "USER:", "BOT:", "ASSISTANT:",
            "SYSTEM:", "Thought:")


@pytest.mark.parametrize("reserved", RESERVED)
@pytest.mark.parametrize("where", [0, 1, 2])
def test_reserved_strings_anywhere_are_rejected_naming_string_and_message(reserved, where):
    example = chat("s:Be brief.", "u:Hi", "a:Hello")
    example["messages"][where]["content"] = f"Before {reserved} after"
    (problem,) = nova.check(example)
    assert problem.code == "reserved_string"
    assert problem.detail("bedrock-nova") == (f"message {where + 1}: bedrock-nova fails a job whose text contains "
                                              f"{reserved!r}")
    assert checker.check_record(nova.to_record(example)) != []   # the independent checker agrees


def test_a_lookalike_is_not_reserved():
    example = chat("u:user: lower case, Users: plural, [EOS without bracket", "a:Assistant : spaced")
    assert nova.check(example) == []


def test_image_parts_are_not_text():
    assert [p.code for p in nova.check(image_chat())] == ["non_text_content"]


# ----------------------------------------------------------------------------------------- losses

def test_tools_are_a_loss_and_what_is_left_must_still_alternate():
    ends_on_a_call = chat("s:Drone pilot.", "u:Take off", tools=[WEATHER])
    ends_on_a_call["messages"].append({"role": "assistant", "content": None, "tool_calls": [CALL]})
    rejected = prepare(ends_on_a_call, target())
    assert (rejected.reason, rejected.record) == ("lossy_tools", None)
    assert rejected.detail.startswith("bedrock-nova cannot carry tool definitions and tool calls")
    dropped = prepare(ends_on_a_call, target("drop_feature"))
    assert (dropped.reason, dropped.detail) == (
        "last_role", "message 2: bedrock-nova requires the last message to be from the assistant")
    said_something = chat("u:Weather?", tools=[WEATHER])
    said_something["messages"] += [{"role": "assistant", "content": "Checking.", "tool_calls": [CALL]},
                                   {"role": "tool", "tool_call_id": "c1", "content": "18C"},
                                   {"role": "assistant", "content": "18C."}]
    assert prepare(said_something, target("drop_feature")).reason == "role_alternation"
    answered = copy.deepcopy(said_something)
    answered["messages"][1]["content"] = None
    kept = prepare(answered, target("warn"))
    assert kept.losses == ("tools",)
    assert kept.record == nova.to_record(chat("u:Weather?", "a:18C."))


def test_weights_names_refusals_are_losses():
    example = chat("u:Hi", "a:Hello", "u:Bye", "a:Bye!")
    example["messages"][1]["weight"] = 0
    example["messages"][0]["name"] = "ann"
    example["messages"][3]["refusal"] = "I can't say bye."
    rejected = prepare(example, target())
    assert rejected.reason == "lossy_names"   # the first loss in message order, the others named after it
    assert rejected.detail.endswith("(also: weights, refusals); set lossy: drop_feature on the target to write it "
                                    "without them")
    kept = prepare(example, target("drop_feature"))
    assert set(kept.losses) == {"weights", "names", "refusals"}
    assert kept.record == nova.to_record(chat("u:Hi", "a:Hello", "u:Bye", "a:Bye!"))


# ----------------------------------------------------------------------------------------- models

def test_default_model_and_its_unpublished_limit():
    t = target()
    assert (t.model, t.max_example_tokens, t.exact_tokens, t.price_per_million) == ("amazon.nova-lite-v1:0", None,
                                                                                   False, None)
    assert t.limit_source.startswith("not published")
    assert "no tokenizer" in t.describe()["tokenizer_note"]
    assert (t.files.min_train.value, t.files.max_train.value) == (8, 20_000)


@pytest.mark.parametrize(("spelling", "model"), [("nova-micro", "amazon.nova-micro-v1:0"),
                                                 ("amazon.nova-pro-v1:0:300k", "amazon.nova-pro-v1:0"),
                                                 ("amazon.nova-lite-v1:0", "amazon.nova-lite-v1:0")])
def test_model_spellings(spelling, model):
    assert target(model=spelling).facts.name == model


def test_unknown_model_and_a_user_limit():
    with pytest.raises(UnknownTargetError, match="known models are amazon.nova-micro-v1:0"):
        target(model="amazon.nova-premier-v1:0")
    assert target(max_tokens=32_000).max_example_tokens == 32_000


# ----------------------------------------------------------------------------------------- whole runs

def round_trips(openai_folder, folder, lossy: str = "drop_feature") -> int:
    return len(runs.assert_round_trips(openai_folder, folder, nova, checker, target(lossy), comparable))


@pytest.mark.slow
def test_sample_config_with_set_target_provider(tmp_path, monkeypatch):
    _, _, stats = runs.checked_sample_run(tmp_path, monkeypatch, "bedrock-nova", checker)
    (summary,) = stats["targets"].values()
    assert summary["examples"]["train"] > 100 and summary["tokens"]["exact"] is False
    assert summary["limit_source"].startswith("not published")


def test_a_reserved_string_in_a_run_is_a_reject_naming_it(run_config, tmp_path):
    path = tmp_path / "chats.jsonl"
    lines = [chat("u:Hi", f"a:Hello {i}") for i in range(9)] + [chat("u:Hi", "a:Sure. User: what next?")]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result, out = run_config({"inputs": [{"path": str(path), "layout": "conversations"}],
                              "target": {"provider": "bedrock-nova"}, "stages": [{"name": "validate"},
                                                                                  {"name": "export"}]})
    (reject,) = read_jsonl(out / "rejects.jsonl")
    assert (reject["reason"], reject["source"]["rows"]) == ("reserved_string", [10])
    assert reject["detail"].endswith("message 2: bedrock-nova fails a job whose text contains 'User:'")
    assert len(read_jsonl(out / "train.jsonl")) == 9 and checker.check_file(out / "train.jsonl") == []
    assert result.stats["rows"] == {"input": 10, "exported": 9, "rejected": 1}


def test_fastchat_passes_the_checker_and_round_trips(realdata, run_config):
    _, openai_folder, folder = runs.with_openai(run_config, [runs.real_inputs(realdata)["fastchat"]], "bedrock-nova")
    stats = runs.rows_accounted(folder)
    assert round_trips(openai_folder, folder, "reject") == stats["rows"]["exported"] == 500


def test_glaive_tool_calls_rejected_then_dropped(realdata, run_config):
    inp = runs.real_inputs(realdata)["glaive"]
    _, _, folder = runs.with_openai(run_config, [inp], "bedrock-nova")
    stats = runs.rows_accounted(folder)
    with_tools = runs.reasons(folder)["lossy_tools"]
    assert with_tools > 0 and stats["rows"]["exported"] + with_tools == 300
    _, openai_folder, folder = runs.with_openai(run_config, [inp], "bedrock-nova", "drop_feature")
    stats = runs.rows_accounted(folder)
    assert stats["target"]["losses"] == {"tools": with_tools}
    assert round_trips(openai_folder, folder) == stats["rows"]["exported"]


def test_drone_calls_only_tools_so_nothing_is_left(realdata, run_config):
    """Every drone conversation ends on a tool call: without tools it ends on the user, which Nova rejects."""
    inp = [runs.real_inputs(realdata)["drone"]]
    _, _, folder = runs.with_openai(run_config, inp, "bedrock-nova")
    runs.rows_accounted(folder)
    assert runs.reasons(folder) == {"lossy_tools": 103}
    result, _, folder = runs.with_openai(run_config, inp, "bedrock-nova", "drop_feature")
    runs.rows_accounted(folder)
    assert runs.reasons(folder) == {"last_role": 103}
    assert any(p.code == "target_too_few_examples" and "bedrock-nova" in p.message for p in result.problems)
