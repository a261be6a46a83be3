"""A user's own model files: a tokenizer.json + chat template, or a local model folder.

A Hugging Face model folder holds `tokenizer.json` (the fast tokenizer, loaded with `tokenizers`) and
`tokenizer_config.json`, whose `chat_template` is the template (a string, or a list of named templates:
"default", and "tool_use" which transformers picks when tools are given), and whose special tokens
(bos_token, eos_token, ...) are the variables the template reads. Newer transformers versions save the
template beside it as `chat_template.jinja` (preferred when present, as transformers does).

Every problem is an OpenModelError naming the file and the fix; nothing here touches the network.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import jinja2

from pipeline.chat.open_models.interface import OpenModelError, OpenModelSpec
from pipeline.chat.open_models.jinja_chat_template import ChatTemplate
from pipeline.chat.open_models.template_counter import TemplateCounter
from pipeline.chat.open_models.text_tokenizers import HuggingFaceTokenizer

SPECIAL_TOKEN_KEYS = ("bos_token", "eos_token", "unk_token", "pad_token", "sep_token", "cls_token", "mask_token")
_GET_IT = ("download it from the model's page on the Hugging Face Hub (Files and versions), "
           "or save it with `AutoTokenizer.from_pretrained(name).save_pretrained(folder)`")


def load_tokenizer(path: Path):
    from tokenizers import Tokenizer

    if not path.is_file():
        raise OpenModelError(f"tokenizer file {path} not found; give the path of the model's tokenizer.json "
                             f"({_GET_IT})")
    try:
        return Tokenizer.from_file(str(path))
    except Exception as e:  # noqa: BLE001 - tokenizers raises a bare Exception for JSON and schema errors
        detail = str(e).splitlines()[0][:200]
        raise OpenModelError(
            f"{path} is not a Hugging Face tokenizer.json (tokenizers says: {detail}); use the model's "
            f"tokenizer.json — a SentencePiece tokenizer.model must first be converted: load it with transformers "
            f"and save_pretrained, which writes tokenizer.json") from None


def read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise OpenModelError(f"cannot read {path} ({e}); check the file and its permissions") from None
    except ValueError as e:
        raise OpenModelError(f"{path} is not valid JSON ({e}); {_GET_IT}") from None
    if not isinstance(data, dict):
        raise OpenModelError(f"{path} must hold a JSON object (got {type(data).__name__}); {_GET_IT}")
    return data


def special_token_variables(config: dict) -> dict:
    """bos_token, eos_token, ... as the strings a template reads (AddedToken dicts by their content)."""
    out = {}
    for key in SPECIAL_TOKEN_KEYS:
        value = config.get(key)
        if isinstance(value, dict):
            value = value.get("content")
        if isinstance(value, str):
            out[key] = value
    extra = config.get("additional_special_tokens")
    if isinstance(extra, list):
        out["additional_special_tokens"] = [t.get("content") if isinstance(t, dict) else t for t in extra]
    return out


def template_source(value: str, where: str) -> tuple[str, str]:
    """(template text, its origin) from a spec value: a path to a template file, or the template itself."""
    if "{{" in value or "{%" in value:
        return value, f"the chat template given in {where}"
    path = Path(value).expanduser()
    if not path.is_file():
        raise OpenModelError(f"chat template file {path} not found ({where}); give the path of a Jinja template "
                             f"(e.g. the model's chat_template.jinja) or the template text itself")
    try:
        return path.read_text(encoding="utf-8"), f"chat template {path}"
    except (OSError, UnicodeDecodeError) as e:
        raise OpenModelError(f"cannot read chat template {path} ({e}); it must be a UTF-8 text file") from None


def compile_chat_template(source: str, origin: str, variables: dict) -> ChatTemplate:
    if not source.strip():
        raise OpenModelError(f"{origin} is empty; give the model's chat template")
    try:
        return ChatTemplate(source, variables, origin)
    except jinja2.TemplateSyntaxError as e:
        raise OpenModelError(f"{origin}: Jinja syntax error at line {e.lineno}: {e.message}; fix the template "
                             f"or use the model's own (tokenizer_config.json `chat_template`)") from None


def _check_variables(source: str, origin: str, config_path: Path) -> None:
    """Without a tokenizer_config.json the special tokens are unknown: a template that writes them would
    silently lose them. (With one, a token it does not define renders empty, as in transformers.)"""
    if config_path.is_file():
        return
    for key in ("bos_token", "eos_token"):
        if re.search(rf"\b{key}\b", source):
            raise OpenModelError(
                f"{origin} uses {key}, but there is no {config_path} to say what it is (the model's special tokens "
                f"are there); put the model's tokenizer_config.json beside the tokenizer file, or use model_dir")


def _config_templates(config: dict, config_path: Path) -> dict[str, str]:
    value = config.get("chat_template")
    if isinstance(value, str):
        return {"default": value}
    if isinstance(value, list):
        named = {t.get("name"): t.get("template") for t in value if isinstance(t, dict)}
        named = {k: v for k, v in named.items() if isinstance(k, str) and isinstance(v, str)}
        if named:
            return named
    if value is not None:
        raise OpenModelError(f"{config_path}: `chat_template` must be a string or a list of {{name, template}} "
                             f"(got {type(value).__name__}); {_GET_IT}")
    return {}


def _counter(name: str, tokenizer_path: Path, templates: dict[str, tuple[str, str]], variables: dict,
             config_path: Path) -> TemplateCounter:
    tokenizer = HuggingFaceTokenizer(load_tokenizer(tokenizer_path))
    compiled = {}
    for key, (source, origin) in templates.items():
        _check_variables(source, origin, config_path)
        compiled[key] = compile_chat_template(source, origin, variables)
    default = compiled.get("default") or next(iter(compiled.values()))
    counter = TemplateCounter(name, default, tokenizer)
    if "tool_use" in compiled and compiled["tool_use"] is not default:
        counter = ToolUseSwitch(counter, TemplateCounter(name, compiled["tool_use"], tokenizer))
    return counter


class ToolUseSwitch:
    """Two named templates: "tool_use" for examples with tools, "default" for the rest (as transformers)."""

    def __init__(self, default: TemplateCounter, tool_use: TemplateCounter):
        self.default, self.tool_use = default, tool_use
        self.name, self.exact = default.name, default.exact

    def _pick(self, example: dict) -> TemplateCounter:
        return self.tool_use if isinstance(example, dict) and example.get("tools") else self.default

    def count(self, example: dict) -> tuple[int, int]:
        return self._pick(example).count(example)

    def render(self, example: dict) -> str:
        return self._pick(example).render(example)


def from_tokenizer_file(spec: OpenModelSpec):
    tokenizer_path = Path(spec.tokenizer_file).expanduser()
    if not spec.chat_template:
        raise OpenModelError(f"tokenizer_file {tokenizer_path} needs a chat_template too (the model's Jinja template: "
                             f"a .jinja file or the text); or give model_dir, a folder with tokenizer.json and "
                             f"tokenizer_config.json")
    config_path = tokenizer_path.parent / "tokenizer_config.json"
    variables = special_token_variables(read_json(config_path)) if config_path.is_file() else {}
    source, origin = template_source(spec.chat_template, "chat_template")
    return _counter(f"{tokenizer_path} + {origin}", tokenizer_path, {"default": (source, origin)}, variables,
                    config_path)


def from_model_dir(spec: OpenModelSpec):
    folder = Path(spec.model_dir).expanduser()
    if not folder.is_dir():
        raise OpenModelError(f"model folder {folder} not found; give a local folder holding the model's tokenizer.json "
                             f"and tokenizer_config.json ({_GET_IT})")
    tokenizer_path, config_path = folder / "tokenizer.json", folder / "tokenizer_config.json"
    if not tokenizer_path.is_file():
        hint = " (it has a SentencePiece tokenizer.model: load it with transformers and save_pretrained to write " \
               "tokenizer.json)" if (folder / "tokenizer.model").is_file() else ""
        raise OpenModelError(f"model folder {folder} has no tokenizer.json{hint}; {_GET_IT}")
    config = read_json(config_path) if config_path.is_file() else {}
    variables = special_token_variables(config)
    templates = {k: (v, f"{config_path} chat_template" + ("" if k == "default" else f" {k!r}"))
                 for k, v in _config_templates(config, config_path).items()}
    jinja_file = folder / "chat_template.jinja"
    if spec.chat_template:
        templates = {"default": template_source(spec.chat_template, "chat_template")}
    elif jinja_file.is_file():
        templates["default"] = template_source(str(jinja_file), str(folder))
    if not templates:
        raise OpenModelError(f"model folder {folder} has no chat template: neither chat_template.jinja nor a "
                             f"`chat_template` in tokenizer_config.json; give chat_template (a .jinja file) — base "
                             f"models often ship none: use the instruct model's template you will train with")
    return _counter(folder.name, tokenizer_path, templates, variables, config_path)
