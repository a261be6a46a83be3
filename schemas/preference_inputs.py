"""Config of preference (DPO) inputs: rows that give a prompt, a preferred and a non-preferred reply.

Three layouts (docs/preference-design.md, 4): `preference` (explicit chosen / rejected columns),
`preference_ratings` (several rated replies to one prompt, paired by score) and `preference_edits` (a model
draft and the reply actually sent). `schemas.config.InputConfig` includes them; the config loader refuses a
preference run whose stages or targets do not handle both replies yet (pipeline/config_loader.py).
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, field_validator, model_validator

from schemas.base import StrictModel
from schemas.inputs import InputBase


class PromptColumns(StrictModel):
    """Where the prompt is: `messages` (a conversation, native or JSON, OpenAI `role`/`content` or ShareGPT
    `from`/`value`) or `prompt` (a plain user text), with an optional `system` column and `tools`."""

    messages: str | None = Field(None, description="the prompt conversation: a list of messages ending on a "
                                                   "user turn (native or JSON text)")
    prompt: str | None = Field(None, description="instead of messages: a plain user prompt text")
    system: str | None = Field(None, description="optional system prompt column (a text)")
    tools: str | None = Field(None, description="column with a tools list (OpenAI format), JSON or native")
    role_key: str = Field("role", description="key of the speaker in each message ('from' for ShareGPT)")
    content_key: str = Field("content", description="key of the text in each message ('value' for ShareGPT)")
    part_text_key: str = Field("text", description="key of the text in a content part of type text "
                                                   "('value' in LLaMA-Factory v1 files)")

    def _one_prompt(self, alternative: str = "") -> None:
        if bool(self.messages) == bool(self.prompt):
            raise ValueError("set columns.messages (a prompt conversation) or columns.prompt (a prompt text), "
                             f"exactly one of them{alternative}")

    def _required(self, **what: str) -> None:
        """Each key of `what` must be set; its value says what the column holds."""
        missing = [f"columns.{k} ({v})" for k, v in what.items() if not getattr(self, k)]
        if missing:
            raise ValueError(f"set {' and '.join(missing)}")


class PreferenceColumns(PromptColumns):
    """The prompt (see PromptColumns) and both replies, or two whole conversations `chosen_messages` /
    `rejected_messages` (LLaMA-Factory v1) whose common start is the prompt."""

    chosen: str | None = Field(None, description="the preferred reply: a text, or a message object with "
                                                 "role_key/content_key")
    rejected: str | None = Field(None, description="the non-preferred reply: a text or a message object")
    chosen_messages: str | None = Field(None, description="instead of a prompt and chosen: the whole preferred "
                                                          "conversation; the prompt is what it shares with "
                                                          "rejected_messages")
    rejected_messages: str | None = Field(None, description="the whole non-preferred conversation")
    id: str | None = Field(None, description="names the pair in rejects and provenance; the split groups by "
                                             "prompt whatever the id")

    @model_validator(mode="after")
    def _one_prompt_shape(self) -> PreferenceColumns:
        whole = (self.chosen_messages, self.rejected_messages)
        if any(whole):
            if not all(whole):
                raise ValueError("set both columns.chosen_messages and columns.rejected_messages (two whole "
                                 "conversations that share their prompt)")
            if self.messages or self.prompt or self.chosen or self.rejected:
                raise ValueError("columns.chosen_messages / rejected_messages hold the prompt and both replies; "
                                 "leave out messages, prompt, chosen and rejected")
            return self
        self._one_prompt(", or chosen_messages + rejected_messages")
        self._required(chosen="the preferred reply", rejected="the non-preferred reply")
        return self


class RatingsColumns(PromptColumns):
    """One row = one reply to a prompt and its score (or thumb)."""

    prompt_id: str | None = Field(None, description="groups the replies of one prompt; default: rows with the "
                                                    "same prompt (messages or text, system, tools) form a group")
    reply: str | None = Field(None, description="the rated reply: a text, or a message object with "
                                                "role_key/content_key")
    score: str | None = Field(None, description="the reply's score: a number, or a label mapped by `scores`")

    @model_validator(mode="after")
    def _shape(self) -> RatingsColumns:
        self._one_prompt()
        self._required(reply="the rated reply", score="its score or thumb")
        return self


class EditsColumns(PromptColumns):
    """One row = a model's draft and the reply actually sent (the sent one is preferred)."""

    draft: str | None = Field(None, description="the model's draft (the rejected side): a text or a message "
                                                "object")
    final: str | None = Field(None, description="the reply actually sent after editing (the chosen side)")

    @model_validator(mode="after")
    def _shape(self) -> EditsColumns:
        self._one_prompt()
        self._required(draft="the model's draft", final="the reply actually sent")
        return self


