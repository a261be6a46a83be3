"""Self-tests of the destination checkers whose record shape is not OpenAI's: Vertex AI Gemini, Amazon Nova
(bedrock-conversation-2024) and the open-weights trainers (TRL messages, LLaMA-Factory dataset_info.json entry,
axolotl datasets snippet). Each rule has a record that breaks it; the good records pass and round-trip back to
the OpenAI chat example they stand for."""

from __future__ import annotations

import dataclasses
import json

import pytest

from tests.destination_checker_cases import assert_one_error_mentions, changed, write_jsonl
from tests.destination_checkers import DESTINATIONS, bedrock_nova, hf, vertex_gemini

# ------------------------------------------------------------------------------------------- vertex-gemini

GEMINI = {
    "systemInstruction": {"role": "system", "parts": [{"text": "You are terse."}]},
    "contents": [
        {"role": "user", "parts": [{"text": "Weather in Paris?"}]},
        {"role": "model", "parts": [{"functionCall": {"name": "weather", "args": {"city": "Paris"}}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "weather", "response": {"content": "18C"}}}]},
        {"role": "model", "parts": [{"text": "18C."}]},
    ],
    "tools": [{"functionDeclarations": [{"name": "weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}}}]}],
}
GEMINI_AS_CHAT = {"messages": [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function", "function": {
        "name": "weather", "arguments": "{\"city\": \"Paris\"}"}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
    {"role": "assistant", "content": "18C."},
], "tools": [{"type": "function", "function": {"name": "weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}}}}]}


def test_gemini_good_record_passes_and_round_trips(tmp_path):
    snake = changed(GEMINI, lambda r: r.update(system_instruction=r.pop("systemInstruction")))
    assert vertex_gemini.check_file(write_jsonl(tmp_path / "t.jsonl", [GEMINI, snake])) == []
    assert vertex_gemini.to_chat(GEMINI) == GEMINI_AS_CHAT
    assert vertex_gemini.to_chat(snake) == GEMINI_AS_CHAT


@pytest.mark.parametrize("change, fragments", [
    (lambda r: r["contents"][3].update(weight=1), ("contents[4]", "'weight'")),
    (lambda r: r.update(messages=[]), ("'messages'",)),
    (lambda r: r.update(system_instruction=r["systemInstruction"]), ("both systemInstruction",)),
    (lambda r: r["systemInstruction"].update(parts=[{"inlineData": "x"}]), ("systemInstruction",)),
    (lambda r: r["contents"][0].update(role="assistant"), ("contents[1]", "'user' or 'model'")),
    (lambda r: r["contents"].pop(0), ("contents[1]", "start on a user turn")),
    (lambda r: r["contents"].insert(1, {"role": "user", "parts": [{"text": "hm"}]}), ("contents[2]", "in a row")),
    (lambda r: r["contents"].append({"role": "user", "parts": [{"text": "thanks"}]}), ("last turn",)),
    (lambda r: r["contents"][3]["parts"][0].update(fileData={"mimeType": "a", "fileUri": "b"}),
     ("contents[4].parts[1]", "exactly one")),
    (lambda r: r["contents"][3].update(parts=[]), ("contents[4]", "non-empty")),
    (lambda r: r["contents"][3]["parts"].append({"text": 5}), ("text must be a string",)),
    (lambda r: r["contents"][0]["parts"].append({"functionCall": {"name": "weather", "args": {}}}),
     ("contents[1]", "belongs in a model turn")),
    (lambda r: r["contents"][3]["parts"].append({"functionResponse": {"name": "weather", "response": {}}}),
     ("contents[4]", "belongs in a user turn")),
    (lambda r: r["contents"][1]["parts"][0]["functionCall"].update(name="rain"), ("'rain' is not declared",)),
    (lambda r: r["contents"][1]["parts"][0]["functionCall"].update(args="{\"city\": 1}"),
     ("args must be an object",)),
    (lambda r: r["contents"][2]["parts"][0]["functionResponse"].pop("response"), ("needs a response",)),
    (lambda r: r.update(tools=[{"type": "function", "function": {"name": "weather"}}]), ("functionDeclarations",)),
], ids=["unknown-key", "top-key", "two-systems", "system-part", "role", "starts-model", "two-users", "ends-user",
        "two-kinds", "empty-parts", "text-type", "call-in-user", "response-in-model", "undeclared", "args-string",
        "no-response", "openai-tools"])
def test_gemini_rules(tmp_path, change, fragments):
    errors = vertex_gemini.check_file(write_jsonl(tmp_path / "t.jsonl", [changed(GEMINI, change)]))
    assert_one_error_mentions(errors, "line 1", *fragments)


def test_gemini_validation_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(vertex_gemini, "FILE_RULES", dataclasses.replace(vertex_gemini.FILE_RULES, max_validation=2))
    path = write_jsonl(tmp_path / "v.jsonl", [GEMINI] * 3)
    assert_one_error_mentions(vertex_gemini.check_file(path, split="validation"), "at most 2")
    assert vertex_gemini.check_file(path) == []
    assert vertex_gemini.FILE_RULES.max_validation == 2 and DESTINATIONS["vertex-gemini"].check_preference_file is None


# -------------------------------------------------------------------------------------------- bedrock-nova

NOVA = {"schemaVersion": "bedrock-conversation-2024", "system": [{"text": "You are terse."}], "messages": [
    {"role": "user", "content": [{"text": "Hi, user: here"}]},
    {"role": "assistant", "content": [{"text": "Hello."}]},
    {"role": "user", "content": [{"text": "Bye"}]},
    {"role": "assistant", "content": [{"text": "Bye."}]},
]}
NOVA_DPO = changed(NOVA, lambda r: r["messages"].__setitem__(3, {"role": "assistant", "candidates": [
    {"content": [{"text": "Goodbye, take care."}], "preferenceLabel": "preferred"},
    {"content": [{"text": "k"}], "preferenceLabel": "non-preferred"}]}))


def test_nova_good_file_passes_and_round_trips(tmp_path):
    assert bedrock_nova.check_file(write_jsonl(tmp_path / "t.jsonl", [NOVA] * 8), model="amazon.nova-micro-v1:0") == []
    assert bedrock_nova.to_chat(NOVA) == {"messages": [
        {"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hi, user: here"},
        {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "Bye"},
        {"role": "assistant", "content": "Bye."}]}


@pytest.mark.parametrize("change, fragments", [
    (lambda r: r.update(schemaVersion="2024"), ("schemaVersion",)),
    (lambda r: r.pop("schemaVersion"), ("schemaVersion",)),
    (lambda r: r.update(toolConfig={}), ("'toolConfig'",)),
    (lambda r: r.update(system="You are terse."), ("system must be a list",)),
    (lambda r: r["system"][0].update(text="Answer as Bot: only"), ("system", "Bot:")),
    (lambda r: r["messages"][0]["content"][0].update(text="User: hi"), ("message 1", "User:")),
    (lambda r: r["messages"][1]["content"][0].update(text="ok [EOS]"), ("message 2", "[EOS]")),
    (lambda r: r["messages"][1]["content"][0].update(text="Thought: fine"), ("message 2", "Thought:")),
    (lambda r: r["messages"][0]["content"][0].update(text="look <image>"), ("message 1", "<image>")),
    (lambda r: r["messages"].pop(0), ("message 1", "expected role 'user'")),
    (lambda r: r["messages"].insert(1, {"role": "user", "content": [{"text": "x"}]}), ("message 2", "'assistant'")),
    (lambda r: r["messages"].pop(), ("last message must be the assistant's",)),
    (lambda r: r.update(messages=r["messages"][:1]), ("both a user and an assistant",)),
    (lambda r: r["messages"][1].update(content=[{"text": ""}]), ("message 2", "empty text")),
    (lambda r: r["messages"][1].update(content=[{"toolUse": {"name": "x"}}]), ("message 2", "one of text, image")),
    (lambda r: r["messages"][1].update(weight=0), ("message 2", "'weight'")),
    (lambda r: r["messages"][1]["content"].append({"image": {"format": "png", "source": {
        "s3Location": {"uri": "s3://b/a.png"}}}}), ("message 2", "cannot be in an assistant")),
    (lambda r: r["messages"][0]["content"].append({"image": {"format": "bmp", "source": {
        "s3Location": {"uri": "https://b/a.bmp"}}}}), ("message 1", "format must be one of")),
], ids=["schema-version", "no-schema-version", "unknown-key", "system-string", "reserved-system", "reserved-user",
        "reserved-eos", "reserved-thought", "reserved-image", "starts-assistant", "two-users", "ends-user",
        "one-message", "empty-text", "tool-use", "weight", "assistant-image", "image-format"])
def test_nova_rules(tmp_path, change, fragments):
    errors = bedrock_nova.check_file(write_jsonl(tmp_path / "t.jsonl", [changed(NOVA, change)] + [NOVA] * 7))
    assert_one_error_mentions(errors, "line 1", *fragments)


def test_nova_counts_and_micro_media(tmp_path, monkeypatch):
    assert_one_error_mentions(bedrock_nova.check_file(write_jsonl(tmp_path / "t.jsonl", [NOVA] * 7)), "at least 8")
    assert bedrock_nova.check_file(write_jsonl(tmp_path / "v.jsonl", [NOVA] * 2), split="validation") == []
    monkeypatch.setitem(bedrock_nova.RECORD_BOUNDS, "lite", (8, 9))
    assert_one_error_mentions(bedrock_nova.check_file(write_jsonl(tmp_path / "t.jsonl", [NOVA] * 10)), "at most 9")
    image = changed(NOVA, lambda r: r["messages"][0]["content"].append(
        {"image": {"format": "png", "source": {"s3Location": {"uri": "s3://bucket/a.png"}}}}))
    path = write_jsonl(tmp_path / "m.jsonl", [image] * 8)
    assert bedrock_nova.check_file(path, model="amazon.nova-lite-v1:0") == []
    assert_one_error_mentions(bedrock_nova.check_file(path, model="amazon.nova-micro-v1:0"), "Nova Micro")


def test_nova_preference(tmp_path):
    assert bedrock_nova.check_preference_file(write_jsonl(tmp_path / "p.jsonl", [NOVA_DPO] * 8)) == []
    assert bedrock_nova.preference_to_pair(NOVA_DPO)["rejected"] == [{"role": "assistant", "content": "k"}]
    assert_one_error_mentions(bedrock_nova.check_file(write_jsonl(tmp_path / "s.jsonl", [NOVA_DPO] * 8)),
                              "'candidates'")
    for change, fragment in [
        (lambda r: r["messages"][3]["candidates"].pop(), "list of two"),
        (lambda r: r["messages"][3]["candidates"][1].update(preferenceLabel="preferred"), "preferenceLabel values"),
        (lambda r: r["messages"][3]["candidates"][0].update(content=[{"text": "[EOS]"}]), "[EOS]"),
    ]:
        path = write_jsonl(tmp_path / "bad.jsonl", [changed(NOVA_DPO, change)] + [NOVA_DPO] * 7)
        assert_one_error_mentions(bedrock_nova.check_preference_file(path), "line 1", fragment)


# ------------------------------------------------------------------------------------------------------ hf

HF = {"messages": [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "type": "function", "function": {
        "name": "weather", "arguments": {"city": "Paris"}}}]},
    {"role": "tool", "tool_call_id": "c1", "content": "18C"},
    {"role": "assistant", "content": "18C."},
], "tools": [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}]}
HF_PLAIN = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}]}
TRL_DPO = {"prompt": [{"role": "user", "content": "Hi"}], "chosen": [{"role": "assistant", "content": "Hello!"}],
           "rejected": [{"role": "assistant", "content": "No."}]}


