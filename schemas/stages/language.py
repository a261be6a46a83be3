"""Parameters of the `language` stage (batch): detected language of each side, allowed list, reply check."""

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from schemas.base import StrictModel

_CODE = re.compile(r"^[a-z]{2}$")
# py3langid 0.4's two-letter language codes (tests/test_batched_langid.py checks them against its model)
_PY3LANGID_CODES_TEXT = (
    "af am an ar as az ba be bg bn br bs ca cs cy da de dz el en eo es et eu fa fi fo fr fy ga gd gl gu ha he "
    "hi hr ht hu hy id ig is it ja jv ka kk km kn ko ku ky la lb lg ln lo lt lv mg mk ml mn mr ms mt my ne nl nn "
    "no oc om or pa pl ps pt qu ro ru rw sa se si sk sl sn so sq sr st sv sw ta te tg th tk tl tr tt ug uk ur uz "
    "vi vo wa xh yo zh zu")
PY3LANGID_CODES = frozenset(_PY3LANGID_CODES_TEXT.split())


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
    languages: list[str] | None = Field(
        None, description="py3langid only: the candidate languages (ISO 639-1 codes it knows); null = all of "
        "them. Fewer candidates detect ~1.4x faster, but a text in a language left out is reported as the "
        "nearest listed one (and may pass `allowed`): see bench/bench_language.py")
    sample_chars: int = Field(200, ge=20, description="characters of each side's text that are detected "
                              "(accuracy on real dialogues is flat from ~150: bench/bench_language.py)")
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

    @field_validator("languages")
    @classmethod
    def _languages(cls, v):
        if v is None:
            return v
        if not v:
            raise ValueError("languages: an empty list leaves nothing to detect; use null for every language")
        codes = [_code(c, "languages") for c in v]
        unknown = [c for c in codes if c not in PY3LANGID_CODES]
        if unknown:
            raise ValueError(f"languages: py3langid does not know {', '.join(map(repr, unknown))}")
        return codes

    @model_validator(mode="after")
    def _languages_need_py3langid(self):
        if self.languages and self.backend != "py3langid":
            raise ValueError(f"languages: only the py3langid backend can restrict its candidates, not {self.backend}")
        return self

    @field_validator("reply_language")
    @classmethod
    def _reply(cls, v):
        return v if v in (None, "same") else _code(v, "reply_language")
