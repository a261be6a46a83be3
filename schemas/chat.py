"""OpenAI's supervised chat fine-tuning line (one training example), as strict pydantic models.

The single source of the format that `validate` enforces. Followed: the API reference "Training format
for chat models using the supervised method" (FineTuneChatRequestInput) and the vision fine-tuning guide.

- messages: system | user | assistant | tool | function (deprecated), discriminated by `role`.
  `developer` is a chat-completions role (o1 and newer) that the fine-tuning line format does not list,
  so it is rejected with a hint to use `system`.
- content: a string or a non-empty list of content parts: `text` parts everywhere; `image_url` parts in
  user messages only (http(s) or data URL of a JPEG/PNG/WEBP image, at most 10 MB, at most 10 images per
  example); assistant: text parts, or exactly one `refusal` part. Audio and file parts are not supported
  for fine-tuning. Assistant content may be null (or absent) only with `tool_calls`/`function_call`.
- `weight` (assistant only) is the integer 0 or 1; names match ^[a-zA-Z0-9_-]{1,64}$; tool calls are
  {id, type: "function", function: {name, arguments: string}}; a `tool` message's tool_call_id must
  answer a tool call of an earlier assistant message; at least one assistant message.
- top level: messages, tools, parallel_tool_calls, functions (deprecated) and nothing else.

Errors carry stable codes: custom ones are raised as PydanticCustomError with the code as their type
(`CUSTOM_CODES`); `explain_errors` turns a ValidationError into (code, message index, human text).
"""

from __future__ import annotations

import operator
import re
from functools import reduce
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

NAME_PATTERN = r"^[a-zA-Z0-9_-]{1,64}$"
ROLES = ("system", "user", "assistant", "tool", "function")
MAX_IMAGES_PER_EXAMPLE = 10
MAX_IMAGE_BYTES = 10 * 1024 * 1024
IMAGE_MEDIA_TYPES = ("image/jpeg", "image/png", "image/webp")
_DATA_URL = re.compile(r"^data:([\w.+-]+/[\w.+-]+);base64,", re.ASCII)

Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN, strict=True)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


# --- content parts ---------------------------------------------------------------------------------
class TextPart(_Strict):
    type: Literal["text"]
    text: str


class RefusalPart(_Strict):
    type: Literal["refusal"]
    refusal: str


class ImageURL(_Strict):
    url: str
    detail: Literal["auto", "low", "high"] | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        if url.startswith(("https://", "http://")):
            return url
        m = _DATA_URL.match(url)
        if not m:
            raise PydanticCustomError("invalid_image", "image url must be an http(s) URL or a base64 data URL "
                                      "(data:image/png;base64,...), got {start}", {"start": repr(url[:30])})
        if m.group(1).lower() not in IMAGE_MEDIA_TYPES:
            raise PydanticCustomError("invalid_image", "image type {kind} is not supported for fine-tuning "
                                      "(JPEG, PNG or WEBP)", {"kind": repr(m.group(1))})
        size = (len(url) - m.end()) * 3 // 4
        if size > MAX_IMAGE_BYTES:
            raise PydanticCustomError("invalid_image", "image is about {mb} MB; fine-tuning accepts at most 10 MB "
                                      "per image", {"mb": round(size / 2**20, 1)})
        return url


class ImagePart(_Strict):
    type: Literal["image_url"]
    image_url: ImageURL


def _part_type(v: Any) -> str | None:
    return v.get("type") if isinstance(v, dict) else None


def _content(*parts: type, role: str, nullable: bool = False):
    """`str | [part, ...]` with errors reported only for the branch the value is (no union noise)."""
    tags = {p.model_fields["type"].annotation.__args__[0]: p for p in parts}
    allowed = ", ".join(repr(t) for t in tags)
    part = Annotated[reduce(operator.or_, (Annotated[p, Tag(t)] for t, p in tags.items())), Discriminator(
        _part_type, custom_error_type="content_type",
        custom_error_message=f"content part type must be one of {allowed} in {role} messages",
    )]
    branches = [Annotated[str, Tag("str")], Annotated[list[part], Field(min_length=1), Tag("list")]]
    kinds = "a string or a non-empty list of content parts"
    if nullable:
        branches.append(Annotated[None, Tag("null")])
        kinds += " (or null with tool_calls)"

    def which(v: Any) -> str | None:
        return {str: "str", list: "list"}.get(type(v)) or ("null" if v is None and nullable else None)

    return Annotated[reduce(operator.or_, branches), Discriminator(
        which, custom_error_type="content_type", custom_error_message=f"must be {kinds}")]


# --- tool calls and tool definitions ---------------------------------------------------------------
class FunctionCall(_Strict):
    name: Name
    arguments: str


class ToolCall(_Strict):
    id: str
    type: Literal["function"]
    function: FunctionCall