def test_hf_good_file_passes_and_round_trips(tmp_path):
    assert hf.check_file(write_jsonl(tmp_path / "t.jsonl", [HF, HF_PLAIN])) == []
    chat = hf.to_chat(HF)
    assert chat["messages"][2]["tool_calls"][0]["function"]["arguments"] == "{\"city\": \"Paris\"}"
    assert chat["messages"][4] == HF["messages"][4] and chat["tools"] == HF["tools"]


@pytest.mark.parametrize("change, fragments", [
    (lambda r: r["messages"][2]["tool_calls"][0]["function"].update(arguments="{\"city\": \"Paris\"}"),
     ("messages[3]", "not a string", "double-encoded")),
    (lambda r: r.update(parallel_tool_calls=True), ("'parallel_tool_calls'",)),
    (lambda r: r["messages"][4].update(weight=1), ("messages[5]", "'weight'")),
    (lambda r: r["messages"].insert(2, {"role": "system", "content": "x"}), ("messages[3]", "only be the first")),
    (lambda r: r["messages"].pop(1), ("first message after the system message must be the user's",)),
    (lambda r: r["messages"].pop(), ("last message must be the assistant's",)),
    (lambda r: r["messages"][1].update(content=None), ("messages[2]", "content must be a string")),
    (lambda r: r["messages"][3].update(tool_call_id="zz"), ("messages[4]", "answers no earlier tool call")),
    (lambda r: r["messages"][1].update(role="human"), ("messages[2]", "role must be one of")),
    (lambda r: r.update(tools=[{"name": "weather"}]), ("bad tool",)),
    (lambda r: r.update(tools=[]), ("leave the key out",)),
], ids=["string-arguments", "extra-key", "weight", "late-system", "no-user-first", "ends-tool", "null-content",
        "tool-call-id", "role", "tools-shape", "empty-tools"])
