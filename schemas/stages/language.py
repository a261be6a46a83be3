"""Parameters of the `language` stage (batch): detected language of each side, allowed list, reply check."""

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from schemas.base import StrictModel
from schemas.stages.language_codes import (
    DEFAULT_FOLD,
    PY3LANGID_CODES,
    PY3LANGID_OTHER_CODES,
    canonical,
    detectable,
)

__all__ = ["PY3LANGID_CODES", "LanguageParams", "MixedPolicy"]
DOCS = "README.md (the language stage) and docs/layouts.md"
# lingua's candidates as the second opinion: the 15 languages bench/bench_language.py measures and the other
# common ones lingua knows (its 75 high-accuracy models all loaded take ~1 GB); `allowed`, `reply_language`
# and `mixed.languages` are added to them
SECOND_OPINION_LANGUAGES = ("ar", "bg", "cs", "da", "de", "el", "en", "es", "fi", "fr", "he", "hi", "hr", "hu",
                            "id", "it", "ja", "ko", "ms", "nb", "nl", "pl", "pt", "ro", "ru", "sv", "th", "tr",
                            "uk", "vi", "zh")
LINGUA_PACKAGE = "lingua-language-detector==2.1.1"


def _code(value: str, key: str, fold: dict[str, list[str]] | None = None) -> str:
    """A code as the stage spells it (ISO 639-1 when it has one); a folded variety as its group."""
    code = canonical(value)
    if code is None or not detectable(code, fold or {}):
        raise ValueError(
            f"{key}: {value!r} is not an ISO 639-1 code (two letters, e.g. en, de, zh), an ISO 639-3 code a "
            f"backend can report (e.g. yue, wuu) nor a group of `fold`; see {DOCS}. `languages:` lists the "
            "candidates py3langid chooses among")
    return next((group for group, members in (fold or {}).items() if code in members), code)


class MixedPolicy(StrictModel):
    languages: list[str] = Field(
        ["en"], description="a side whose sentences are in one of these and in another language is code-mixed: "
        "it counts as each language its sentences are confidently in (Hinglish chats: user text in Hindi and "
        "English, assistant in English)")
    min_letters: int = Field(12, ge=1, description="sentences with fewer letters are not judged on their own")

    @field_validator("languages")
    @classmethod
    def _languages(cls, v):
        if not v:
            raise ValueError("mixed.languages: an empty list mixes nothing; use `mixed: null` to turn it off")
        return [_code(c, "mixed.languages") for c in v]


