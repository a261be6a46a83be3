"""Parameters of the `language` stage (batch): detected language of each side, allowed list, reply check."""

import re
from typing import Literal

from pydantic import Field, field_validator

from schemas.base import StrictModel

_CODE = re.compile(r"^[a-z]{2}$")


def _code(value: str, key: str) -> str:
    code = value.strip().lower()
    if not _CODE.match(code):
        raise ValueError(f"{key}: {value!r} is not an ISO 639-1 code (two letters, e.g. en, de, es)")
    return code


class LanguageParams(StrictModel):
    name: Literal["language"]
    backend: Literal["py3langid", "langdetect"] = Field(
        "py3langid", description="py3langid (fast, see bench/bench_language.py) or langdetect (seeded)")
    allowed: list[str] | None = Field(
        None, description="ISO 639-1 codes a user or assistant side may be in (null = every language)")
    action: Literal["drop", "flag"] = Field("drop", description="for language_not_allowed")
    reply_language: str | None = Field(
        None, description="'same' = the assistant answers in the user's language; a code such as 'de' = the "
        "assistant always answers in that language; null = no check")
    reply_action: Literal["drop", "flag"] = Field("drop", description="for reply_language_mismatch")
    min_confidence: float = Field(
        0.5, ge=0.0, le=1.0, description="below this the detection is language_uncertain and no check applies")
    uncertain_action: Literal["keep", "flag", "drop"] = Field("flag", description="for language_uncertain")
    sample_chars: int = Field(500, ge=20, description="characters of each side's text that are detected")
    min_letters: int = Field(20, ge=1, description="sides with fewer letters are too short to detect (skipped)")
    disk_cache: bool = Field(True, description="remember detections in <cache.dir>/language_detections.sqlite")
    samples_per_language: int = Field(3, ge=0, le=20, description="text snippets kept per language for the report")

    @field_validator("allowed")
    @classmethod
    def _allowed(cls, v):
        if v is None:
            return v
        if not v:
            raise ValueError("allowed: an empty list would drop everything; use null to allow every language")
        return [_code(c, "allowed") for c in v]

    @field_validator("reply_language")
    @classmethod
    def _reply(cls, v):
        return v if v in (None, "same") else _code(v, "reply_language")
