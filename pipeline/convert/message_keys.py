"""Which keys of a raw message reach the example (`conversations` layout, option `extra_keys`).

A raw message is mapped to `role` (from `role_key`, through `roles`) and `content` (from `content_key`).
Its other keys are either OpenAI chat-format message keys (name, tool_calls, tool_call_id, weight,
refusal, function_call), which are kept, or extra keys (annotations, dialog_act, index, ...), which
`extra_keys` decides: `drop` (the default; the caller counts them per key), `keep` (passed through
unchanged), or `reject` (the caller rejects the row as `extra_message_key`). A key whose value is null
counts as absent (a Parquet list of structs has every key of every message, null where missing).
"""

from __future__ import annotations

from schemas.chat import MESSAGE_MODELS

CHAT_KEYS = frozenset(k for model in MESSAGE_MODELS.values() for k in model.model_fields) - {"role", "content"}


def map_message(msg: dict, role: str, role_key: str, content_key: str, extra_keys: str) -> tuple[dict, list[str]]:
    """The OpenAI message of a raw one, and the extra keys it held (dropped unless `extra_keys` is keep)."""
    out = {"role": role}
    if content_key in msg:  # an assistant tool call may have no content key at all: keep it so
        out["content"] = msg[content_key]
    rest = {k: v for k, v in msg.items() if k not in (role_key, content_key) and v is not None}
    extra = [k for k in rest if k not in CHAT_KEYS]
    if extra_keys == "keep":
        out.update(rest)
    else:
        out.update({k: v for k, v in rest.items() if k in CHAT_KEYS})
    return out, extra


def extra_key_detail(where: str, key: str) -> str:
    return (f"{where}: key {key!r} is not a chat message key (kept: role, content, {', '.join(sorted(CHAT_KEYS))}); "
            f"set extra_keys: drop to drop such keys, or keep to pass them through")
