"""Which tokenizer a destination counts an open-weights base model with.

The model's own tokenizer and chat template ("open:<family>", exact) where chatprep ships that family offline
(pipeline/chat/open_models, e.g. gpt-oss), otherwise an estimate with tiktoken's o200k_base and OpenAI's counting
rules ("estimate:o200k_base"), which every place that shows the counts labels as an estimate. A destination's
model table asks `tokenizer_for(family)`, so a family added to open_models is counted exactly without touching
the destination.
"""

from __future__ import annotations

from pipeline.chat.open_models import KNOWN_FAMILIES

ESTIMATE = "estimate:o200k_base"


def tokenizer_for(family: str | None) -> str:
    """"open:<family>" when that family counts exactly offline, else the o200k_base estimate."""
    return f"open:{family}" if family in KNOWN_FAMILIES else ESTIMATE
