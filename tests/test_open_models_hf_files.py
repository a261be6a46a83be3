"""A user's own tokenizer.json + chat template, or model folder: counts, the assistant mask, the
double-encoded arguments pitfall and the messages for bad files. The tokenizer is built here with
`tokenizers` (a tiny byte-level BPE), the templates are written here: nothing is downloaded."""

from __future__ import annotations

import json

import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from pipeline.chat.open_models import ExampleRejected, OpenModelError, OpenModelSpec, load_counter
from pipeline.chat.open_models.text_tokenizers import tokens_in_spans

SPECIALS = ["<|im_start|>", "<|im_end|>", "<s>"]
MASKED = (
    "{{ bos_token }}{%- if tools %}<|im_start|>system\nTools: {{ tools | tojson }}<|im_end|>\n{% endif %}"
    "{%- for m in messages %}"
    "{%- if m.role == 'assistant' %}<|im_start|>assistant\n{% generation %}{{ m.content or '' }}"
    "{%- for c in m.tool_calls or [] %}<call>{{ c.function.name }} {{ c.function.arguments | tojson }}</call>"
    "{%- endfor %}<|im_end|>{% endgeneration %}{{ '\\n' }}"
    "{%- else %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endif %}"
    "{%- endfor %}{%- if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
UNMASKED = MASKED.replace("{% generation %}", "").replace("{% endgeneration %}", "")
RAW_ARGUMENTS = UNMASKED.replace("{{ c.function.arguments | tojson }}", "{{ c.function.arguments }}")

CHAT = {"messages": [
    {"role": "system", "content": "You answer about the weather."},
    {"role": "user", "content": "Is it sunny in Paris today?"},
    {"role": "assistant", "content": "Yes, sunny and warm."},
    {"role": "user", "content": "And tomorrow?"},
    {"role": "assistant", "content": "Rain is expected tomorrow."}]}
TOOL_CALL = {"tools": [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}],
             "messages": [{"role": "user", "content": "Weather in Paris?"},
                          {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {
                              "name": "weather", "arguments": "{\"city\": \"Paris\"}"}}]}]}


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("model")
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    corpus = [json.dumps(CHAT), json.dumps(TOOL_CALL), "weather sunny rain Paris tomorrow assistant user system"] * 5
    tokenizer.train_from_iterator(corpus, trainers.BpeTrainer(
        vocab_size=400, special_tokens=SPECIALS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"bos_token": {"content": "<s>"}, "eos_token": "<|im_end|>", "chat_template": MASKED}))
    (folder / "masked.jinja").write_text(MASKED)
    (folder / "unmasked.jinja").write_text(UNMASKED)
    (folder / "raw_arguments.jinja").write_text(RAW_ARGUMENTS)
    return folder


def tokens(folder, text: str) -> int:
    return len(Tokenizer.from_file(str(folder / "tokenizer.json")).encode(text, add_special_tokens=False).ids)


def spec_for(folder, template: str) -> OpenModelSpec:
    return OpenModelSpec(tokenizer_file=str(folder / "tokenizer.json"), chat_template=str(folder / template))


def test_counts_are_the_rendered_text_and_its_assistant_mask(model_files, tmp_path):
    expected = ("<s><|im_start|>system\nYou answer about the weather.<|im_end|>\n"
                "<|im_start|>user\nIs it sunny in Paris today?<|im_end|>\n"
                "<|im_start|>assistant\nYes, sunny and warm.<|im_end|>\n"
                "<|im_start|>user\nAnd tomorrow?<|im_end|>\n"
                "<|im_start|>assistant\nRain is expected tomorrow.<|im_end|>\n")
    written = ["Yes, sunny and warm.<|im_end|>", "Rain is expected tomorrow.<|im_end|>"]
    for template in ("masked.jinja", "unmasked.jinja"):  # generation blocks, and the mask from prefixes
        counter = load_counter(spec_for(model_files, template), tmp_path)
        assert counter.render(CHAT) == expected
        assert counter.count(CHAT) == (tokens(model_files, expected), sum(tokens(model_files, w) for w in written))
        assert counter.exact is True


