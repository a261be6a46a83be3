"""The text of a chat message, written once for every stage and report that reads or rewrites it.

A message's text lives in at most these places (its *text slots*), in this order:
  content               the `content` string
  content[i].text       the `text` string of a content part of type "text"
  content[i].refusal    the `refusal` string of a content part of type "refusal"  (refusals=True only)
  refusal               the assistant message's own `refusal` string              (refusals=True only)
Never text: roles, names, ids, tool-call names and arguments, tool definitions, image URLs, null content
(an assistant message with only tool calls has no slot), a `text` or `refusal` that is not a string, and
anything of a message that is not a JSON object. Image parts are counted by `image_parts`.

Who reads what:
  refusals=True   normalize (cleans) and validate (strips special tokens): every string the model is
                  trained on as message text, refusals included
  refusals=False  pii, moderation, heuristics, language and the report preview: what a message *says*,
                  its content text (these stages have always left refusals out; see their docstrings)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

IMAGE_PART_TYPES = ("image_url", "input_image", "image")


@dataclass(frozen=True, slots=True)
class TextSlot:
    """One text string of a message: holder[key], readable and writable in place."""

    holder: dict  # the message itself, or the content part holding the string
    key: str  # "content", "text" or "refusal"
    part: int | None = None  # index of the content part that is `holder`; None when holder is the message

    @property
    def label(self) -> str:
        """Where the string is in its message: 'content', 'content[2].text', 'content[0].refusal', 'refusal'."""
        return self.key if self.part is None else f"content[{self.part}].{self.key}"

    def get(self) -> str:
        return self.holder[self.key]

    def set(self, text: str) -> None:
        self.holder[self.key] = text


def text_slots(message, *, refusals: bool, malformed_parts: bool = False) -> Iterator[TextSlot]:
    """The text slots of a message, in order (see the module docstring); none for a non-dict message.

    refusals: include refusal parts and the message's `refusal` key (the stages that rewrite every trained
        string) or not (the stages that read what a message says).
    malformed_parts: also take the `text` (and with refusals the `refusal`) string of a content part whose
        type does not match the key, e.g. {"type": "image_url", "text": ...} or a part without a type.
        Only validate wants this: it strips special tokens before the schema has rejected such parts.
    """
    if not isinstance(message, dict):
        return
    content = message.get("content")
    if isinstance(content, str):
        yield TextSlot(message, "content")
    elif isinstance(content, list):
        keys = ("text", "refusal") if refusals else ("text",)
        for i, part in enumerate(content):
            if isinstance(part, dict):
                for key in keys:
                    if isinstance(part.get(key), str) and (malformed_parts or part.get("type") == key):
                        yield TextSlot(part, key, i)
    if refusals and isinstance(message.get("refusal"), str):
        yield TextSlot(message, "refusal")


def message_text(message) -> str:
    """What a message says: its text slots without refusals, joined by newlines; '' when it has none
    (null content with tool calls, image-only content, a non-dict message)."""
    return "\n".join(slot.get() for slot in text_slots(message, refusals=False))


def image_parts(message) -> int:
    """The image parts of a message's content (types in IMAGE_PART_TYPES): content no text reader sees."""
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, list):
        return 0
    return sum(1 for part in content if isinstance(part, dict) and part.get("type") in IMAGE_PART_TYPES)