def test_hf_rules(tmp_path, change, fragments):
    errors = hf.check_file(write_jsonl(tmp_path / "t.jsonl", [changed(HF, change)]))
    assert_one_error_mentions(errors, "line 1", *fragments)


def test_hf_training_flag_only_when_named(tmp_path):
    flagged = changed(HF_PLAIN, lambda r: r["messages"][1].update(train=False))
    path = write_jsonl(tmp_path / "t.jsonl", [flagged])
    assert_one_error_mentions(hf.check_file(path), "'train'")
    assert hf.check_file(path, extra_message_keys=("train",)) == []


def test_trl_preference(tmp_path):
    assert hf.check_preference_file(write_jsonl(tmp_path / "p.jsonl", [TRL_DPO])) == []
    assert hf.preference_to_pair(TRL_DPO) == TRL_DPO
    for change, fragment in [
        (lambda r: r["prompt"].append({"role": "assistant", "content": "x"}), "end on a user"),
        (lambda r: r["chosen"].insert(0, {"role": "user", "content": "x"}), "chosen must start with an assistant"),
        (lambda r: r.pop("rejected"), "'rejected' is required"),
        (lambda r: r.update(rejected="No."), "rejected must be a non-empty list"),
    ]:
        path = write_jsonl(tmp_path / "bad.jsonl", [changed(TRL_DPO, change)])
        assert_one_error_mentions(hf.check_preference_file(path), "line 1", fragment)