class FunctionDefinition(_Strict):
    name: Name
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None

    @field_validator("parameters")
    @classmethod
    def _object_schema(cls, p: dict | None) -> dict | None:
        if p is not None and "type" in p and p["type"] != "object":
            raise PydanticCustomError("invalid_tools", "parameters must be a JSON Schema of type 'object', "
                                      "got type {t}", {"t": repr(p["type"])})
        return p


class Tool(_Strict):
    type: Literal["function"]
    function: FunctionDefinition


# --- messages --------------------------------------------------------------------------------------
class SystemMessage(_Strict):
    role: Literal["system"]
    content: _content(TextPart, role="system")
    name: Name | None = None


class UserMessage(_Strict):
    role: Literal["user"]
    content: _content(TextPart, ImagePart, role="user")
    name: Name | None = None


class AssistantMessage(_Strict):
    role: Literal["assistant"]
    content: _content(TextPart, RefusalPart, role="assistant", nullable=True) = None
    refusal: str | None = None
    name: Name | None = None
    tool_calls: Annotated[list[ToolCall], Field(min_length=1)] | None = None
    function_call: FunctionCall | None = None
    weight: Any = None

    @field_validator("weight")
    @classmethod
    def _weight(cls, w: Any) -> Any:
        if w is not None and (type(w) is not int or w not in (0, 1)):
            raise PydanticCustomError("invalid_weight", "must be the integer 0 or 1, got {w}", {"w": repr(w)})
        return w

    @model_validator(mode="after")
    def _content_rules(self) -> AssistantMessage:
        if self.content is None and not self.tool_calls and self.function_call is None:
            raise PydanticCustomError("null_content", "content is null or missing, which is allowed only "
                                      "together with tool_calls or function_call")
        if isinstance(self.content, list):
            kinds = {p.type for p in self.content}
            if "refusal" in kinds and len(self.content) > 1:
                raise PydanticCustomError("content_type", "assistant content may hold text parts or exactly "
                                          "one refusal part, not both or several refusals")
        return self


class ToolMessage(_Strict):
    role: Literal["tool"]
    content: _content(TextPart, role="tool")
    tool_call_id: str


class FunctionMessage(_Strict):
    role: Literal["function"]
    content: str | None
    name: Name


Message = Annotated[
    SystemMessage | UserMessage | AssistantMessage | ToolMessage | FunctionMessage,
    Field(discriminator="role"),
]
MESSAGE_MODELS = {m.model_fields["role"].annotation.__args__[0]: m
                  for m in (SystemMessage, UserMessage, AssistantMessage, ToolMessage, FunctionMessage)}


Tools = Annotated[list[Tool], Field(min_length=1)]


class ChatExample(_Strict):
    messages: Annotated[list[Message], Field(min_length=1)]
    tools: Tools | None = None
    parallel_tool_calls: bool | None = None
    functions: Annotated[list[FunctionDefinition], Field(min_length=1)] | None = None

    @model_validator(mode="after")
    def _conversation_rules(self) -> ChatExample:
        call_ids: set[str] = set()
        images = 0
        for n, m in enumerate(self.messages, start=1):
            if isinstance(m, AssistantMessage) and m.tool_calls:
                call_ids.update(c.id for c in m.tool_calls)
            elif isinstance(m, ToolMessage) and m.tool_call_id not in call_ids:
                known = ", ".join(repr(i) for i in sorted(call_ids)[:5]) or "none"
                raise PydanticCustomError(
                    "tool_call_id_mismatch", "message {n} (tool): tool_call_id {id} answers no tool call of an "
                    "earlier assistant message (earlier ids: {known})", {"n": n, "id": repr(m.tool_call_id), "known": known})
            elif isinstance(m, UserMessage) and isinstance(m.content, list):
                images += sum(isinstance(p, ImagePart) for p in m.content)
        if images > MAX_IMAGES_PER_EXAMPLE:
            raise PydanticCustomError("too_many_images", "{k} images in one example; fine-tuning accepts at most "
                                      "{m}", {"k": images, "m": MAX_IMAGES_PER_EXAMPLE})
        if not any(isinstance(m, AssistantMessage) for m in self.messages):
            raise PydanticCustomError("missing_assistant", "no assistant message: every example needs at least "
                                      "one assistant message to train on")
        return self


TOOLS_ADAPTER = TypeAdapter(Tools)  # the `tools` field alone: lets validate check a repeated tools list once

# --- explaining errors -----------------------------------------------------------------------------
CUSTOM_CODES = frozenset({"content_type", "null_content", "invalid_weight", "invalid_image", "invalid_tools",
                          "tool_call_id_mismatch", "too_many_images", "missing_assistant"})
