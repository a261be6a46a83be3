"""Chat templates rendered the way Hugging Face transformers' `apply_chat_template` renders them.

The same Jinja environment (transformers/utils/chat_template_utils.py, `_compile_jinja_template`): an
ImmutableSandboxedEnvironment with trim_blocks and lstrip_blocks, the loopcontrols extension, a `tojson`
filter that does NOT escape HTML (json.dumps with ensure_ascii=False, optional indent / separators /
sort_keys), `raise_exception(message)` and `strftime_now(format)`, and the `{% generation %}` tag whose
blocks mark the assistant text that is trained (`return_assistant_tokens_mask`). Variables: `messages`,
`tools`, `documents` (None), `add_generation_prompt`, and the tokenizer's special tokens (bos_token, ...).

The assistant mask, as character spans of the rendered text:
- a template with `{% generation %}` blocks: the blocks (as transformers reports them), the k-th block
  taken for the k-th assistant message when the counts agree (so `weight: 0` can drop its block);
- otherwise, by rendering prefixes: assistant message i's text is what rendering messages[:i+1] adds to
  messages[:i] with the generation prompt (its content and end-of-turn token, not the role header, nor the
  whitespace that separates it from the next turn), found in the full rendering after the previous
  assistant message. This is the span a `{% generation %}` block around the message would mark.
"""

from __future__ import annotations

import json
import re
from contextlib import contextmanager
from datetime import datetime
from functools import lru_cache
from typing import ClassVar

import jinja2
import jinja2.ext
from jinja2 import nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from pipeline.chat.open_models.interface import ExampleRejected

Span = tuple[int, int]


class _GenerationTracker(jinja2.ext.Extension):
    """The `{% generation %}...{% endgeneration %}` tag: records the character span of each block."""

    tags: ClassVar[set[str]] = {"generation"}

    def __init__(self, environment):
        super().__init__(environment)
        environment.extend(track_generation=self.track)
        self._blocks: list[str] | None = None
        self._spans: list[Span] | None = None

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return nodes.CallBlock(self.call_method("_generation", []), [], [], body).set_lineno(lineno)

    def _generation(self, caller):
        text = caller()
        if self._blocks is not None:
            start = sum(map(len, self._blocks))
            self._spans.append((start, start + len(text)))
        return text

    @contextmanager
    def track(self, blocks: list[str], spans: list[Span]):
        self._blocks, self._spans = blocks, spans
        try:
            yield
        finally:
            self._blocks = self._spans = None


def _tojson(value, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def _raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def _strftime_now(fmt):
    return datetime.now().strftime(fmt)


@lru_cache(maxsize=16)
def compile_template(source: str) -> jinja2.Template:
    """The compiled template; raises jinja2.TemplateSyntaxError (callers turn it into a user message)."""
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[_GenerationTracker, jinja2.ext.loopcontrols])
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    return env.from_string(source)


def has_generation_blocks(source: str) -> bool:
    return re.search(r"\{%-?\s*generation\s*-?%\}", source) is not None


class ChatTemplate:
    """A compiled chat template with the variables it renders with (the tokenizer's special tokens)."""

    def __init__(self, source: str, variables: dict | None = None, origin: str = "chat template"):
        self.source = source
        self.origin = origin
        self.variables = dict(variables or {})
        self.template = compile_template(source)
        self.generation_blocks = has_generation_blocks(source)

    def render(self, messages: list, tools: list | None, add_generation_prompt: bool = False) -> str:
        text, _ = self._render(messages, tools, add_generation_prompt, track=False)
        return text

    def _render(self, messages, tools, add_generation_prompt, track) -> tuple[str, list[Span]]:
        context = {**self.variables, "messages": messages, "tools": tools, "documents": None,
                   "add_generation_prompt": add_generation_prompt}
        blocks: list[str] = []
        spans: list[Span] = []
        try:
            if track:
                with self.template.environment.track_generation(blocks, spans):
                    for block in self.template.generate(**context):  # the tracker reads `blocks` as they grow
                        blocks.append(block)  # noqa: PERF402
            else:
                blocks.append(self.template.render(**context))
        except jinja2.exceptions.TemplateError as e:
            raise ExampleRejected(f"{self.origin} rejected the example: {e}") from None
        except (TypeError, ValueError, KeyError, IndexError, AttributeError) as e:
            raise ExampleRejected(f"{self.origin} failed on the example ({type(e).__name__}: {e}); "
                                  f"a message has a shape this template does not expect") from None
        return "".join(blocks), spans

    def render_with_assistant_spans(self, messages: list, tools: list | None,
                                    trained: list[bool]) -> tuple[str, list[Span]]:
        """The rendered conversation and the character spans of its trained assistant text."""
        text, blocks = self._render(messages, tools, False, track=self.generation_blocks)
        assistant = [i for i, m in enumerate(messages) if m.get("role") == "assistant"]
        if self.generation_blocks:
            if len(blocks) == len(assistant):
                return text, [span for span, i in zip(blocks, assistant) if trained[i]]
            if all(trained[i] for i in assistant):
                return text, blocks
        return text, self._spans_by_prefix(text, messages, tools, assistant, trained)

    def _spans_by_prefix(self, text, messages, tools, assistant, trained) -> list[Span]:
        spans, cursor = [], 0
        for i in assistant:
            before = self.render(messages[:i], tools, add_generation_prompt=True)
            upto = self.render(messages[:i + 1], tools, add_generation_prompt=False)
            if not upto.startswith(before):
                before = self.render(messages[:i], tools, add_generation_prompt=False)
            if not upto.startswith(before):
                raise ExampleRejected(
                    f"{self.origin}: cannot tell which text of assistant message {i + 1} is trained (rendering the "
                    f"conversation up to it does not extend the rendering before it); add {{% generation %}} "
                    f"blocks around the assistant text to the template")
            # the turn's text; the whitespace separating it from the next turn is the template's, not written
            piece = upto[len(before):].rstrip()
            at = text.find(piece, cursor) if piece else -1
            if piece and at < 0:
                raise ExampleRejected(
                    f"{self.origin}: the text of assistant message {i + 1} does not appear in the rendered "
                    f"conversation as it does alone; add {{% generation %}} blocks around the assistant text")
            if at >= 0:
                if trained[i]:
                    spans.append((at, at + len(piece)))
                cursor = at + len(piece)
        return spans
