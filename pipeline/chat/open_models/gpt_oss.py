"""gpt-oss (gpt-oss-20b, gpt-oss-120b): the harmony format, rendered by OpenAI's openai-harmony package.

The vocabulary, o200k_harmony, is o200k_base plus harmony's special tokens; openai-harmony reads the
o200k_base file from TIKTOKEN_RS_CACHE_DIR under the same name tiktoken uses (sha1 of its URL) and checks
its sha256, so the file chatprep already provisions offline (pipeline/chat/encodings.py) serves both.

An OpenAI chat example becomes a harmony conversation the way gpt-oss is fine-tuned on chat data:
- a system message (harmony's defaults: model identity, knowledge cutoff 2024-06, reasoning medium, the
  valid channels; no date, so counts do not change from day to day);
- the first `system` message becomes the developer message's instructions, with the example's `tools`
  as the `functions` namespace; later `system` messages become developer messages of their own;
- `user` -> user; `assistant` content -> the `final` channel;
- each assistant tool call -> a `commentary` message to `functions.<name>`, content type
  `<|constrain|>json`, its arguments as the JSON text they are (a string is used as given: never encoded
  a second time; an object is written as JSON); assistant content beside tool calls is a commentary
  preamble before them;
- `tool` -> a message from `functions.<name>` (the name of the call it answers) to the assistant on the
  commentary channel.
The conversation is rendered with `render_conversation_for_training` (the last assistant message ends in
`<|return|>`). Trained tokens: each trained assistant message's tokens after its `<|start|>assistant`
header (what the model writes), from `weight != 0` assistant messages.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from pipeline.chat.open_models.interface import ExampleRejected, OpenModelError
from pipeline.chat.open_models.messages import arguments_text, content_text, example_messages, trained_flags

DESCRIPTION = "gpt-oss-20b / gpt-oss-120b: harmony format and o200k_harmony vocab, via the openai-harmony package"
HEADER_TOKENS = 2  # <|start|> assistant


@contextmanager
def _environment(name: str, value: str):
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


@lru_cache(maxsize=2)
def load_encoding(cache_dir: str):
    """openai-harmony's gpt-oss encoding, its vocab file found (or provisioned) offline."""
    from pipeline.chat.encodings import ENV, EncodingUnavailable, ensure_encoding

    try:
        import openai_harmony as harmony
    except ImportError:
        raise OpenModelError("the gpt-oss family needs the openai-harmony package; reinstall chatprep's requirements "
                             "(make setup), or give model_dir / tokenizer_file instead") from None
    try:
        ensure_encoding("o200k_base", Path(cache_dir) / "tiktoken")
    except EncodingUnavailable as e:
        raise OpenModelError(f"gpt-oss counts need the o200k_base vocab file: {e}") from None
    with _environment("TIKTOKEN_RS_CACHE_DIR", os.environ[ENV]):
        try:
            return harmony.load_harmony_encoding(harmony.HarmonyEncodingName.HARMONY_GPT_OSS)
        except harmony.HarmonyError as e:
            raise OpenModelError(f"openai-harmony could not load o200k_harmony from {os.environ[ENV]} ({e}); put "
                                 f"o200k_base there as tiktoken names it, or set TIKTOKEN_CACHE_DIR to such a "
                                 f"folder") from None


