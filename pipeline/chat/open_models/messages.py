"""OpenAI chat examples as the messages a chat template or renderer reads.

An OpenAI fine-tuning line carries things no template should see (`weight`) and one known trap:
`tool_calls[].function.arguments` is a JSON *string*. Templates that apply `tojson` to the arguments
(Llama 3.1, Mistral's generated templates, Qwen's for a mapping) would then print it encoded twice —
`"{\\"city\\": \\"Paris\\"}"` instead of `{"city": "Paris"}` — and the count would not be what the model
trains on. `template_messages(..., arguments_as_objects=True)` parses each arguments string that is
valid JSON into the object, which `tojson` prints once; a string that is not JSON is left as it is.
"""

from __future__ import annotations

import copy
import json
import re

from pipeline.chat.open_models.interface import ExampleRejected

# a template that applies tojson to the arguments, or tests their type, wants an object
_ARGUMENTS_TOJSON = re.compile(r"arguments\s*(\|\s*tojson|\bis\s+(not\s+)?(string|mapping))")
_ARGUMENTS_PRINTED = re.compile(r"\{\{-?[^}]*\barguments\b[^}]*-?\}\}")


def template_wants_argument_objects(template_source: str) -> bool:
    """True unless the template prints `arguments` as they come without ever applying tojson to them
    (a template written for strings: an object would print as Python's repr)."""
    if _ARGUMENTS_TOJSON.search(template_source):
        return True
    return not _ARGUMENTS_PRINTED.search(template_source)


def example_messages(example: dict) -> list:
    if not isinstance(example, dict) or not isinstance(example.get("messages"), list):
        raise ExampleRejected("the example has no `messages` list; each line needs {\"messages\": [...]}")
    return example["messages"]


def trained_flags(messages: list) -> list[bool]:
    """Per message: an assistant message without `weight: 0` (OpenAI's rule for trained messages)."""
    return [isinstance(m, dict) and m.get("role") == "assistant" and m.get("weight", 1) != 0 for m in messages]


def parse_arguments(arguments):
    """The object an arguments JSON string encodes; anything else (not JSON, already an object) as is."""
    if isinstance(arguments, str):
        try:
            return json.loads(arguments)
        except ValueError:
            return arguments
    return arguments


def arguments_text(arguments) -> str:
    """The arguments as the JSON text they are once encoded: a string as given, an object as JSON."""
    if isinstance(arguments, str):
        return arguments
    return json.dumps(arguments, ensure_ascii=False)


def template_messages(messages: list, arguments_as_objects: bool) -> list[dict]:
    """Copies of the messages as a chat template reads them: without `weight`, tool-call arguments
    parsed into objects when `arguments_as_objects`."""
    out = []
    for i, message in enumerate(messages, 1):
        if not isinstance(message, dict):
            raise ExampleRejected(f"message {i} is not an object (got {type(message).__name__})")
        message = {k: copy.deepcopy(v) for k, v in message.items() if k != "weight"}
        if arguments_as_objects and isinstance(message.get("tool_calls"), list):
            for call in message["tool_calls"]:
                function = call.get("function") if isinstance(call, dict) else None
                if isinstance(function, dict) and "arguments" in function:
                    function["arguments"] = parse_arguments(function["arguments"])
        out.append(message)
    return out


def example_tools(example: dict) -> list | None:
    tools = example.get("tools")
    if tools is None:
        return None
    if not isinstance(tools, list):
        raise ExampleRejected(f"`tools` must be a list of tool definitions (got {type(tools).__name__})")
    return copy.deepcopy(tools) or None


def content_text(content) -> str:
    """A message content as text: a string, or the text parts of a list of parts joined."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif isinstance(part, str):
                texts.append(part)
            else:
                kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                raise ExampleRejected(f"content part of type {kind!r} has no text this model's renderer can use")
        return "".join(texts)
    raise ExampleRejected(f"message content must be a string or a list of parts (got {type(content).__name__})")
