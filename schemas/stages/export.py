"""Parameters of the `export` stage: how the final JSONL lines are written."""

from typing import Literal

from pydantic import Field

from schemas.base import StrictModel


class ExportParams(StrictModel):
    name: Literal["export"]
    ensure_ascii: bool = Field(False, description="escape non-ASCII as \\uXXXX (both are valid JSON)")
    shuffle: bool = Field(False, description="shuffle line order (seeded by split.seed); default: source order")
