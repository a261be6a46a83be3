"""Where the prepared data will be trained: `target:` (one destination) or `targets:` (several, each written
into out/<provider>-<model>/ with one shared report).

Which providers and models exist is checked when the config loads (pipeline/config_loader.py, against the
destination modules in pipeline/targets/), so that adding a destination is adding a file there.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field

from schemas.base import StrictModel


class TargetConfig(StrictModel):
    provider: str = Field("openai", description="openai | azure-openai | fireworks | together | vertex-gemini | "
                          "bedrock-nova | hf (`chatprep targets` lists them with their models)")
    model: str | None = Field(None, description="the model you will fine-tune; default: the provider's default")
    lossy: Literal["reject", "drop_feature", "warn"] = Field(
        "reject", description="an example using a feature the destination cannot take (weight-0 turns, tools, "
        "message names, images): reject it (reason lossy_<feature>), drop the feature (counted), or drop it and warn")
    file_format: Literal["jsonl", "parquet"] = Field(
        "jsonl", description="jsonl, what every destination here reads chat rows from (Together's Parquet is "
        "pre-tokenized data; TRL/axolotl/LLaMA-Factory read JSONL with per-row tool schemas Parquet cannot hold); "
        "parquet is refused with that reason")
    max_tokens: int | None = Field(None, ge=16, description="per-example limit; default: the destination's table")
    price_per_million_training_tokens: float | None = Field(
        None, ge=0, description="USD per 1M training tokens; default: the destination's price table (null where "
        "not published)")
    tokenizer: str | None = Field(
        None, description="hf, together, fireworks: a tokenizer.json file or a local model folder (tokenizer.json + "
        "tokenizer_config.json with its chat_template)")
    chat_template: str | None = Field(None, description="hf: a jinja chat template file (with `tokenizer`)")

    def folder(self, model: str) -> str:
        """The sub-folder of the output folder this target writes to when several are configured."""
        return re.sub(r"[^A-Za-z0-9._-]+", "_", f"{self.provider}-{model}")
