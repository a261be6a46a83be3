"""Turn an example's JSON text into a short, bounded list of messages to show (role + plain text).

Used by every section that shows an example: drop samples, duplicate clusters, flagged examples and the
sample viewer. The text is returned raw; the template (autoescape) or the script (textContent) escapes it.
"""

from __future__ import annotations

import json

from pipeline.chat.texts import text_slots


def _placeholder(part) -> str:
    """How a content part that is not a text slot is shown: a string part as is, an image, audio or file
    part as [image] / [audio] / [file], any other typed part as [its type] (so a refusal part is [refusal]),
    junk as its JSON; a text part whose text is not a string shows str() of it ('' when missing)."""
    if isinstance(part, str):
        return part
    if not isinstance(part, dict):
        return json.dumps(part, ensure_ascii=False)
    kind = part.get("type")
    if kind == "text":
        return str(part.get("text", ""))
    if kind == "image_url":
        return "[image]"
    if kind == "input_audio":
        return "[audio]"
    if kind == "file":
        return "[file]"
    return f"[{kind or 'part'}]"


def shown_text(message: dict) -> str:
    """All visible text of one message, for a reader: its content, each part in order (text slots as their
    text, chat.texts.text_slots without refusals; other parts as placeholders), then one line per
    tool/function call. Not what the stages read (chat.texts.message_text): this also shows what is not
    text. The message's `refusal` key is not shown."""
    content = message.get("content")
    if isinstance(content, list):
        texts = {slot.part: slot.get() for slot in text_slots(message, refusals=False)}
        text = "\n".join(texts[i] if i in texts else _placeholder(p) for i, p in enumerate(content))
    elif content is None:
        text = ""
    else:
        text = str(content)
    calls = []
    for call in message.get("tool_calls") or []:
        fn = (call or {}).get("function") or {}
        calls.append(f"→ {fn.get('name', '?')}({fn.get('arguments', '')})")
    fc = message.get("function_call")
    if isinstance(fc, dict):
        calls.append(f"→ {fc.get('name', '?')}({fc.get('arguments', '')})")
    return "\n".join([t for t in [text, *calls] if t])


def clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f" … [{len(text) - limit:,} more characters]"


def parse_example(example: str | None) -> dict | None:
    if not example:
        return None
    try:
        obj = json.loads(example)
    except (TypeError, ValueError):
        return None
    return obj if isinstance(obj, dict) else None


def preview(example: str | None, max_messages: int = 6, max_chars: int = 400) -> dict:
    """{"messages": [{"role", "text"}], "more": N hidden messages, "raw": text when not a chat object}."""
    obj = parse_example(example)
    if obj is None:
        return {"messages": [], "more": 0, "raw": clip(example or "", max_chars) if example else None}
    messages = obj.get("messages")
    if not isinstance(messages, list):
        return {"messages": [], "more": 0, "raw": clip(example, max_chars)}
    shown = []
    for m in messages[:max_messages]:
        if not isinstance(m, dict):
            shown.append({"role": "?", "text": clip(json.dumps(m, ensure_ascii=False), max_chars)})
            continue
        role = str(m.get("role", "?"))
        if m.get("name"):
            role = f"{role} ({m['name']})"
        shown.append({"role": role, "text": clip(shown_text(m), max_chars)})
    return {"messages": shown, "more": max(0, len(messages) - max_messages), "raw": None}


def role_class(role: str) -> str:
    """A CSS class for a role label (unknown roles share one class)."""
    base = role.split(" ", 1)[0]
    return base if base in ("system", "user", "assistant", "tool", "function", "developer") else "other"
