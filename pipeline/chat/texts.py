"""The text of a chat message, as the stages that read text see it."""

from __future__ import annotations


def message_text(message: dict) -> str:
    """The text content of a message: a string, the text parts of a list, or '' (null / tool calls)."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""