OPENAI_TAGS = {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant",
               "system_tag": "system"}
LF_ENTRY = {"file_name": "train.jsonl", "formatting": "sharegpt", "columns": {"messages": "messages"},
            "tags": OPENAI_TAGS}


def test_llamafactory_entry(tmp_path):
    plain = write_jsonl(tmp_path / "train.jsonl", [HF_PLAIN, changed(HF_PLAIN, lambda r: r["messages"].insert(
        0, {"role": "system", "content": "Be brief."}))])
    assert hf.check_llamafactory_entry(LF_ENTRY, plain) == []
    for entry, fragments in [
        ({**LF_ENTRY, "file_name": "other.jsonl"}, ("does not name the data file",)),
        ({**LF_ENTRY, "formatting": "alpaca"}, ("formatting 'alpaca'",)),
        ({**LF_ENTRY, "tags": {}}, ("role_tag key 'from'",)),
        ({**LF_ENTRY, "columns": {"messages": "conversations"}}, ("'conversations'",)),
        ({**LF_ENTRY, "colums": {}}, ("unknown key 'colums'",)),
        ({**LF_ENTRY, "columns": {"messages": "messages", "answer": "x"}}, ("unknown column key 'answer'",)),
    ]:
        assert_one_error_mentions(hf.check_llamafactory_entry(entry, plain), *fragments)
    ends_user = write_jsonl(tmp_path / "train.jsonl", [changed(HF_PLAIN, lambda r: r["messages"].append(
        {"role": "user", "content": "more"}))])
    assert_one_error_mentions(hf.check_llamafactory_entry(LF_ENTRY, ends_user), "record 1", "even")


