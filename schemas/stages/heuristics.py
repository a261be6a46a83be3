"""Parameters of the `heuristics` stage (batch): chat-specific quality filters, each switched off by null."""

from typing import Literal

from pydantic import Field, model_validator

from schemas.base import StrictModel

# AI-identity boilerplate that marks distilled or low-quality replies. Deliberately not generic apologies
# ("I'm sorry, but I cannot ...") which are often correct support answers; add those yourself if wanted.
DEFAULT_REFUSAL_PHRASES = (
    "as an ai language model",
    "as a large language model",
    "as an ai model",
    "i am an ai language model",
    "i'm an ai language model",
    "i'm just an ai",
    "i am just an ai",
    "my knowledge cutoff",
    "as of my last knowledge update",
    "as of my last training data",
    "i cannot browse the internet",
)

# Complete answers to a closed question ("Is it open on Sunday?" -> "No."), kept by short_reply when they follow
# a user message ending in a question mark. Yes/no words of the languages the language stage is measured on;
# acknowledgements ("ok", "好") are left out: after "Can I change my plan?" an "ok" is no answer.
DEFAULT_CLOSED_ANSWERS = (
    "yes", "no", "yep", "nope", "yeah", "nah", "ja", "nein", "oui", "non", "si", "sí", "sì", "sim", "não",
    "да", "нет", "是", "不", "否", "对", "不是", "没有", "はい", "いいえ", "네", "예", "아니요", "ya", "tidak",
    "có", "không", "ใช่", "ไม่", "نعم", "لا", "हाँ", "हां", "नहीं", "tak", "nie", "evet", "hayır",
)


class HeuristicsParams(StrictModel):
    name: Literal["heuristics"]
    action: Literal["drop", "flag"] = Field(
        "drop", description="drop the example, or keep it with a 'heuristics:<reason>' flag")
    min_assistant_chars: int | None = Field(
        3, ge=1, description="short_reply: fewer letters/digits than this in an assistant reply (null = off)")
    closed_answers: list[str] = Field(
        list(DEFAULT_CLOSED_ANSWERS), description="short_reply: these replies (case, punctuation and space "
        "ignored) pass when the user message before them ends in a question mark ([] = none)")
    short_reply_scope: Literal["last", "every"] = Field(
        "last", description="measure the last assistant message only (mid-chat 'Okay.' is natural) or every one")
    echo_reply: bool = Field(True, description="echo_reply: an assistant reply equal to the user message before it")
    echo_min_chars: int = Field(
        20, ge=0, description="echoes shorter than this (after normalising) are ignored: 'Hello' -> 'Hello' is fine")
    refusal_phrases: list[str] = Field(
        list(DEFAULT_REFUSAL_PHRASES), description="refusal_boilerplate: case-insensitive phrases in assistant text "
        "([] = off)")
    max_duplicate_trigram_fraction: float | None = Field(
        0.5, gt=0, lt=1, description="repetitive_reply: share of word 3-grams that repeat an earlier one (null = off)")
    repetition_min_words: int = Field(30, ge=3, description="replies with fewer words skip the 3-gram check")
    max_line_repeats: int | None = Field(
        5, ge=2, description="repetitive_reply: the same non-trivial line this many times or more (null = off)")
    min_length_ratio: float | None = Field(
        None, gt=0, description="length_ratio: assistant chars / user chars below this (null = off)")
    max_length_ratio: float | None = Field(
        None, gt=0, description="length_ratio: assistant chars / user chars above this (null = off)")
    ratio_min_user_chars: int = Field(20, ge=1, description="skip the ratio when the user side is shorter than this")
    max_turns: int | None = Field(
        None, ge=1, description="too_many_turns: more user + assistant messages than this (null = off)")
    samples_per_reason: int = Field(5, ge=0, le=20, description="examples kept in the facts for the report")

    @model_validator(mode="after")
    def _check(self) -> "HeuristicsParams":
        if self.min_length_ratio and self.max_length_ratio and self.min_length_ratio >= self.max_length_ratio:
            raise ValueError(f"min_length_ratio ({self.min_length_ratio}) must be below max_length_ratio "
                             f"({self.max_length_ratio})")
        if any(not p.strip() for p in self.refusal_phrases):
            raise ValueError("refusal_phrases: empty phrases would match every reply; remove them")
        return self