def test_weight_zero_turns_leave_the_mask_but_not_the_total(model_files, tmp_path):
    weighted = json.loads(json.dumps(CHAT))
    weighted["messages"][2]["weight"] = 0
    for template in ("masked.jinja", "unmasked.jinja"):
        counter = load_counter(spec_for(model_files, template), tmp_path)
        total, trained = counter.count(CHAT)
        assert counter.count(weighted) == (total, trained - tokens(model_files, "Yes, sunny and warm.<|im_end|>"))
        assert "weight" not in counter.render(weighted)


def test_arguments_string_is_encoded_once_for_templates_that_apply_tojson(model_files, tmp_path):
    counter = load_counter(spec_for(model_files, "masked.jinja"), tmp_path)
    text = counter.render(TOOL_CALL)
    assert '<call>weather {"city": "Paris"}</call>' in text
    assert '"{\\"city\\"' not in text  # the double-encoded form
    assert TOOL_CALL["messages"][1]["tool_calls"][0]["function"]["arguments"] == "{\"city\": \"Paris\"}"  # untouched
    assert counter.count(TOOL_CALL)[1] == tokens(model_files, '<call>weather {"city": "Paris"}</call><|im_end|>')


def test_arguments_stay_a_string_for_templates_that_print_them_as_given(model_files, tmp_path):
    text = load_counter(spec_for(model_files, "raw_arguments.jinja"), tmp_path).render(TOOL_CALL)
    assert '<call>weather {"city": "Paris"}</call>' in text
    assert "{'city'" not in text  # an object printed as Python's repr


def test_model_folder_uses_its_config_template_and_special_tokens(model_files, tmp_path):
    counter = load_counter(OpenModelSpec(model_dir=str(model_files)), tmp_path)
    assert counter.render(CHAT).startswith("<s><|im_start|>system\n")
    assert counter.count(CHAT) == load_counter(spec_for(model_files, "masked.jinja"), tmp_path).count(CHAT)


def test_model_folder_prefers_chat_template_jinja_and_picks_tool_use(tmp_path, model_files):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "tokenizer.json").write_bytes((model_files / "tokenizer.json").read_bytes())
    (folder / "tokenizer_config.json").write_text(json.dumps({"bos_token": "<s>", "chat_template": [
        {"name": "default", "template": "default {{ messages | length }}"},
        {"name": "tool_use", "template": "tools {{ tools | length }}"}]}))
    counter = load_counter(OpenModelSpec(model_dir=str(folder)), tmp_path)
    assert counter.render(CHAT) == "default 5"
    assert counter.render(TOOL_CALL) == "tools 1"
    (folder / "chat_template.jinja").write_text("jinja file")
    assert load_counter(OpenModelSpec(model_dir=str(folder)), tmp_path / "other").render(CHAT) == "jinja file"


def test_template_exceptions_reject_the_example_with_the_templates_words(model_files, tmp_path):
    path = tmp_path / "strict.jinja"
    path.write_text("{% if messages[0].role != 'user' %}{{ raise_exception('first message must be user') }}"
                    "{% endif %}{% for m in messages %}{{ m.content }}{% endfor %}")
    counter = load_counter(OpenModelSpec(tokenizer_file=str(model_files / "tokenizer.json"),
                                         chat_template=str(path)), tmp_path)
    with pytest.raises(ExampleRejected, match="first message must be user"):
        counter.count(CHAT)
    with pytest.raises(ExampleRejected, match="no `messages` list"):
        counter.count({"prompt": "x"})


def _write(tmp_path, name: str, text: str) -> str:
    (tmp_path / name).write_text(text)
    return str(tmp_path / name)


