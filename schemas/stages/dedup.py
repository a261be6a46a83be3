"""Parameters of the `dedup` stage (global): exact, prompt-side and MinHash-LSH near-duplicates."""

import re
from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from schemas.base import MOVED_TO_EXECUTION_WORKERS, StrictModel

KEEP_POLICY = re.compile(r"^(first|longest|meta:\S+)$")


class DedupParams(StrictModel):
    REMOVED_KEYS: ClassVar[dict[str, str]] = {"workers": MOVED_TO_EXECUTION_WORKERS}
    name: Literal["dedup"]
    exact: bool = Field(True, description="drop conversations equal after casefolding and collapsing whitespace")
    exact_prompt: bool = Field(False, description="also drop examples whose prompt side (all messages before the "
                                                  "last assistant reply) equals another's: one question, many answers")
    near: bool = Field(True, description="drop near-duplicates found with MinHash LSH")
    threshold: float = Field(0.8, gt=0.0, le=1.0, description="Jaccard similarity of word shingles at which two "
                                                              "examples are near-duplicates")
    shingle_size: int = Field(3, ge=1, le=20, description="words per shingle; texts shorter than this form one shingle")
    num_perm: int = Field(128, ge=16, le=1024, description="MinHash permutations (signature length)")
    bands: int | None = Field(None, ge=1, description="LSH bands; default: chosen so recall at the threshold is >= 0.995")
    rows: int | None = Field(None, ge=1, description="signature values per band (set together with bands)")
    seed: int = Field(1, ge=0, description="seed of datasketch's MinHash permutations")
    verify: Literal["exact", "estimate"] = Field(
        "exact", description="exact: check LSH candidates with the exact Jaccard of their shingle sets; "
                             "estimate: accept the MinHash estimate (faster, +-0.035 at 0.8 with 128 permutations)")
    include_system: bool = Field(False, description="count system messages in near-duplicate similarity (a shared "
                                                    "system prompt makes unrelated examples look alike)")
    keep: str = Field("first", description="which member of a duplicate cluster survives: first | longest | "
                                           "meta:<column> (highest value wins; ties and missing values: first)")
    action: Literal["drop", "group"] = Field(
        "drop", description="drop: keep one example per cluster; group: keep all and give each cluster one split "
                            "group so it lands wholly in train or in validation")
    bucket_limit: int = Field(200, ge=1, description="in an LSH bucket, compare each example with at most this "
                                                     "many earlier members (bounds work on huge templated buckets)")

    @field_validator("keep")
    @classmethod
    def _keep(cls, v: str) -> str:
        if not KEEP_POLICY.match(v):
            raise ValueError(f"must be 'first', 'longest' or 'meta:<column>' (higher is better), got {v!r}")
        return v

    @model_validator(mode="after")
    def _banding(self) -> "DedupParams":
        if (self.bands is None) != (self.rows is None):
            raise ValueError("set both bands and rows, or neither (then they are chosen from threshold and num_perm)")
        if self.bands is not None and self.bands * self.rows > self.num_perm:
            raise ValueError(f"bands x rows = {self.bands * self.rows} exceeds num_perm = {self.num_perm}")
        if not (self.exact or self.exact_prompt or self.near):
            raise ValueError("exact, exact_prompt and near are all false: nothing to do (remove the stage instead)")
        return self
