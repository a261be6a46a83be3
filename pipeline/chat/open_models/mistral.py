"""Mistral NeMo (tekken, instruct v3): vocab and chat template both from the mistral-common package.

- Tokenizer: `tekken_240718.json`, shipped inside the mistral-common wheel (mistral_common/data/) — the
  tekken file of Mistral-Nemo-Instruct-2407 — read by mistral-common's Tekkenizer (a tiktoken BPE whose
  ordinary ids come after its 1,000 special ids). No download.
- Chat template: the Jinja template mistral-common generates for a tekken v3 tokenizer
  (mistral_common.integrations.chat_templates.generate_chat_template — the generator behind the
  templates of Mistral's Hugging Face repos), rendered by our transformers-compatible renderer; the
  rendered text is split at the special-token strings ([INST], [/INST], [TOOL_CALLS], </s>, ...) and the
  rest BPE-encoded, as a tokenizer.json with those added tokens does.
- Tool definitions are passed in the shape mistral-common renders them: {"type": "function", "function":
  {"name", "description" ("" when absent), "parameters" ({} when absent)}}.
- Trained tokens: the template has no {% generation %} blocks, so the mask is derived by rendering
  prefixes (jinja_chat_template.py): an assistant message's content and its `</s>`.

tests/test_open_models_mistral.py checks the token ids against mistral-common's own
`encode_chat_completion` (finetuning validation) on real conversations, and the trained tokens against its
`encode_assistant_message`.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import metadata

from pipeline.chat.open_models.interface import OpenModelError
from pipeline.chat.open_models.jinja_chat_template import ChatTemplate
from pipeline.chat.open_models.template_counter import TemplateCounter
from pipeline.chat.open_models.text_tokenizers import SpecialSplitTokenizer

TEKKEN_FILE = "tekken_240718.json"
DESCRIPTION = ("Mistral NeMo 12B Instruct (Mistral-Nemo-Instruct-2407): tekken vocab and instruct-v3 chat "
               "template, both from the mistral-common package")


def _missing() -> OpenModelError:
    return OpenModelError("the mistral-nemo family needs the mistral-common package, which ships its tokenizer; "
                          "reinstall chatprep's requirements (make setup), or give model_dir / tokenizer_file instead")


@lru_cache(maxsize=1)
def load_tekkenizer():
    try:
        from mistral_common.tokens.tokenizers.mistral import MistralTokenizer
        from mistral_common.tokens.tokenizers.tekken import Tekkenizer
    except ImportError:
        raise _missing() from None
    path = MistralTokenizer._data_path() / TEKKEN_FILE
    if not path.is_file():
        raise OpenModelError(f"{path} is missing from the installed mistral-common; reinstall it "
                             f"(pip install --force-reinstall mistral-common)")
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


def load() -> TemplateCounter:
    tekken = load_tekkenizer()
    version = metadata.version("mistral-common")
    template = ChatTemplate(generated_template(), {"bos_token": "<s>", "eos_token": "</s>"},
                            origin="the Mistral NeMo chat template")
    return TemplateCounter(f"mistral-nemo (tekken_240718, instruct v3, mistral-common {version})", template,
                           tekken_text_tokenizer(tekken), prepare_tools=mistral_tools)
