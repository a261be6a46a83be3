"""gpt-oss counts (openai-harmony) on real conversations, against harmony text written here from the
format's documentation and tokenized by tiktoken's o200k_base plus harmony's special tokens."""

from __future__ import annotations

import json

import pytest
import tiktoken

from pipeline.chat.open_models import OpenModelError, OpenModelSpec, load_counter
from tests.open_model_examples import cookbook_examples, fastchat_examples, glaive_examples

pytest.importorskip("openai_harmony")

SPECIALS = {"<|startoftext|>": 199998, "<|endoftext|>": 199999, "<|return|>": 200002, "<|constrain|>": 200003,
            "<|channel|>": 200005, "<|start|>": 200006, "<|end|>": 200007, "<|message|>": 200008,
            "<|call|>": 200012}
SYSTEM = ("<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\n"
          "Knowledge cutoff: 2024-06\n\nReasoning: medium\n\n"
          "# Valid channels: analysis, commentary, final. Channel must be included for every message.")
TOOLS_NOTE = "\nCalls to these tools must go to the commentary channel: 'functions'."


@pytest.fixture(scope="module")
def counter(tmp_path_factory):
    return load_counter(OpenModelSpec(family="gpt-oss"), tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def o200k_harmony():
    from pipeline.chat.encodings import get_encoding

    base = get_encoding("o200k_base")
    return tiktoken.Encoding("o200k_harmony_test", pat_str=base._pat_str, mergeable_ranks=base._mergeable_ranks,
                             special_tokens=SPECIALS)


def expected_harmony(example: dict) -> tuple[str, list[str]]:
    """(the conversation, the trained assistant pieces) of a tool-less example, as the format documents it."""
    messages = example["messages"]
    text = SYSTEM + "<|end|>"
    if messages[0]["role"] == "system":
        text += f"<|start|>developer<|message|># Instructions\n\n{messages[0]['content']}<|end|>"
        messages = messages[1:]
    written = []
    for k, m in enumerate(messages):
        if m["role"] == "user":
            text += f"<|start|>user<|message|>{m['content']}<|end|>"
        else:
            end = "<|return|>" if k == len(messages) - 1 else "<|end|>"
            piece = f"<|channel|>final<|message|>{m['content']}{end}"
            text += "<|start|>assistant" + piece
            if m.get("weight", 1) != 0:
                written.append(piece)
    return text, written


def test_plain_conversations_match_the_documented_format(realdata, counter, o200k_harmony):
    examples = cookbook_examples(realdata, "toy_chat_fine_tuning.jsonl") + fastchat_examples(realdata, 200)
    for n, example in enumerate(examples):
        text, written = expected_harmony(example)
        ids = o200k_harmony.encode(text, allowed_special="all")
        assert counter.token_ids(example) == ids, f"example {n}"
        trained = sum(len(o200k_harmony.encode(p, allowed_special="all")) for p in written)
        assert counter.count(example) == (len(ids), trained), f"example {n}"
        assert counter.render(example) == text


def test_weight_zero_assistant_turns_are_not_trained(realdata, counter, o200k_harmony):
    example = next(e for e in fastchat_examples(realdata, 50) if len(e["messages"]) >= 4)
    example["messages"][1]["weight"] = 0
    text, written = expected_harmony(example)
    total, trained = counter.count(example)
    assert total == len(o200k_harmony.encode(text, allowed_special="all"))
    assert trained == sum(len(o200k_harmony.encode(p, allowed_special="all")) for p in written)
    assert len(written) == sum(m["role"] == "assistant" for m in example["messages"]) - 1


def test_tool_calls_are_calls_to_functions_with_arguments_encoded_once(realdata, counter, o200k_harmony):
    for example in cookbook_examples(realdata, "drone_training.jsonl"):
        call = example["messages"][-1]["tool_calls"][0]["function"]
        assert isinstance(call["arguments"], str)
        piece = (f" to=functions.{call['name']}<|channel|>commentary <|constrain|>json<|message|>"
                 f"{call['arguments']}<|call|>")
        text = counter.render(example)
        assert text.endswith("<|start|>assistant" + piece)
        assert json.dumps(call["arguments"]) not in text
        assert TOOLS_NOTE in text and "namespace functions {" in text
        total, trained = counter.count(example)
        assert trained == len(o200k_harmony.encode(piece, allowed_special="all"))
        assert total == len(o200k_harmony.encode(text, allowed_special="all"))


def test_tool_results_come_from_the_function_they_answer(realdata, counter):
    example = next(e for e in glaive_examples(realdata, 30) if any(m["role"] == "tool" for m in e["messages"]))
    calls = [m for m in example["messages"] if m.get("tool_calls")]
    result = next(m for m in example["messages"] if m["role"] == "tool")
    name = calls[0]["tool_calls"][0]["function"]["name"]
    text = counter.render(example)
    assert f"<|start|>functions.{name} to=assistant<|channel|>commentary<|message|>{result['content']}<|end|>" in text
    total, trained = counter.count(example)
    assert 0 < trained < total


def test_vocab_is_provisioned_offline_without_a_cache_env(tmp_path, monkeypatch):
    from pipeline.chat.open_models import gpt_oss

    monkeypatch.delenv("TIKTOKEN_CACHE_DIR", raising=False)
    monkeypatch.delenv("TIKTOKEN_RS_CACHE_DIR", raising=False)
    encoding = gpt_oss.load_encoding(str(tmp_path))
    assert encoding.encode("<|start|>assistant", allowed_special="all") == [200006, 173781]
    assert (tmp_path / "tiktoken").is_dir()


def test_missing_vocab_names_the_file_and_the_fix(tmp_path, monkeypatch):
    from pipeline.chat import encodings
    from pipeline.chat.open_models import gpt_oss

    def unavailable(name, directory, *args):
        raise encodings.EncodingUnavailable(f"{name} not available here.")

    monkeypatch.delenv("TIKTOKEN_CACHE_DIR", raising=False)
    monkeypatch.setattr(encodings, "provision_from_wheel", unavailable)
    monkeypatch.setattr(encodings, "download", unavailable)
    with pytest.raises(OpenModelError, match=r"o200k_base vocab file.*To fix: .*o200k_base\.tiktoken"):
        gpt_oss.load_encoding(str(tmp_path / "empty"))


def test_name_says_what_counts(counter):
    assert counter.exact is True
    assert counter.name.startswith("gpt-oss (o200k_harmony, openai-harmony 0.0.")


def test_the_prefix_fallback_counts_what_the_message_renders_count(realdata, counter):
    from pipeline.chat.open_models.gpt_oss import harmony_messages

    examples = (cookbook_examples(realdata, "drone_training.jsonl")[:5] + fastchat_examples(realdata, 10)
                + glaive_examples(realdata, 10))
    for n, example in enumerate(examples):
        messages, flags = harmony_messages(example)
        by_prefix = sum(counter._written_by_prefix(messages, k) for k, flag in enumerate(flags) if flag)
        assert counter.count(example)[1] == by_prefix, f"example {n}"
