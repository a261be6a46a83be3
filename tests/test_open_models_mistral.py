"""mistral-nemo counts on real conversations, against mistral-common's own encode_chat_completion.

Two ways to the same model are compared with the reference: the family counter (mistral-common itself,
with our conversion, weights and mask) and the template path (our transformers-compatible rendering of the
chat template mistral-common generates, tokenized by splitting the special tokens out) — the second checks
the Jinja machinery that users' own templates go through. The trained tokens of the two come from
different mechanisms (mistral-common's per-message encoding; the prefix-rendering mask) and must agree.
"""

from __future__ import annotations

import copy
import json

import pytest

from pipeline.chat.open_models import ExampleRejected, OpenModelSpec, load_counter
from tests.open_model_examples import cookbook_examples, fastchat_examples, glaive_examples

pytest.importorskip("mistral_common")


@pytest.fixture(scope="module")
def counter(tmp_path_factory):
    return load_counter(OpenModelSpec(family="mistral-nemo"), tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def template_counter():
    from pipeline.chat.open_models.mistral import template_counter

    return template_counter()


@pytest.fixture(scope="module")
def reference():
    from mistral_common.protocol.instruct.validator import ValidationMode
    from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

    return MistralTokenizer.from_file(str(MistralTokenizer._data_path() / "tekken_240718.json"),
                                      mode=ValidationMode.finetuning)


def reference_ids(reference, example: dict) -> list[int]:
    from mistral_common.protocol.instruct.request import ChatCompletionRequest

    messages = [{k: v for k, v in m.items() if k != "weight"} for m in example["messages"]]
    request = ChatCompletionRequest.from_openai(messages=copy.deepcopy(messages), tools=example.get("tools"))
    return reference.encode_chat_completion(request).tokens


def has_json_tool_result(example: dict) -> bool:
    for m in example["messages"]:
        if m["role"] == "tool":
            try:
                return isinstance(json.loads(m["content"]), (dict, list))
            except ValueError:
                pass
    return False


def real_examples(realdata) -> list[dict]:
    toy = [e for e in cookbook_examples(realdata, "toy_chat_fine_tuning.jsonl")
           if any(m["role"] == "user" for m in e["messages"])]  # Mistral needs a user turn first
    return (toy + cookbook_examples(realdata, "drone_training.jsonl", nine_char_ids=True)
            + fastchat_examples(realdata, 60) + glaive_examples(realdata, 60))


def test_family_counter_matches_mistral_common(realdata, counter, reference):
    examples = real_examples(realdata)
    for n, example in enumerate(examples):
        ids = reference_ids(reference, example)
        total, trained = counter.count(example)
        assert total == len(ids), f"example {n}"
        assert 0 < trained < total, f"example {n}"
    assert sum("tools" in e for e in examples) > 130


def test_template_path_matches_mistral_common_and_the_masks_agree(realdata, counter, template_counter, reference):
    compared = with_tools = 0
    for n, example in enumerate(real_examples(realdata)):
        if has_json_tool_result(example):
            continue
        ids = reference_ids(reference, example)
        assert template_counter.token_ids(example) == ids, f"example {n}"
        assert template_counter.count(example) == counter.count(example), f"example {n}"
        compared += 1
        with_tools += "tools" in example
    assert compared > 180
    assert with_tools > 100  # tool definitions and calls (drone, glaive) went through the template


def test_json_tool_results_the_one_known_difference(realdata, counter, template_counter, reference):
    example = next(e for e in glaive_examples(realdata, 30) if has_json_tool_result(e))
    result = next(m["content"] for m in example["messages"] if m["role"] == "tool")
    once = json.dumps(json.loads(result), ensure_ascii=False)
    assert f'"content": {once}' in counter.render(example)  # mistral-common: the object
    assert f'"content": {json.dumps(result, ensure_ascii=False)}' in template_counter.render(example)  # a string
    assert counter.count(example)[0] == len(reference_ids(reference, example))


def test_weight_zero_assistant_turns_are_not_trained(realdata, counter, template_counter):
    example = next(e for e in fastchat_examples(realdata, 50) if len(e["messages"]) >= 4)
    total, trained = counter.count(example)
    example["messages"][1]["weight"] = 0
    total_after, trained_after = counter.count(example)
    assert total_after == total
    assert 0 < trained_after < trained
    assert template_counter.count(example) == (total_after, trained_after)


def test_tool_call_arguments_are_encoded_once(realdata, counter, template_counter):
    example = cookbook_examples(realdata, "drone_training.jsonl", nine_char_ids=True)[0]
    arguments = example["messages"][-1]["tool_calls"][0]["function"]["arguments"]
    assert isinstance(arguments, str)
    for text in (counter.render(example), template_counter.render(example)):
        assert f'"arguments": {json.dumps(json.loads(arguments))}' in text
        assert json.dumps(arguments) not in text  # the string itself, quoted again


def test_what_the_model_refuses_is_an_example_error_with_its_reason(counter, template_counter):
    no_user = {"messages": [{"role": "system", "content": "s"}, {"role": "assistant", "content": "a"}]}
    with pytest.raises(ExampleRejected, match="must start with a user message"):
        template_counter.count(no_user)
    bad_id = {"messages": [{"role": "user", "content": "u"}, {"role": "assistant", "tool_calls": [
        {"id": "call_id", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}]}
    with pytest.raises(ExampleRejected, match="id of 9 characters"):
        template_counter.count(bad_id)
    with pytest.raises(ExampleRejected, match="mistral-common rejected the example"):
        counter.count(bad_id)


def test_name_says_what_counts(counter):
    assert counter.exact is True
    assert counter.name.startswith("mistral-nemo (tekken_240718, instruct v3, mistral-common ")


def test_a_missing_tokenizer_file_says_to_reinstall(tmp_path, monkeypatch):
    from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

    from pipeline.chat.open_models import OpenModelError, mistral

    monkeypatch.setattr(MistralTokenizer, "_data_path", classmethod(lambda cls: tmp_path))
    with pytest.raises(OpenModelError, match=r"tekken_240718\.json is missing .*\(pip install --force-reinstall"):
        mistral.load_mistral_tokenizer.__wrapped__()