def test_llamafactory_entry_with_tool_calls(tmp_path):
    tools = write_jsonl(tmp_path / "train.jsonl", [HF])
    openai_entry = {**LF_ENTRY, "formatting": "openai", "columns": {"messages": "messages", "tools": "tools"},
                    "tags": {**OPENAI_TAGS, "observation_tag": "tool"}}
    assert hf.check_llamafactory_entry(openai_entry, tools) == []
    sharegpt = {**openai_entry, "formatting": "sharegpt"}
    assert_one_error_mentions(hf.check_llamafactory_entry(sharegpt, tools), "message 3", "tool_calls are not read")
    assert_one_error_mentions(hf.check_llamafactory_entry(sharegpt, tools), "tools must be a JSON string")
    no_tools_column = {**openai_entry, "columns": {"messages": "messages"}}
    assert_one_error_mentions(hf.check_llamafactory_entry(no_tools_column, tools), "declares no columns.tools")


def test_llamafactory_ranking_entry_needs_message_objects(tmp_path):
    pairs = write_jsonl(tmp_path / "train.jsonl", [{"messages": TRL_DPO["prompt"], "chosen": TRL_DPO["chosen"],
                                                    "rejected": TRL_DPO["rejected"]}])
    entry = {**LF_ENTRY, "ranking": True, "columns": {"messages": "messages", "chosen": "chosen",
                                                       "rejected": "rejected"}}
    assert_one_error_mentions(hf.check_llamafactory_entry(entry, pairs), "columns.chosen", "one message object")
    single = write_jsonl(tmp_path / "train.jsonl", [{"messages": TRL_DPO["prompt"], "chosen": TRL_DPO["chosen"][0],
                                                     "rejected": TRL_DPO["rejected"][0]}])
    assert hf.check_llamafactory_entry(entry, single) == []


AXOLOTL = """
datasets:
  - path: out/train.jsonl
    type: chat_template
    field_messages: messages
    field_tools: tools
    roles_to_train: [assistant]
    train_on_eos: turn
"""


def test_axolotl_snippet(tmp_path):
    data = write_jsonl(tmp_path / "train.jsonl", [HF, HF_PLAIN])
    assert hf.check_axolotl_snippet(AXOLOTL, data) == []
    for old, new, fragment in [
        ("type: chat_template", "type: sharegpt", "type must be chat_template"),
        ("out/train.jsonl", "out/other.jsonl", "does not name the data file"),
        ("field_messages: messages", "field_messages: conversations", "'conversations' is missing"),
        ("[assistant]", "[assistant, gpt]", "role 'gpt' never occurs"),
        ("train_on_eos: turn", "train_on_eos: always", "train_on_eos"),
        ("field_tools: tools", "feild_tools: tools", "unknown key 'feild_tools'"),
        ("    train_on_eos: turn", "    message_property_mappings: {role: from, content: value}",
         "needs keys 'from' and 'value'"),
    ]:
        assert_one_error_mentions(hf.check_axolotl_snippet(AXOLOTL.replace(old, new), data), "datasets[1]", fragment)
    assert_one_error_mentions(hf.check_axolotl_snippet("base_model: x\n", data), "datasets:")
    flag = write_jsonl(tmp_path / "train.jsonl", [changed(HF_PLAIN, lambda r: r["messages"][1].update(train="yes"))])
    snippet = AXOLOTL.replace("field_tools: tools", "message_field_training: train")
    assert_one_error_mentions(hf.check_axolotl_snippet(snippet, flag), "'train' must be true or false")


# ---------------------------------------------------------------------------------------------- real data

def test_llamafactory_checker_accepts_upstream_demo_files_with_their_upstream_entries(realdata):
    """The entries are LLaMA-Factory's own data/dataset_info.json (@ 00577a85) for its own demo files: the
    replayed converter must accept what LLaMA-Factory ships."""
    folder = realdata / "llamafactory-demo"
    glaive = {"file_name": "glaive_toolcall_en_demo.json", "formatting": "sharegpt",
              "columns": {"messages": "conversations", "tools": "tools"}}
    dpo = {"file_name": "dpo_zh_demo.json", "ranking": True, "formatting": "sharegpt",
           "columns": {"messages": "conversations", "chosen": "chosen", "rejected": "rejected"}}
    assert hf.check_llamafactory_entry(glaive, folder / "glaive_toolcall_en_demo.json") == []
    assert hf.check_llamafactory_entry(dpo, folder / "dpo_zh_demo.json") == []
    records = json.loads((folder / "glaive_toolcall_en_demo.json").read_text(encoding="utf-8"))
    assert all(isinstance(r["tools"], str) for r in records)  # the upstream files keep tools as JSON text
