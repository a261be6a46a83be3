"""Mistral NeMo (tekken, instruct v3): counted by the mistral-common package, which ships its tokenizer.

- Tokenizer: `tekken_240718.json`, shipped inside the mistral-common wheel (mistral_common/data/) — the
  tekken file of Mistral-Nemo-Instruct-2407 — loaded in finetuning validation mode. No download.
- Rendering: mistral-common's own `encode_chat_completion` of the example (`ChatCompletionRequest.from_openai`):
  the library Mistral's fine-tuning uses. It parses tool-call arguments and JSON tool results itself and
  writes them once-encoded; an example it refuses (no user turn first, a tool-call id that is not 9
  letters/digits, ...) is an ExampleRejected with its reason.
- Trained tokens: each trained assistant message as mistral-common encodes it
  (`encode_assistant_message`: its content or [TOOL_CALLS] and `</s>`), `weight: 0` ones left out.

`template_counter()` is the other way to the same model: the Jinja template mistral-common generates for a
tekken v3 tokenizer (the generator behind the templates of Mistral's Hugging Face repos), rendered by our
transformers-compatible renderer and tokenized by splitting the special tokens out — what a Hugging Face
trainer sees. tests/test_open_models_mistral.py checks both against encode_chat_completion on real
conversations; they differ only where a tool result is JSON: the generated template writes it as a
string (`"content": "{\"a\": 1}"`), mistral-common as the object.
"""

from __future__ import annotations

import copy
from functools import lru_cache
from importlib import metadata

from pipeline.chat.open_models.interface import ExampleRejected, OpenModelError
from pipeline.chat.open_models.jinja_chat_template import ChatTemplate
from pipeline.chat.open_models.messages import example_messages, example_tools, trained_flags
from pipeline.chat.open_models.template_counter import TemplateCounter
from pipeline.chat.open_models.text_tokenizers import SpecialSplitTokenizer

TEKKEN_FILE = "tekken_240718.json"
DESCRIPTION = ("Mistral NeMo 12B Instruct (Mistral-Nemo-Instruct-2407): tekken vocab and instruct-v3 chat "
               "template, both from the mistral-common package")


def _missing() -> OpenModelError:
    return OpenModelError("the mistral-nemo family needs the mistral-common package, which ships its tokenizer; "
                          "reinstall chatprep's requirements (make setup), or give model_dir / tokenizer_file instead")


def tekken_path():
    """The tekken file inside the installed mistral-common; a clear error when the package or file is missing."""
    try:
        from mistral_common.tokens.tokenizers.mistral import MistralTokenizer
    except ImportError:
        raise _missing() from None
    path = MistralTokenizer._data_path() / TEKKEN_FILE
    if not path.is_file():
        raise OpenModelError(f"{path} is missing from the installed mistral-common; reinstall it "
                             f"(pip install --force-reinstall mistral-common)")
    return path


@lru_cache(maxsize=1)
def load_tekkenizer():
    path = tekken_path()
    from mistral_common.tokens.tokenizers.tekken import Tekkenizer

    return Tekkenizer.from_file(path)


def generated_template() -> str:
    from mistral_common.integrations.chat_templates.chat_templates import generate_chat_template
    from mistral_common.tokens.tokenizers.base import TokenizerVersion

    return generate_chat_template(
        spm=False, tokenizer_version=TokenizerVersion.v3, image_support=False, audio_support=False,
        thinking_support=False, default_system_prompt=None, plain_thinking_support=False,
        use_special_token_variables=False, model_settings_fields=None, reasoning_effort_values=None,
        reasoning_effort_default=None)


def tekken_text_tokenizer(tekken) -> SpecialSplitTokenizer:
    from mistral_common.tokens.tokenizers.base import SpecialTokenPolicy

    specials = {tekken.id_to_piece(i): i for i in range(tekken.num_special_tokens)}
    return SpecialSplitTokenizer(
        specials,
        lambda text: tekken.encode(text, bos=False, eos=False),
        lambda token: tekken.id_to_byte_piece(token, SpecialTokenPolicy.KEEP))


def mistral_tools(tools: list | None) -> list | None:
    """Tool definitions in the shape mistral-common renders them (its Tool / Function models)."""
    if not tools:
        return None
    out = []
    for tool in tools:
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict):
            out.append(tool)
            continue
        out.append({"type": tool.get("type", "function"),
                    "function": {"name": function.get("name"), "description": function.get("description") or "",
                                 "parameters": function.get("parameters") or {}}})
    return out


class MistralCounter:
    exact = True

    def __init__(self):
        self.tokenizer = load_mistral_tokenizer()
        self.name = f"mistral-nemo (tekken_240718, instruct v3, mistral-common {metadata.version('mistral-common')})"

    def _encode(self, example: dict):
        from mistral_common.exceptions import MistralCommonException
        from mistral_common.protocol.instruct.request import ChatCompletionRequest
        from pydantic import ValidationError

        messages = [{k: v for k, v in m.items() if k != "weight"} if isinstance(m, dict) else m
                    for m in example_messages(example)]
        try:
            request = ChatCompletionRequest.from_openai(messages=copy.deepcopy(messages), tools=example_tools(example))
            return request, self.tokenizer.encode_chat_completion(request)
        except (MistralCommonException, ValidationError, ValueError, TypeError, KeyError, AssertionError) as e:
            reason = str(e).splitlines()[0][:300] if str(e) else type(e).__name__
            raise ExampleRejected(f"mistral-common rejected the example: {reason}") from None

    def render(self, example: dict) -> str:
        from mistral_common.tokens.tokenizers.base import SpecialTokenPolicy

        return self.tokenizer.decode(self._encode(example)[1].tokens, special_token_policy=SpecialTokenPolicy.KEEP)

    def token_ids(self, example: dict) -> list[int]:
        return self._encode(example)[1].tokens

    def count(self, example: dict) -> tuple[int, int]:
        from mistral_common.protocol.instruct.messages import AssistantMessage, UserMessage

        request, tokenized = self._encode(example)
        flags = [f for m, f in zip(example["messages"], trained_flags(example["messages"])) if m.get("role") != "system"]
        parsed = [m for m in request.messages if m.role != "system"]
        last_user = max((i for i, m in enumerate(parsed) if isinstance(m, UserMessage)), default=-1)
        instruct = self.tokenizer.instruct_tokenizer
        trained = sum(len(instruct.encode_assistant_message(m, i < last_user))
                      for i, (m, flag) in enumerate(zip(parsed, flags)) if flag and isinstance(m, AssistantMessage))
        return len(tokenized.tokens), trained


@lru_cache(maxsize=1)
def load_mistral_tokenizer():
    path = tekken_path()
    from mistral_common.protocol.instruct.validator import ValidationMode
    from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

    return MistralTokenizer.from_file(str(path), mode=ValidationMode.finetuning)


def template_counter() -> TemplateCounter:
    """The same model through its generated Hugging Face chat template (see the module doc)."""
    tekken = load_tekkenizer()
    version = metadata.version("mistral-common")
    template = ChatTemplate(generated_template(), {"bos_token": "<s>", "eos_token": "</s>"},
                            origin="the Mistral NeMo chat template")
    return TemplateCounter(f"mistral-nemo chat template (tekken_240718, instruct v3, mistral-common {version})", template,
                           tekken_text_tokenizer(tekken), prepare_tools=mistral_tools)
