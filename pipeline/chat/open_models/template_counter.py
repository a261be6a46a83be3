"""A counter from a chat template and a text tokenizer: render as transformers does, tokenize, mask.

Used for a user's tokenizer.json + template or model folder (hf_files.py) and for the families whose
template is Jinja (mistral.py). `prepare_tools` lets a family put tool definitions in the shape its own
library renders (Mistral's fills an absent description with "").
"""

from __future__ import annotations

from collections.abc import Callable

from pipeline.chat.open_models.jinja_chat_template import ChatTemplate
from pipeline.chat.open_models.messages import (
    example_messages,
    example_tools,
    template_messages,
    template_wants_argument_objects,
    trained_flags,
)
from pipeline.chat.open_models.text_tokenizers import TextTokenizer, tokens_in_spans


class TemplateCounter:
    def __init__(self, name: str, template: ChatTemplate, tokenizer: TextTokenizer, exact: bool = True,
                 prepare_tools: Callable[[list | None], list | None] | None = None):
        self.name = name
        self.exact = exact
        self.template = template
        self.tokenizer = tokenizer
        self.arguments_as_objects = template_wants_argument_objects(template.source)
        self._prepare_tools = prepare_tools

    def _inputs(self, example: dict) -> tuple[list[dict], list | None, list[bool]]:
        messages = example_messages(example)
        tools = example_tools(example)
        if self._prepare_tools is not None:
            tools = self._prepare_tools(tools)
        return template_messages(messages, self.arguments_as_objects), tools, trained_flags(messages)

    def render(self, example: dict) -> str:
        messages, tools, _ = self._inputs(example)
        return self.template.render(messages, tools)

    def count(self, example: dict) -> tuple[int, int]:
        messages, tools, trained = self._inputs(example)
        text, spans = self.template.render_with_assistant_spans(messages, tools, trained)
        ids, starts = self.tokenizer.encode(text)
        return len(ids), tokens_in_spans(starts, len(text), spans)

    def token_ids(self, example: dict) -> list[int]:
        """The token ids of the rendered conversation (what the trainer feeds the model)."""
        ids, _ = self.tokenizer.encode(self.render(example))
        return ids
