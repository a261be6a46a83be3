"""Parameters of the `tokens` stage (batch): exact token counts, the per-example limit, the cost estimate.

Whether `model` (with `encoding`, `max_tokens`) resolves in the model table is checked when the config
loads (pipeline/config_loader.py), after this model validates.
"""

from typing import ClassVar, Literal

from pydantic import Field

from schemas.base import MOVED_TO_EXECUTION_WORKERS, StrictModel


class TokensParams(StrictModel):
    REMOVED_KEYS: ClassVar[dict[str, str]] = {"workers": MOVED_TO_EXECUTION_WORKERS, "parallel_min_examples": MOVED_TO_EXECUTION_WORKERS}
    name: Literal["tokens"]
    model: str | None = Field(None, description="older place of target.model (an openai model: a base name, a dated "
                              "snapshot or an ft:... model); prefer `target: {provider, model}`")
    encoding: Literal["o200k_base", "cl100k_base"] | None = Field(
        None, description="tiktoken encoding; default: the one of the model's family")
    max_tokens: int | None = Field(None, ge=16, description="per-example limit; default: the model table's")
    on_overflow: Literal["drop", "truncate", "keep"] = Field(
        "drop", description="examples over the limit: drop them; truncate (drop the oldest turns after the "
                            "system prompt until it fits); keep (flag them; OpenAI truncates them in training)")
    price_per_million_training_tokens: float | None = Field(
        None, ge=0, description="USD per 1M training tokens; default: the model table's price")
    n_epochs: int | None = Field(None, ge=1, le=50,
                                 description="epochs for the cost estimate; default: OpenAI's auto rule")