class PreferenceInputBase(InputBase):
    extra_keys: Literal["drop", "keep", "reject"] = Field(
        "drop", description="message keys other than the role, the content and OpenAI's message keys: drop "
                            "(counted per key), keep, or reject the row (extra_message_key)")


class PreferenceInput(PreferenceInputBase):
    """One row = one pair: a prompt, a preferred reply and a non-preferred reply."""

    layout: Literal["preference"]
    columns: PreferenceColumns


class RatingsInput(PreferenceInputBase):
    """Several rows per prompt, each one reply with a score; pairs are made from the score differences."""

    layout: Literal["preference_ratings"]
    columns: RatingsColumns
    scores: dict[str, float] | None = Field(
        None, description="score label -> number, e.g. {'👍': 1, '👎': 0} (matched case-insensitively after "
                          "trimming); a cell that is no label is read as a number")
    pairs: Literal["best_vs_worst", "all"] = Field(
        "best_vs_worst", description="best_vs_worst: one pair per prompt, its best against its worst reply; "
                                     "all: every better/worse pair")
    min_margin: float = Field(0, ge=0, description="pairs whose score difference is smaller are not made "
                                                   "(a tie never makes a pair)")
    max_pairs_per_prompt: int | None = Field(
        None, ge=1, description="pairs: all — at most this many pairs per prompt, the largest score differences "
                                "first, ties by row order")

    @field_validator("scores", mode="before")
    @classmethod
    def _labels_as_text(cls, v):
        """YAML reads `{1: 5, true: 1}` with number and boolean keys; labels are compared as text."""
        if isinstance(v, dict):
            return {(str(k).lower() if isinstance(k, bool) else str(k)): s for k, s in v.items()}
        return v

    @field_validator("scores")
    @classmethod
    def _finite_scores(cls, v: dict[str, float] | None) -> dict[str, float] | None:
        if v is None:
            return v
        bad = [k for k, s in v.items() if not math.isfinite(s)]
        if bad:
            raise ValueError(f"the score of label {bad[0]!r} is not a finite number; give each label a number")
        folded = [k.strip().casefold() for k in v]
        clash = next((k for k in v if folded.count(k.strip().casefold()) > 1), None)
        if clash is not None:
            raise ValueError(f"label {clash!r} appears twice (labels are matched case-insensitively after "
                             "trimming); keep one of them")
        return v

    @model_validator(mode="after")
    def _cap_needs_all(self) -> RatingsInput:
        if self.max_pairs_per_prompt is not None and self.pairs != "all":
            raise ValueError("max_pairs_per_prompt caps `pairs: all`; best_vs_worst makes one pair per prompt, "
                             "so set pairs: all or remove max_pairs_per_prompt")
        return self


class EditsInput(PreferenceInputBase):
    """One row = one pair: the sent reply preferred over the model's draft."""

    layout: Literal["preference_edits"]
    columns: EditsColumns
    min_edit: float = Field(0, ge=0, le=1, description="pairs whose draft and sent reply differ by less than this "
                                                       "share of characters (normalized edit distance) are "
                                                       "rejected as trivial_edit; 0 keeps every edited draft")
