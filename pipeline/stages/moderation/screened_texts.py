"""Which texts of an example are screened: message contents (all roles, or only user and assistant),
each split into chunks. A message's text is chat.texts.message_text (refusals are not screened); image
parts cannot be sent as text and are counted (chat.texts.image_parts), not screened; tool-call arguments
are not screened. A preference pair's texts (pairs=True) are its prompt, its chosen reply (the chat's last
message) and its rejected reply, each text saying which side it is on (`side`)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from pipeline.chat import preference
from pipeline.chat.texts import image_parts, message_text
from pipeline.stages.moderation.chunking import chunk_spans

USER_AND_ASSISTANT = frozenset({"user", "assistant"})


@dataclass(frozen=True)
class ScreenedText:
    message: int  # 1-based position of the message in the example
    role: str
    chunk: int  # 0-based chunk number within the message
    n_chunks: int
    start: int  # character span of the chunk within the message text
    end: int
    text: str
    side: str = ""  # a pair's: "prompt", "chosen" or "rejected" (the rejected reply's `message` is one past the chat)

    def where(self) -> str:
        """Human words for the place, e.g. 'message 3 (user)' or 'message 3 (user), characters 2001-4000'; a
        pair's replies: 'the chosen reply (message 3)', 'the rejected reply'."""
        place = {"chosen": f"the chosen reply (message {self.message})",
                 "rejected": "the rejected reply"}.get(self.side, f"message {self.message} ({self.role})")
        return place if self.n_chunks == 1 else f"{place}, characters {self.start + 1}-{self.end}"


@dataclass
class ExampleTexts:
    texts: list[ScreenedText]
    images: int  # image parts seen (not screened)


def example_texts(example: str, roles: frozenset[str] | None, limit: int, overlap: int,
                  pairs: bool = False) -> ExampleTexts:
    """The chunks to screen for one example (compact JSON); roles=None screens every message; pairs: a
    preference pair, whose rejected reply is screened too."""
    try:
        obj = json.loads(example)
    except (TypeError, ValueError):
        return ExampleTexts([], 0)
    messages = obj.get("messages") if isinstance(obj, dict) else None
    messages = messages if isinstance(messages, list) else []
    sides = [""] * len(messages)
    if pairs and messages and preference.is_preference(obj) and "rejected" in obj[preference.KEY]:
        messages = [*messages, preference.rejected(obj)]
        sides = ["prompt"] * (len(messages) - 2) + ["chosen", "rejected"]
    out: list[ScreenedText] = []
    images = 0
    for i, (msg, side) in enumerate(zip(messages, sides, strict=True), start=1):
        if not isinstance(msg, dict):
            continue
        role = str(msg.get("role", ""))
        if roles is not None and role not in roles:
            continue
        text = message_text(msg)
        images += image_parts(msg)
        if not text.strip():
            continue
        spans = chunk_spans(text, limit, overlap)
        out += [ScreenedText(i, role, k, len(spans), a, b, text[a:b], side) for k, (a, b) in enumerate(spans)]
    return ExampleTexts(out, images)