_FIELD_CODES = {"content": "content_type", "name": "invalid_name", "weight": "invalid_weight",
                "tool_calls": "invalid_tool_calls", "function_call": "invalid_tool_calls",
                "tool_call_id": "invalid_tool_call_id", "refusal": "content_type"}
_TOP_CODES = {"messages": "invalid_messages", "tools": "invalid_tools", "functions": "invalid_tools",
              "parallel_tool_calls": "invalid_tools"}
_KEY_HINTS = {"audio": " (audio is not supported for fine-tuning)",
              "weight": " (weight is allowed on assistant messages only)"}
_ROLE_HINTS = {"developer": " ('developer' is a chat-completions role; fine-tuning files use 'system' for it)"}


def allowed_keys(role: str) -> list[str]:
    return sorted(MESSAGE_MODELS[role].model_fields)


_BRANCH_TAGS = frozenset({"str", "list", "null"})
_PART_TAGS = frozenset({"text", "image_url", "refusal"})


def _path(loc: tuple) -> str:
    """`content[0].image_url.url` from a pydantic loc, without union branch and part-type tags."""
    out, prev = "", None
    for p in loc:
        skip = (p in _BRANCH_TAGS and prev is not None and not isinstance(prev, int)) or (
            p in _PART_TAGS and isinstance(prev, int))
        if not skip:
            out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
        prev = p
    return out


def explain_errors(err: ValidationError, obj: Any, prefix: tuple = ()) -> list[tuple[str, int | None, str]]:
    """(code, 1-based message index or None, human text) for each error, one per message and code.

    `prefix` is the location of what was validated inside the example (("tools",) for TOOLS_ADAPTER).
    """
    out: list[tuple[str, int | None, str]] = []
    seen: set[tuple[str, int | None]] = set()
    for e in err.errors(include_url=False):
        loc, kind = prefix + e["loc"], e["type"]
        n = loc[1] + 1 if len(loc) > 1 and loc[0] == "messages" and isinstance(loc[1], int) else None
        role = loc[2] if n is not None and len(loc) > 2 else None
        field = loc[3] if role is not None and len(loc) > 3 else None
        if not loc:
            code = kind if kind in CUSTOM_CODES else "invalid_example"
            text = e["msg"] if code != "invalid_example" else "the example is not a JSON object"
            n = (e.get("ctx") or {}).get("n")
        elif n is None and kind == "extra_forbidden" and len(loc) == 1:
            code = "unknown_key"
            text = f"top-level key {loc[0]!r} is not allowed (allowed: messages, tools, parallel_tool_calls, functions)"
        elif n is None and kind == "missing" and len(loc) == 1:
            code, text = "missing_key", f"required key {loc[0]!r} is missing"
        elif n is None:
            code = kind if kind in CUSTOM_CODES else _TOP_CODES.get(loc[0], "invalid_example")
            text = f"{_path(loc)}: {e['msg']}"
        elif role is None:  # the message itself: not an object, or no/unknown role
            got = obj["messages"][n - 1] if kind != "model_attributes_type" else None
            role_value = got.get("role") if isinstance(got, dict) else None
            code = "invalid_role" if kind.startswith("union_tag") else "invalid_messages"
            if kind == "union_tag_invalid":
                hint = _ROLE_HINTS.get(role_value, "") if isinstance(role_value, str) else " (a role is a string)"
                text = f"role {role_value!r} is not accepted (roles: {', '.join(ROLES)})" + hint
            elif kind == "union_tag_not_found":
                text = f"no 'role' key (roles: {', '.join(ROLES)})"
            else:
                text = "a message must be a JSON object"
        elif kind == "extra_forbidden" and len(loc) > 4:
            code, text = "unknown_key", f"{_path(loc[3:-1])}: key {loc[-1]!r} is not allowed"
        elif kind == "extra_forbidden":
            code = "unknown_key"
            text = (f"key {field!r} is not allowed for {role} (allowed: {', '.join(allowed_keys(role))})"
                    + _KEY_HINTS.get(field, ""))
        elif kind == "missing":
            code, text = "missing_key", f"required key {field!r} is missing"
        elif kind in CUSTOM_CODES:
            code, text = kind, (f"{_path(loc[3:])}: {e['msg']}" if field else e["msg"])
        else:
            code = _FIELD_CODES.get(field, "invalid_messages")
            text = f"{_path(loc[3:])}: {e['msg']}"
        if n is not None and not text.startswith("message "):
            text = f"message {n} ({role or _role_of(obj, n)}): {text}"
        if (code, n) not in seen:
            seen.add((code, n))
            out.append((code, n, text))
    return out


def _role_of(obj: Any, n: int) -> str:
    try:
        role = obj["messages"][n - 1].get("role")
    except (KeyError, IndexError, AttributeError, TypeError):
        return "?"
    return role if isinstance(role, str) else "?"