@pytest.mark.parametrize("make_spec, message", [
    (lambda d, t: OpenModelSpec(tokenizer_file=str(t / "none.json"), chat_template="{{ 1 }}"),
     r"tokenizer file .*none\.json not found; give the path of the model's tokenizer\.json"),
    (lambda d, t: OpenModelSpec(tokenizer_file=_write(t, "bad.json", '{"model": 1}'), chat_template="{{ 1 }}"),
     r"bad\.json is not a Hugging Face tokenizer\.json"),
    (lambda d, t: OpenModelSpec(tokenizer_file=str(d / "tokenizer.json")),
     r"needs a chat_template too"),
    (lambda d, t: OpenModelSpec(tokenizer_file=str(d / "tokenizer.json"), chat_template=str(t / "gone.jinja")),
     r"chat template file .*gone\.jinja not found"),
    (lambda d, t: OpenModelSpec(tokenizer_file=str(d / "tokenizer.json"),
                                chat_template=_write(t, "broken.jinja", "line one\n{% for m in messages %}")),
     r"broken\.jinja: Jinja syntax error at line 2"),
    (lambda d, t: OpenModelSpec(model_dir=str(t / "missing")), r"model folder .*missing not found"),
    (lambda d, t: OpenModelSpec(model_dir=str(_spm_only(t))), r"has no tokenizer\.json \(it has a SentencePiece"),
    (lambda d, t: OpenModelSpec(model_dir=str(_no_template(d, t))), r"has no chat template"),
    (lambda d, t: OpenModelSpec(model_dir=str(_bad_config(d, t))), r"tokenizer_config\.json is not valid JSON"),
    (lambda d, t: OpenModelSpec(family="llama-9"), r"unknown model family 'llama-9'; known: gpt-oss, mistral-nemo"),
    (lambda d, t: OpenModelSpec(family="gpt-oss", model_dir=str(d)), r"give exactly one of .*got family and model_dir"),
    (lambda d, t: OpenModelSpec(), r"got none of them"),
    (lambda d, t: OpenModelSpec(family="gpt-oss", chat_template="{{ 1 }}"), r"brings its own chat template"),
])
def test_bad_specs_name_the_file_and_the_fix(model_files, tmp_path, make_spec, message):
    with pytest.raises(OpenModelError, match=message):
        load_counter(make_spec(model_files, tmp_path), tmp_path)


def test_template_using_bos_token_needs_the_config_that_defines_it(model_files, tmp_path):
    (tmp_path / "tokenizer.json").write_bytes((model_files / "tokenizer.json").read_bytes())
    with pytest.raises(OpenModelError, match=r"uses bos_token, but there is no .*tokenizer_config\.json"):
        load_counter(OpenModelSpec(tokenizer_file=str(tmp_path / "tokenizer.json"),
                                   chat_template=str(model_files / "masked.jinja")), tmp_path)


def _spm_only(tmp_path):
    folder = tmp_path / "spm"
    folder.mkdir()
    (folder / "tokenizer.model").write_bytes(b"\x00")
    return folder


def _no_template(model_files, tmp_path):
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "tokenizer.json").write_bytes((model_files / "tokenizer.json").read_bytes())
    (folder / "tokenizer_config.json").write_text(json.dumps({"bos_token": "<s>"}))
    return folder


def _bad_config(model_files, tmp_path):
    folder = _no_template(model_files, tmp_path)
    (folder / "tokenizer_config.json").write_text("{not json")
    return folder


def test_tokens_in_spans_marks_tokens_overlapping_the_characters():
    starts = [0, 3, 5, 9]  # four tokens over 12 characters: [0,3) [3,5) [5,9) [9,12)
    assert tokens_in_spans(starts, 12, [(3, 5)]) == 1
    assert tokens_in_spans(starts, 12, [(4, 6)]) == 2  # a span inside two tokens marks both
    assert tokens_in_spans(starts, 12, [(0, 12), (5, 9)]) == 4
    assert tokens_in_spans(starts, 12, [(6, 6)]) == 0
