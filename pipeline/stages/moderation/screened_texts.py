"""Which texts of an example are screened: message contents (all roles, or only user and assistant),
each split into chunks. Image parts cannot be sent as text and are counted, not screened; tool-call
arguments are not screened."""

from __future__ import annotations

import json
from dataclasses import dataclass

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

    def where(self) -> str:
        """Human words for the place, e.g. 'message 3 (user)' or 'message 3 (user), characters 2001-4000'."""
        place = f"message {self.message} ({self.role})"
        return place if self.n_chunks == 1 else f"{place}, characters {self.start + 1}-{self.end}"


@dataclass
class ExampleTexts:
    texts: list[ScreenedText]
    images: int  # image parts seen (not screened)


def message_text(content) -> tuple[str, int]:
    """The text of a message content (a string or a list of parts) and its number of image parts."""
    if isinstance(content, str):
        return content, 0
    if not isinstance(content, list):
        return "", 0
    texts, images = [], 0
    for part in content:
        if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif isinstance(part, dict) and part.get("type") in ("image_url", "input_image", "image"):
            images += 1
    return "\n".join(texts), images


def example_texts(example: str, roles: frozenset[str] | None, limit: int, overlap: int) -> ExampleTexts:
    """The chunks to screen for one example (compact JSON); roles=None screens every message."""
    try:
        obj = json.loads(example)
    except (TypeError, ValueError):
        return ExampleTexts([], 0)
    messages = obj.get("messages") if isinstance(obj, dict) else None
    out: list[ScreenedText] = []
    images = 0
    for i, msg in enumerate(messages if isinstance(messages, list) else [], start=1):
        if not isinstance(msg, dict):
            continue
        role = str(msg.get("role", ""))
        if roles is not None and role not in roles:
            continue
        text, n_images = message_text(msg.get("content"))
        images += n_images
        if not text.strip():
            continue
        spans = chunk_spans(text, limit, overlap)
        out += [ScreenedText(i, role, k, len(spans), a, b, text[a:b]) for k, (a, b) in enumerate(spans)]
    return ExampleTexts(out, images)
