"""Config of preference (DPO) inputs: rows that give a prompt, a preferred and a non-preferred reply.

Three layouts (docs/preference-design.md): `preference` (explicit chosen / rejected columns), and, later,
`preference_ratings` (several rated replies to one prompt) and `preference_edits` (a draft and the reply
actually sent). `schemas.config.InputConfig` includes them; the config loader refuses a preference run whose
stages or targets do not handle both replies yet (pipeline/config_loader.py).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from schemas.base import StrictModel
from schemas.inputs import InputBase


class PreferenceColumns(StrictModel):
    """Where the prompt and the two replies are. The prompt is one of: `messages` (a conversation, native or
    JSON, OpenAI `role`/`content` or ShareGPT `from`/`value`), `prompt` (a plain user text), or the common
    start of two whole conversations `chosen_messages` / `rejected_messages` (LLaMA-Factory v1)."""

    messages: str | None = Field(None, description="the prompt conversation: a list of messages ending on a "
                                                   "user turn (native or JSON text)")
    prompt: str | None = Field(None, description="instead of messages: a plain user prompt text")
    system: str | None = Field(None, description="optional system prompt column (a text)")
    chosen: str | None = Field(None, description="the preferred reply: a text, or a message object with "
                                                 "role_key/content_key")
    rejected: str | None = Field(None, description="the non-preferred reply: a text or a message object")
    chosen_messages: str | None = Field(None, description="instead of a prompt and chosen: the whole preferred "
                                                          "conversation; the prompt is what it shares with "
                                                          "rejected_messages")
    rejected_messages: str | None = Field(None, description="the whole non-preferred conversation")
    id: str | None = Field(None, description="names the pair in rejects and provenance; the split groups by "
                                             "prompt whatever the id")
    tools: str | None = Field(None, description="column with a tools list (OpenAI format), JSON or native")
    role_key: str = Field("role", description="key of the speaker in each message ('from' for ShareGPT)")
    content_key: str = Field("content", description="key of the text in each message ('value' for ShareGPT)")
    part_text_key: str = Field("text", description="key of the text in a content part of type text "
                                                   "('value' in LLaMA-Factory v1 files)")

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
        if bool(self.messages) == bool(self.prompt):
            raise ValueError("set columns.messages (a prompt conversation) or columns.prompt (a prompt text), "
                             "exactly one of them, or chosen_messages + rejected_messages")
        missing = [k for k in ("chosen", "rejected") if not getattr(self, k)]
        if missing:
            raise ValueError(f"set columns.{' and columns.'.join(missing)}: the column"
                             f"{'s' if len(missing) > 1 else ''} of the preferred and non-preferred replies")
        return self


class PreferenceInput(InputBase):
    """One row = one pair: a prompt, a preferred reply and a non-preferred reply."""

    layout: Literal["preference"]
    columns: PreferenceColumns
    extra_keys: Literal["drop", "keep", "reject"] = Field(
        "drop", description="message keys other than the role, the content and OpenAI's message keys: drop "
                            "(counted per key), keep, or reject the row (extra_message_key)")