def _tool_descriptions(tools: list | None) -> list:
    from openai_harmony import ToolDescription

    out = []
    for i, tool in enumerate(tools or [], 1):
        function = tool.get("function", tool) if isinstance(tool, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise ExampleRejected(f"tool {i} has no function name (expected {{\"type\": \"function\", "
                                  f"\"function\": {{\"name\": ...}}}})")
        parameters = function.get("parameters")
        out.append(ToolDescription.new(function["name"], function.get("description") or "",
                                       parameters=parameters if isinstance(parameters, dict) else None))
    return out


def harmony_messages(example: dict) -> tuple[list, list[bool]]:
    """The harmony messages of an OpenAI chat example, and per harmony message whether it is trained."""
    from openai_harmony import Author, DeveloperContent, Message, Role, SystemContent

    messages = example_messages(example)
    trained = trained_flags(messages)
    tools = example.get("tools")
    out: list = [Message.from_role_and_content(Role.SYSTEM, SystemContent.new())]
    flags: list[bool] = [False]
    rest = messages
    instructions = None
    if messages and isinstance(messages[0], dict) and messages[0].get("role") == "system":
        instructions, rest = content_text(messages[0].get("content")), messages[1:]
        trained = trained[1:]
    if instructions or tools:
        developer = DeveloperContent.new()
        if instructions:
            developer = developer.with_instructions(instructions)
        if tools:
            developer = developer.with_function_tools(_tool_descriptions(tools))
        out.append(Message.from_role_and_content(Role.DEVELOPER, developer))
        flags.append(False)
    call_names: dict[str, str] = {}
    offset = len(messages) - len(rest)
    for position, (message, is_trained) in enumerate(zip(rest, trained), offset + 1):
        if not isinstance(message, dict):
            raise ExampleRejected(f"message {position} is not an object")
        role = message.get("role")
        if role == "system":
            developer = DeveloperContent.new().with_instructions(content_text(message.get("content")))
            new = [Message.from_role_and_content(Role.DEVELOPER, developer)]
        elif role == "user":
            new = [Message.from_role_and_content(Role.USER, content_text(message.get("content")))]
        elif role == "assistant":
            new = _assistant(message, position, call_names)
        elif role == "tool":
            call_id = message.get("tool_call_id")
            name = call_names.get(call_id) or message.get("name")
            if not isinstance(name, str):
                raise ExampleRejected(f"message {position}: tool message answers tool_call_id {call_id!r}, which no "
                                      f"earlier assistant tool call has; gpt-oss needs the function's name")
            new = [Message.from_author_and_content(Author.new(Role.TOOL, f"functions.{name}"),
                                                   content_text(message.get("content")))
                   .with_channel("commentary").with_recipient("assistant")]
        else:
            raise ExampleRejected(f"message {position}: role {role!r} has no place in the harmony format "
                                  f"(system, user, assistant, tool)")
        out.extend(new)
        flags.extend([is_trained] * len(new))
    return out, flags


def _assistant(message: dict, position: int, call_names: dict[str, str]) -> list:
    from openai_harmony import Message, Role

    calls = message.get("tool_calls") or []
    text = content_text(message.get("content"))
    if not calls:
        return [Message.from_role_and_content(Role.ASSISTANT, text).with_channel("final")]
    out = [Message.from_role_and_content(Role.ASSISTANT, text).with_channel("commentary")] if text else []
    for call in calls:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise ExampleRejected(f"message {position}: a tool call has no function name")
        if isinstance(call.get("id"), str):
            call_names[call["id"]] = function["name"]
        out.append(Message.from_role_and_content(Role.ASSISTANT, arguments_text(function.get("arguments", "{}")))
                   .with_channel("commentary").with_recipient(f"functions.{function['name']}")
                   .with_content_type("<|constrain|>json"))
    return out


class GptOssCounter:
    exact = True

    def __init__(self, cache_dir: Path):
        self.encoding = load_encoding(str(Path(cache_dir).resolve()))
        self.name = f"gpt-oss (o200k_harmony, openai-harmony {metadata.version('openai-harmony')})"

    def token_ids(self, example: dict) -> list[int]:
        from openai_harmony import Conversation

        messages, _ = harmony_messages(example)
        return self.encoding.render_conversation_for_training(Conversation.from_messages(messages))

    def render(self, example: dict) -> str:
        return self.encoding.decode_utf8(self.token_ids(example))

    def count(self, example: dict) -> tuple[int, int]:
        from openai_harmony import Conversation

        messages, flags = harmony_messages(example)
        tokens = self.encoding.render_conversation_for_training(Conversation.from_messages(messages))
        renders = [self.encoding.render(m) for m in messages[1:]]
        tail = [t for r in renders for t in r]
        # after the system message the conversation is the messages' own renders (the last one's <|end|>
        # becomes <|return|>); where it is not, count each trained message from renders of prefixes
        if tail and tokens[len(tokens) - len(tail):-1] == tail[:-1]:
            trained = sum(len(r) - HEADER_TOKENS for r, flag in zip(renders, flags[1:]) if flag)
        else:
            trained = sum(self._written_by_prefix(messages, k) for k, flag in enumerate(flags) if flag)
        return len(tokens), trained

    def _written_by_prefix(self, messages: list, k: int) -> int:
        from openai_harmony import Conversation, Role

        upto = self.encoding.render_conversation(Conversation.from_messages(messages[:k + 1]))
        before = self.encoding.render_conversation_for_completion(Conversation.from_messages(messages[:k]),
                                                                  Role.ASSISTANT)
        return len(upto) - len(before)