class LanguageParams(StrictModel):
    name: Literal["language"]
    backend: Literal["py3langid", "langdetect"] = Field(
        "py3langid", description="py3langid (fast, see bench/bench_language.py) or langdetect (seeded)")
    fold: dict[str, list[str]] = Field(
        DEFAULT_FOLD, description="group code -> varieties detected as that group (their probabilities summed): "
        "by default the members of the macro-languages zh, ar and ms; {} = no folding")
    allowed: list[str] | None = Field(
        None, description="ISO 639-1 / 639-3 codes or `fold` groups a user or assistant side may be in "
        "(null = every language); a folded variety means its group (yue -> zh)")
    margin: float = Field(
        0.5, ge=0.0, le=1.0, description="a side fails `allowed` or `reply_language` only when its language "
        "beats every accepted one by this much probability (close pairs such as id/ms are kept apart only "
        "when the detector is that sure): bench/bench_language.py; 0 = the top language alone decides")
    mixed: MixedPolicy | None = Field(
        MixedPolicy(), description="code-mixed sides (see MixedPolicy); null = a side is its top language only")
    action: Literal["drop", "flag"] = Field("drop", description="for language_not_allowed")
    reply_language: str | None = Field(
        None, description="'same' = the assistant answers in the user's language; a code such as 'de' = the "
        "assistant always answers in that language; null = no check")
    reply_action: Literal["drop", "flag"] = Field("drop", description="for reply_language_mismatch")
    min_confidence: float = Field(
        0.5, ge=0.0, le=1.0, description="below this the detection is language_uncertain and no check applies")
    uncertain_action: Literal["keep", "flag", "drop"] = Field("flag", description="for language_uncertain")
    second_opinion: Literal["lingua"] | None = Field(
        None, description="'lingua' = a side py3langid is uncertain about (below min_confidence) is detected "
        "again by lingua (high-accuracy mode, SECOND_OPINION_LANGUAGES plus the configured codes), whose answer "
        "then counts; needs lingua-language-detector installed (bench/bench_language.py: 85 % vs 65 % right on "
        "the texts py3langid is unsure of); null = off")
    languages: list[str] | Literal["all"] | None = Field(
        None, description="py3langid only: the candidate languages (codes it knows); null = every class is "
        "scored but the answer is the best of its languages with an ISO 639-1 code and the folded varieties "
        "(never pcm, vec, ...: schemas/stages/language_codes.py); 'all' = any class. A list: the model chooses "
        "among those only (~1.4x faster), and a text in a language left out is reported as the nearest "
        "listed one (and may pass `allowed`): see bench/bench_language.py")
    sample_chars: int = Field(200, ge=20, description="characters of each side's text that are detected "
                              "(accuracy on real dialogues is flat from ~150: bench/bench_language.py)")
    min_letters: int = Field(20, ge=1, description="sides with fewer letters are too short to detect (skipped)")
    disk_cache: bool = Field(True, description="remember detections in <cache.dir>/language_detections.sqlite")
    samples_per_language: int = Field(3, ge=0, le=20, description="text snippets kept per language for the report")

    @field_validator("fold")
    @classmethod
    def _fold(cls, v):
        out: dict[str, list[str]] = {}
        for group, members in v.items():
            code = _code(group, "fold")
            out[code] = [_code(m, f"fold.{group}") for m in members]
            if code in out[code]:
                raise ValueError(f"fold.{group}: a group cannot list itself")
        seen = [m for members in out.values() for m in members]
        twice = sorted({m for m in seen if seen.count(m) > 1} | (set(seen) & set(out)))
        if twice:
            raise ValueError(f"fold: {', '.join(twice)} would fold into two groups (or is a group and a member)")
        return out

    @field_validator("allowed")
    @classmethod
    def _allowed(cls, v, info: ValidationInfo):
        if v is None:
            return v
        if not v:
            raise ValueError("allowed: an empty list would drop everything; use null to allow every language")
        return list(dict.fromkeys(_code(c, "allowed", info.data.get("fold")) for c in v))

    @field_validator("languages")
    @classmethod
    def _languages(cls, v):
        if v is None or v == "all":
            return v
        if not v:
            raise ValueError("languages: an empty list leaves nothing to detect; use null for the default set")
        codes = [canonical(c) or c for c in v]
        unknown = [c for c in codes if c not in PY3LANGID_CODES | PY3LANGID_OTHER_CODES]
        if unknown:
            raise ValueError(f"languages: py3langid does not know {', '.join(map(repr, unknown))} "
                             f"(its codes: schemas/stages/language_codes.py)")
        return codes

    @model_validator(mode="after")
    def _languages_need_py3langid(self):
        if self.languages and self.backend != "py3langid":
            raise ValueError(f"languages: only the py3langid backend can restrict its candidates, not {self.backend}")
        return self

    @field_validator("reply_language")
    @classmethod
    def _reply(cls, v, info: ValidationInfo):
        return v if v in (None, "same") else _code(v, "reply_language", info.data.get("fold"))

    @model_validator(mode="after")
    def _second_opinion_installed(self):
        if self.second_opinion is None:
            return self
        try:
            from lingua import Language
        except ImportError:
            raise ValueError(f"second_opinion: lingua is not installed; pip install '{LINGUA_PACKAGE}' (it is in "
                             "chatprep's dev extra) or set second_opinion: null") from None
        known = {lang.iso_code_639_1.name.lower() for lang in Language.all()}
        unknown = sorted(set(self.second_opinion_languages) - known)
        if unknown:
            raise ValueError(f"second_opinion: lingua cannot detect {', '.join(unknown)} (from allowed, "
                             "reply_language or mixed.languages); set second_opinion: null")
        return self

    @property
    def second_opinion_languages(self) -> list[str]:
        """lingua's candidates: SECOND_OPINION_LANGUAGES and the codes the checks accept."""
        configured = [*(self.allowed or []), *([self.reply_language] if self.reply_language not in (None, "same")
                                               else []), *(self.mixed.languages if self.mixed else [])]
        return sorted(set(SECOND_OPINION_LANGUAGES) | set(configured))
