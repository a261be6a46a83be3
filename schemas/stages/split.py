"""Parameters of the `split` stage (global): deterministic, grouped, optionally stratified."""

from typing import Literal

from pydantic import Field

from schemas.base import StrictModel


class SplitParams(StrictModel):
    name: Literal["split"]
    validation_fraction: float = Field(0.1, ge=0.0, lt=1.0)
    validation_max: int | None = Field(None, ge=0, description="cap on validation examples")
    seed: int = 0
    group_by: Literal["conversation"] | str = Field(
        "conversation",
        description="'conversation' (examples from one source conversation share a split) or a meta.<column>",
    )
    stratify: str | None = Field(None, description="a meta.<column> to keep its proportions in both splits")
