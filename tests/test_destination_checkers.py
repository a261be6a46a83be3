"""Self-tests of the independent destination checkers (tests/destination_checkers): OpenAI, Azure OpenAI,
Fireworks, Together, the shared file rules, and the real OpenAI-format files. Each rule has a record or file
that breaks it; the good records pass. Vertex, Nova and hf: test_destination_checkers_formats.py."""

from __future__ import annotations

import dataclasses

import pytest

from tests.destination_checker_cases import assert_one_error_mentions, changed, write_jsonl
from tests.destination_checkers import DESTINATIONS, common, openai_compatible, together

SFT = {"messages": [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function",
                                          "function": {"name": "weather", "arguments": "{\"city\": \"Paris\"}"}}]},
    {"role": "tool", "tool_call_id": "c1", "content": "18C, clear"},
    {"role": "assistant", "content": "18C and clear.", "weight": 1},
], "tools": [{"type": "function", "function": {"name": "weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}}}}]}
PLAIN = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!", "weight": 0},
                      {"role": "user", "content": "Bye"}, {"role": "assistant", "content": "Bye!"}]}
DPO = {"input": {"messages": [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Hi"}]},
       "preferred_output": [{"role": "assistant", "content": "Hello, how can I help?"}],
       "non_preferred_output": [{"role": "assistant", "content": "What."}]}


def check(tmp_path, provider, records, **kwargs):
    return DESTINATIONS[provider].check_file(write_jsonl(tmp_path / "train.jsonl", records), **kwargs)


# ------------------------------------------------------------------------------------ openai-compatible

@pytest.mark.parametrize("provider", ["openai", "azure-openai", "fireworks"])
def test_good_openai_shaped_files_pass(tmp_path, provider):
    assert check(tmp_path, provider, [SFT, PLAIN] * 5) == []
    assert DESTINATIONS[provider].to_chat(SFT) == SFT


@pytest.mark.parametrize("provider", ["openai", "azure-openai", "fireworks"])
@pytest.mark.parametrize("record, fragments", [
    (changed(PLAIN, lambda r: r.update(metadata={"id": 1})), ("line 1", "'metadata'")),
    (changed(PLAIN, lambda r: r["messages"][1].update(weight=2)), ("line 1", "weight must be 0 or 1")),
    (changed(PLAIN, lambda r: r["messages"][0].update(role="human")), ("line 1", "bad role 'human'")),
    (changed(PLAIN, lambda r: r["messages"].pop(1) and r["messages"].pop(2)), ("no assistant message",)),
    (changed(SFT, lambda r: r["messages"][3].update(tool_call_id="zz")), ("answers no earlier tool call",)),
    (changed(PLAIN, lambda r: r["messages"][0].update(content="<|im_start|>")), ("special token",)),
], ids=["unknown-key", "weight", "role", "no-assistant", "tool-call-id", "special-token"])
def test_openai_line_rules(tmp_path, provider, record, fragments):
    assert_one_error_mentions(check(tmp_path, provider, [record] + [PLAIN] * 9), *fragments)


def test_fireworks_system_message_only_first_and_jsonl_only(tmp_path):
    late_system = changed(PLAIN, lambda r: r["messages"].insert(2, {"role": "system", "content": "x"}))
    assert_one_error_mentions(check(tmp_path, "fireworks", [late_system, PLAIN, PLAIN]), "message 3", "first message")
    assert check(tmp_path, "openai", [late_system] + [PLAIN] * 9) == []  # OpenAI itself allows it
    json_file = write_jsonl(tmp_path / "train.json", [PLAIN] * 3)
    assert_one_error_mentions(DESTINATIONS["fireworks"].check_file(json_file), ".jsonl")


@pytest.mark.parametrize("provider, minimum", [("openai", 10), ("azure-openai", 10), ("fireworks", 3)])
def test_minimum_training_examples(tmp_path, provider, minimum):
    assert check(tmp_path, provider, [PLAIN] * minimum) == []
    assert_one_error_mentions(check(tmp_path, provider, [PLAIN] * (minimum - 1)), f"at least {minimum}")
    assert check(tmp_path, provider, [PLAIN] * (minimum - 1), split="validation") == []


def test_fireworks_maximum_examples(tmp_path, monkeypatch):
    small = dataclasses.replace(openai_compatible.FILE_RULES["fireworks"], max_train=4)
    monkeypatch.setitem(openai_compatible.FILE_RULES, "fireworks", small)
    assert_one_error_mentions(check(tmp_path, "fireworks", [PLAIN] * 5), "at most 4")


def test_file_size_limit(tmp_path, monkeypatch):
    small = dataclasses.replace(openai_compatible.FILE_RULES["openai"], max_bytes=1000)
    monkeypatch.setitem(openai_compatible.FILE_RULES, "openai", small)
    assert_one_error_mentions(check(tmp_path, "openai", [PLAIN] * 20), "the limit is 1,000")


@pytest.mark.parametrize("provider, bom_ok", [("openai", False), ("azure-openai", True), ("fireworks", False)])
def test_byte_order_mark(tmp_path, provider, bom_ok):
    path = write_jsonl(tmp_path / "train.jsonl", [PLAIN] * 10, prefix=common.UTF8_BOM)
    errors = DESTINATIONS[provider].check_file(path)
    if bom_ok:
        assert errors == []
    else:
        assert_one_error_mentions(errors, "line 1", "byte-order mark")


@pytest.mark.parametrize("raw, fragments", [
    (b'{"a": 1}\n\xff\xfe\n', ("line 2", "not UTF-8")),
    (b'{"a": 1}\n\n{"a": 2}\n', ("line 2", "blank line")),
    (b'{"a": 1}\r\n', ("line 1", "CR line ending")),
    (b'{"a": 1}\n{"a": \n', ("line 2", "not valid JSON")),
    (b"", ("the file is empty",)),
], ids=["utf8", "blank", "crlf", "json", "empty"])
def test_file_level_rules(tmp_path, raw, fragments):
    path = tmp_path / "train.jsonl"
    path.write_bytes(raw)
    assert_one_error_mentions(DESTINATIONS["openai"].check_file(path, split="validation"), *fragments)


def test_split_must_be_train_or_validation(tmp_path):
    with pytest.raises(ValueError, match="split"):
        check(tmp_path, "openai", [PLAIN], split="test")


def test_per_model_token_limits(tmp_path):
    long = {"messages": [{"role": "user", "content": "word " * 40_000}, {"role": "assistant", "content": "ok"}]}
    records = [long] + [PLAIN] * 9
    assert check(tmp_path, "azure-openai", records, model="gpt-4o-mini-2024-07-18") == []
    assert check(tmp_path, "openai", records, model="gpt-4.1-nano-2025-04-14") == []  # 65,536 on OpenAI
    assert_one_error_mentions(check(tmp_path, "azure-openai", records, model="gpt-4.1-nano"),
                              "line 1", "per-example limit of 32,768")
    assert_one_error_mentions(check(tmp_path, "openai", [PLAIN] * 10, model="gpt-9"), "no published")


def test_openai_shaped_preference_files(tmp_path):
    path = write_jsonl(tmp_path / "dpo.jsonl", [DPO] * 10)
    for provider in ("openai", "azure-openai", "fireworks"):
        assert DESTINATIONS[provider].check_preference_file(path) == []
    pair = DESTINATIONS["openai"].preference_to_pair(DPO)
    assert pair["prompt"] == DPO["input"]["messages"] and pair["rejected"] == DPO["non_preferred_output"]


@pytest.mark.parametrize("record, providers, fragments", [
    (changed(DPO, lambda r: r["input"]["messages"].append({"role": "assistant", "content": "x"})),
     ("openai", "azure-openai", "fireworks"), ("end on a user message",)),
    (changed(DPO, lambda r: r.pop("non_preferred_output")), ("openai",), ("'non_preferred_output' is required",)),
    (changed(DPO, lambda r: r.update(score=1)), ("openai",), ("'score'",)),
    (changed(DPO, lambda r: r["input"].update(extra=1)), ("openai",), ("input", "'extra'")),
    (changed(DPO, lambda r: r.update(preferred_output=[{"role": "user", "content": "x"}])),
     ("openai", "azure-openai"), ("preferred_output", "role 'user'")),
    (changed(DPO, lambda r: r["preferred_output"].append({"role": "assistant", "content": "more"})),
     ("fireworks",), ("exactly one assistant message",)),
    (changed(DPO, lambda r: r.update(preferred_output=[])), ("azure-openai",), ("non-empty list",)),
], ids=["input-ends-on-assistant", "missing-side", "extra-key", "input-extra", "user-output", "fireworks-two",
        "empty-output"])
def test_openai_shaped_preference_rules(tmp_path, record, providers, fragments):
    path = write_jsonl(tmp_path / "dpo.jsonl", [record] + [DPO] * 9)
    for provider in providers:
        assert_one_error_mentions(DESTINATIONS[provider].check_preference_file(path), "line 1", *fragments)


def test_tool_outputs_in_preference_differ_by_provider(tmp_path):
    tool_output = changed(DPO, lambda r: r["input"].update(tools=SFT["tools"]) or r.update(preferred_output=[
        SFT["messages"][2], SFT["messages"][3], {"role": "assistant", "content": "18C."}]))
    path = write_jsonl(tmp_path / "dpo.jsonl", [tool_output] * 10)
    assert DESTINATIONS["azure-openai"].check_preference_file(path) == []  # "roles in (assistant, tool)"
    assert_one_error_mentions(DESTINATIONS["openai"].check_preference_file(path), "role 'tool'")


# ----------------------------------------------------------------------------------------------- together

TOGETHER_DPO = {"input": {"messages": [{"role": "user", "content": "Hi"}]},
                "preferred_output": [{"role": "assistant", "content": "Hello!"}],
                "non_preferred_output": [{"role": "assistant", "content": "No."}]}


@pytest.mark.parametrize("records", [[SFT, PLAIN], [{"prompt": "2+2", "completion": "4"}], [{"text": "a document"}]],
                         ids=["conversation-with-tools", "instruction", "general"])
def test_together_good_files(tmp_path, records):
    assert check(tmp_path, "together", records) == []


@pytest.mark.parametrize("record, fragments", [
    ({"messages": PLAIN["messages"], "text": "x"}, ("multiple dataset formats",)),
    (changed(PLAIN, lambda r: r.update(parallel_tool_calls=False)), ('extra column "parallel_tool_calls"',)),
    ({"prompts": "x"}, ("no dataset format",)),
    (changed(PLAIN, lambda r: r["messages"][0].update(role="human")), ("message 1", "invalid role 'human'")),
    (changed(PLAIN, lambda r: r["messages"].insert(2, {"role": "system", "content": "x"})),
     ("message 3", "system message may only be the first")),
    (changed(PLAIN, lambda r: r["messages"].pop(0)), ("message 1", "must start with system or user")),
    (changed(PLAIN, lambda r: r["messages"].insert(1, {"role": "user", "content": "again"})),
     ("message 2", "alternate")),
    (changed(PLAIN, lambda r: r["messages"][1].update(weight=1.0)), ("message 2", "weight must be an integer")),
    (changed(PLAIN, lambda r: r["messages"][1].update(weight=True)), ("message 2", "weight must be an integer")),
    (changed(PLAIN, lambda r: r["messages"][1].update(weight=2)), ("message 2", "either 0 or 1")),
    (changed(PLAIN, lambda r: r["messages"][0].pop("content")), ("message 1", "missing required column `content`")),
    (changed(PLAIN, lambda r: r["messages"][0].update(content=7)), ("message 1", "content must be a string")),
    ({"messages": [{"role": "user", "content": "Hi"}]}, ("assistant role must be present",)),
    ({"messages": []}, ("must not be empty",)),
    ({"messages": "Hi"}, ("must be a list",)),
    (changed(PLAIN, lambda r: r["messages"][1].update(content=[{"type": "image_url", "image_url": {
        "url": "data:image/png;base64,AAAA"}}])), ("only user messages can contain images",)),
    (changed(PLAIN, lambda r: r["messages"][0].update(content=[{"type": "image_url", "image_url": {
        "url": "https://example.com/a.png"}}])), ("base64 JPEG, PNG or WEBP",)),
    (changed(PLAIN, lambda r: r["messages"][0].update(content=[{"type": "text", "text": "Hi"}])),
     ("all multimodal or all text-only",)),
    (changed(PLAIN, lambda r: r["messages"][0].update(content=[{"type": "audio"}])), ("'text' or 'image_url'",)),
    (changed(SFT, lambda r: r["messages"][2]["tool_calls"][0]["function"].update(arguments={"city": "Paris"})),
     ("message 3", "bad tool call")),
    (changed(SFT, lambda r: r["messages"][3].pop("tool_call_id")), ("message 4", "tool_call_id")),
    (changed(SFT, lambda r: r.update(tools=[{"name": "weather"}])), ("bad tool",)),
], ids=["two-formats", "extra-column", "no-format", "role", "late-system", "starts-assistant", "alternation",
        "weight-float", "weight-bool", "weight-2", "no-content", "content-int", "no-assistant", "empty", "not-list",
        "assistant-image", "image-url", "mixed-multimodal", "part-type", "tool-args-object", "tool-call-id",
        "tools-shape"])
def test_together_record_rules(tmp_path, record, fragments):
    assert_one_error_mentions(check(tmp_path, "together", [record]), "line 1", *fragments)


def test_together_file_rules(tmp_path):
    assert_one_error_mentions(check(tmp_path, "together", [PLAIN, {"text": "doc"}]), "line 2", "differs")
    bom = write_jsonl(tmp_path / "bom.jsonl", [PLAIN], prefix=common.UTF8_BOM)
    assert_one_error_mentions(together.check_file(bom), "byte-order mark")
    assert_one_error_mentions(together.check_file(write_jsonl(tmp_path / "a.csv", [PLAIN])), ".jsonl or .parquet")
    assert_one_error_mentions(together.check_preference_file(write_jsonl(tmp_path / "s.jsonl", [PLAIN])),
                              "conversation format", "dpo")


def test_together_parquet_is_pre_tokenized_only(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    tokens = tmp_path / "tokens.parquet"
    pq.write_table(pa.table({"input_ids": [[1, 2, 3]], "attention_mask": [[1, 1, 1]], "labels": [[-100, 2, 3]]}),
                   tokens)
    assert together.check_file(tokens) == []
    chat = tmp_path / "chat.parquet"
    pq.write_table(pa.table({"messages": [[{"role": "user", "content": "Hi"}]]}), chat)
    assert_one_error_mentions(together.check_file(chat), "input_ids")
    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    assert_one_error_mentions(together.check_file(tmp_path / "broken.parquet"), "not a readable Parquet file")


def test_together_preference(tmp_path):
    path = write_jsonl(tmp_path / "dpo.jsonl", [TOGETHER_DPO])
    assert together.check_preference_file(path) == []
    assert together.preference_to_pair(TOGETHER_DPO)["chosen"] == TOGETHER_DPO["preferred_output"]
    for record, fragments in [
        (changed(TOGETHER_DPO, lambda r: r["input"]["messages"].append({"role": "assistant", "content": "x"})),
         ("must not be from the assistant",)),
        (changed(TOGETHER_DPO, lambda r: r["preferred_output"].append({"role": "assistant", "content": "y"})),
         ("exactly one message",)),
        (changed(TOGETHER_DPO, lambda r: r["non_preferred_output"][0].update(role="user")), ("assistant role",)),
        (changed(TOGETHER_DPO, lambda r: r["preferred_output"][0].pop("content")), ("content field",)),
        (changed(TOGETHER_DPO, lambda r: r.update(input={"msgs": []})), ("`messages` field",)),
    ]:
        errors = together.check_preference_file(write_jsonl(tmp_path / "bad.jsonl", [record]))
        assert_one_error_mentions(errors, "line 1", *fragments)


# ---------------------------------------------------------------------------------------------- real data

def test_real_openai_cookbook_files_pass_the_openai_checkers(realdata):
    folder = realdata / "openai-cookbook-ft"
    drone, toy = folder / "drone_training.jsonl", folder / "toy_chat_fine_tuning.jsonl"
    for provider in ("openai", "azure-openai", "fireworks"):
        assert DESTINATIONS[provider].check_file(drone, model=None) == [], provider
    assert openai_compatible.check_file(drone, model="gpt-4o-mini-2024-07-18") == []
    # the toy file is 5 examples: every line is valid; only OpenAI's 10-example minimum for training fails
    assert DESTINATIONS["openai"].check_file(toy, split="validation") == []
    assert DESTINATIONS["openai"].check_file(toy) == ["5 examples; a training file needs at least 10"]


def test_real_openai_files_need_conversion_for_together(realdata):
    """What a writer must change for Together: `parallel_tool_calls` is not a Together column."""
    errors = DESTINATIONS["together"].check_file(realdata / "openai-cookbook-ft" / "drone_training.jsonl")
    assert errors and all('extra column "parallel_tool_calls"' in e for e in errors)
