"""What the open-weights targets call: a model spec in, a counter of chat examples out.

`OpenModelSpec` names the tokenizer and chat template one of three ways — a known `family` whose
tokenizer ships in an installed package, a `tokenizer_file` (a Hugging Face tokenizer.json) with a
`chat_template`, or a local `model_dir` (tokenizer.json + the template from tokenizer_config.json or
chat_template.jinja). `load_counter` (in `__init__`) turns it into a `ChatTokenCounter`.

`ChatTokenCounter.count(example)` takes one OpenAI chat fine-tuning line as a dict and returns
(total tokens of the rendered conversation, tools included; trained tokens), where trained tokens are
the tokens the template's assistant mask marks as trained, without the assistant messages that carry
`weight: 0`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from pipeline.errors import UserError


@dataclass(frozen=True)
class OpenModelSpec:
    family: str | None = None          # a KNOWN_FAMILIES key, e.g. "gpt-oss"
    tokenizer_file: str | None = None  # a Hugging Face tokenizer.json
    chat_template: str | None = None   # a Jinja template: a file (.jinja / .j2 / any existing path) or its text
    model_dir: str | None = None       # a local model folder: tokenizer.json + tokenizer_config.json


@runtime_checkable
class ChatTokenCounter(Protocol):
    name: str    # what counts, with versions: "gpt-oss (o200k_harmony, openai-harmony 0.0.8)"
    exact: bool  # True: the counts are the model's own tokenizer and template, not an estimate

    def count(self, example: dict) -> tuple[int, int]:
        """(total tokens, trained tokens) of one OpenAI chat example; raises ExampleRejected."""
        ...

    def render(self, example: dict) -> str:
        """The conversation as the model sees it (special tokens as text)."""
        ...


class OpenModelError(UserError):
    """The spec cannot be turned into a counter: a missing or invalid file, template or family."""


class ExampleRejected(UserError):
    """This example cannot be rendered by the model's chat template (the template raised, or a
    message has a shape the template does not accept). The message says which and why; other
    examples are unaffected."""
