"""Token counts with a target's own tokenizer: tiktoken for OpenAI models (exact, pipeline/chat/token_counting.py),
the model's tokenizer and chat template for open-weights models (pipeline/chat/open_models), or an estimate
with o200k_base where the destination's tokenizer is not available offline (Gemini, Nova) — said everywhere
the counts are shown.

`count_texts` is pure and picklable: the unit of work of the tokens stage, in any worker process.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.chat.token_counting import capped, chat_object, count_batch

_OPEN: dict[tuple, object] = {}


class TemplateRejected(str):
    """Instead of a count: why the model's chat template cannot render the example (reason template_rejected)."""


def encoding_of(tokenizer: str) -> str | None:
    """The tiktoken encoding behind a `tiktoken:` or `estimate:` tokenizer; None for an open model's."""
    kind, _, name = tokenizer.partition(":")
    return name if kind in ("tiktoken", "estimate") else None


def open_spec(tokenizer: str, target_config) -> tuple:
    """The picklable spec of an open model's counter: (family, tokenizer file or folder, template file)."""
    family = tokenizer.partition(":")[2] or None
    return (None if family == "custom" else family, getattr(target_config, "tokenizer", None),
            getattr(target_config, "chat_template", None))


def open_counter(spec: tuple, cache: str):
    key = (spec, cache)
    if key not in _OPEN:
        from pipeline.chat.open_models import OpenModelSpec, load_counter

        family, tokenizer, template = spec
        path = Path(tokenizer) if tokenizer else None
        _OPEN[key] = load_counter(OpenModelSpec(
            family=family, tokenizer_file=str(path) if path and path.is_file() else None,
            model_dir=str(path) if path and path.is_dir() else None, chat_template=template), Path(cache))
    return _OPEN[key]


def count_texts(tokenizer: str, spec: tuple | None, cache: str, texts: list[str], limit: int | None):
    """(total, trained, n_messages, exact) per example JSON text, or None when it is not a chat object; `exact`
    False: counting stopped over `limit` (a lower bound). Whether the tokenizer is the destination's own or an
    estimate is the target's `exact_tokens`. Open-model counts are never capped (templates render it all)."""
    encoding = encoding_of(tokenizer)
    if encoding is not None:
        return count_batch(encoding, cache, texts, limit)
    from pipeline.chat.open_models import ExampleRejected

    counter = open_counter(spec, cache)
    out = []
    for text in texts:
        obj = chat_object(text)
        if obj is None:
            out.append(None)
            continue
        try:
            total, trained = counter.count(obj)
        except ExampleRejected as e:  # the model's chat template cannot render it: that target rejects it
            out.append(TemplateRejected(str(e)))
            continue
        out.append((total, trained, len(obj["messages"]), True))
    return out


__all__ = ["TemplateRejected", "capped", "count_texts", "encoding_of", "open_counter", "open_spec"]
