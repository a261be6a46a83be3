"""Which tokenizer a destination counts an open-weights base model with.

The model's own tokenizer and chat template ("open:<family>", exact) where chatprep ships that family offline
(pipeline/chat/open_models, e.g. gpt-oss), otherwise an estimate with tiktoken's o200k_base and OpenAI's counting
rules ("estimate:o200k_base"), which every place that shows the counts labels as an estimate. A destination's
model table asks `tokenizer_for(family)`, so a family that becomes available offline is counted exactly without
touching the destination.
"""

from __future__ import annotations

from functools import cache

ESTIMATE = "estimate:o200k_base"


@cache
def open_families() -> frozenset[str]:
    """The open-model families whose tokenizer and template chatprep can load offline (none without open_models)."""
    try:
        from pipeline.chat.open_models import KNOWN_FAMILIES
    except ModuleNotFoundError as e:
        if e.name != "pipeline.chat.open_models":
            raise  # open_models is there but a package it needs is not: a setup problem, not a fallback
        return frozenset()
    return frozenset(KNOWN_FAMILIES)


def tokenizer_for(family: str | None) -> str:
    """"open:<family>" when that family counts exactly offline, else the o200k_base estimate."""
    return f"open:{family}" if family and family in open_families() else ESTIMATE


def offline_text(family: str) -> str:
    """For a destination's TOKENIZER_NOTE: `family`, and whether its exact counter is installed yet."""
    return family if tokenizer_for(family) != ESTIMATE else f"{family}, once pipeline/chat/open_models is installed"
