"""Exact token counts for open-weights models: the model's own tokenizer and chat template.

    from pipeline.chat.open_models import OpenModelSpec, load_counter
    counter = load_counter(OpenModelSpec(family="gpt-oss"), cache_dir=Path(".cache"))
    total, trained = counter.count({"messages": [...], "tools": [...]})

A spec names exactly one source:
- `family`: a KNOWN_FAMILIES key; the tokenizer ships in an installed package, nothing is downloaded
  (gpt_oss.py: openai-harmony; mistral.py: mistral-common);
- `tokenizer_file` (+ `chat_template`): a Hugging Face tokenizer.json and the model's Jinja template
  (hf_files.py), special tokens from a tokenizer_config.json beside it;
- `model_dir` (optionally + `chat_template` to override): a local folder with tokenizer.json and
  tokenizer_config.json / chat_template.jinja.
Templates render as transformers' apply_chat_template does (jinja_chat_template.py); trained tokens follow
the template's `{% generation %}` mask, or the assistant text found by rendering prefixes.

`cache_dir` is the run's cache folder: gpt-oss provisions its o200k_base vocab file in `<cache_dir>/tiktoken`
when TIKTOKEN_CACHE_DIR does not already hold it. Counters are cached per spec in each process.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pipeline.chat.open_models import gpt_oss, mistral
from pipeline.chat.open_models.interface import (
    ChatTokenCounter,
    ExampleRejected,
    OpenModelError,
    OpenModelSpec,
)

KNOWN_FAMILIES: dict[str, str] = {
    "gpt-oss": gpt_oss.DESCRIPTION,
    "mistral-nemo": mistral.DESCRIPTION,
}

__all__ = ["KNOWN_FAMILIES", "ChatTokenCounter", "ExampleRejected", "OpenModelError", "OpenModelSpec",
           "load_counter"]


def _check(spec: OpenModelSpec) -> None:
    given = [k for k in ("family", "tokenizer_file", "model_dir") if getattr(spec, k)]
    if len(given) != 1:
        which = " and ".join(given) if given else "none of them"
        raise OpenModelError(f"give exactly one of family, tokenizer_file (with chat_template) or model_dir "
                             f"(got {which}); known families: {', '.join(KNOWN_FAMILIES)}")
    if spec.family and spec.chat_template:
        raise OpenModelError(f"family {spec.family!r} brings its own chat template; drop chat_template, or give "
                             f"tokenizer_file or model_dir with it")
    if spec.family and spec.family not in KNOWN_FAMILIES:
        raise OpenModelError(f"unknown model family {spec.family!r}; known: {', '.join(KNOWN_FAMILIES)} — or give "
                             f"model_dir (a local model folder) or tokenizer_file + chat_template")


@lru_cache(maxsize=8)
def _load(spec: OpenModelSpec, cache_dir: str) -> ChatTokenCounter:
    if spec.family == "gpt-oss":
        return gpt_oss.GptOssCounter(Path(cache_dir))
    if spec.family == "mistral-nemo":
        return mistral.MistralCounter()
    from pipeline.chat.open_models import hf_files

    if spec.tokenizer_file:
        return hf_files.from_tokenizer_file(spec)
    return hf_files.from_model_dir(spec)


def load_counter(spec: OpenModelSpec, cache_dir: Path) -> ChatTokenCounter:
    """The counter for `spec`; raises OpenModelError (a UserError) naming the file or value and the fix."""
    _check(spec)
    return _load(spec, str(cache_dir))
