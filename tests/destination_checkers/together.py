"""Checker for Together AI fine-tuning files, mirroring the rules of together-python's `check_file`
(togethercomputer/together-python, src/together/utils/files.py and constants.py at eba5e5f, 2025-12-23),
with the two documented additions that SDK predates:

- function calling (docs.together.ai/docs/fine-tuning/function-calling; together-py constants:
  `tools` is an allowed extra column of the conversational format, `tool` a role, and an assistant message
  may carry `tool_calls` in place of `content`);
- "The conversation must start with system or user and alternate user and assistant afterwards"
  (docs.together.ai/docs/fine-tuning/data-preparation) — so a system message is only ever the first.

Where the SDK stops at the first problem, this reports every line's problems. Stricter than the SDK in one
way, said here: a boolean `weight` is rejected (the SDK's isinstance(weight, int) lets `true` through).

JSONL records take one of four formats per file (never mixed): {messages[, tools]}, {prompt, completion},
{text}, {input, preferred_output, non_preferred_output}. A .parquet file is pre-tokenized data only
(columns input_ids [, attention_mask, labels, position_ids]).
"""

from __future__ import annotations

import copy
from pathlib import Path

from tests.destination_checkers.common import (
    GIB,
    FileRules,
    check_file_rules,
    is_int,
    preference_to_pair,  # noqa: F401  (this destination's, shared)
    read_jsonl,
)

FORMATS = {  # together constants JSONL_REQUIRED_COLUMNS_MAP (+ JSONL_EXTRA_COLUMNS_MAP of together-py)
    "conversation": (("messages",), ("tools",)),
    "instruction": (("prompt", "completion"), ()),
    "general": (("text",), ()),
    "preference_openai": (("input", "preferred_output", "non_preferred_output"), ()),
}
ROLES = ("system", "user", "assistant", "tool")
PARQUET_COLUMNS = ("input_ids", "attention_mask", "labels", "position_ids")
MAX_IMAGES = 10
MAX_IMAGE_URL_CHARS = len("data:image/jpeg;base64,") + 4 * (10 * 1024 * 1024) // 3
# MAX_FILE_SIZE_GB = 50.1 (binary GB), MIN_SAMPLES = 1; no maximum, no validation-file limit published
FILE_RULES = FileRules(bom="forbid", max_bytes=int(50.1 * GIB), min_train=1, max_train=None,
                       max_validation=None, min_validation=1)


def check_file(path: Path, *, model: str | None = None, split: str = "train", purpose: str = "sft") -> list[str]:
    """Every problem of a Together training or validation file. `purpose`: "sft" or "dpo" (which formats fit).

    Per-model context limits are counted by Together with the base model's Hugging Face tokenizer and chat
    template; they are not checked here (`model` is accepted for the common signature).
    """
    path = Path(path)
    if path.suffix == ".parquet":
        return _check_parquet(path, split)
    if path.suffix != ".jsonl":
        return [f"{path.name}: Together takes .jsonl or .parquet files"]
    records, errors = read_jsonl(path, bom=FILE_RULES.bom)
    file_format = None
    for number, obj in records:
        found, problems = check_record(obj)
        if found is not None:
            if file_format is None:
                file_format = found
            elif found != file_format:
                problems.append(f"format {found} differs from the file's {file_format} "
                                "(all samples must have the same dataset format)")
        errors += [f"line {number}: {p}" for p in problems]
    wanted = {"sft": {"conversation", "instruction", "general"}, "dpo": {"preference_openai"}}[purpose]
    if file_format is not None and file_format not in wanted:
        errors.append(f"the file is in the {file_format} format; {purpose} training takes {sorted(wanted)}")
    return errors + check_file_rules(path, len(records), FILE_RULES, split)


def check_preference_file(path: Path, *, model: str | None = None, split: str = "train") -> list[str]:
    return check_file(path, model=model, split=split, purpose="dpo")


def detect_format(obj: dict) -> tuple[str | None, list[str]]:
    matching = [name for name, (required, _) in FORMATS.items() if all(c in obj for c in required)]
    if not matching:
        return None, [f"no dataset format matches the columns {sorted(obj)}"]
    if len(matching) > 1:
        return None, [f"found multiple dataset formats: {' and '.join(matching)}"]
    required, extra = FORMATS[matching[0]]
    return matching[0], [f'found extra column "{c}"' for c in obj if c not in required + extra]


def check_record(obj) -> tuple[str | None, list[str]]:
    """(the record's format or None, its problems)."""
    if not isinstance(obj, dict):
        return None, ["the line is not a JSON object"]
    found, errors = detect_format(obj)
    if found == "conversation":
        errors += validate_messages(obj["messages"], require_assistant=True)
        if "tools" in obj:
            errors += _tools_problems(obj["tools"])
    elif found == "preference_openai":
        errors += _preference_problems(obj)
    elif found == "instruction":
        errors += _content_problems(obj["prompt"], "user", "prompt")[0]
        errors += _content_problems(obj["completion"], "assistant", "completion")[0]
    elif found == "general" and not isinstance(obj["text"], str):
        errors.append("text must be a string")
    return found, errors


def validate_messages(messages, *, require_assistant: bool) -> list[str]:
    if not isinstance(messages, list):
        return ["the `messages` column must be a list"]
    if not messages:
        return ["the `messages` column must not be empty"]
    errors, previous, multimodal, images = [], None, None, 0
    for i, m in enumerate(messages, start=1):
        where = f"message {i}"
        if not isinstance(m, dict):
            errors.append(f"{where}: the `messages` column must be a list of dicts")
            continue
        role = m.get("role")
        if not isinstance(role, str) or role not in ROLES:
            errors.append(f"{where}: invalid role {role!r} (possible roles: {', '.join(ROLES)})")
            continue
        if role == "system" and i != 1:
            errors.append(f"{where}: a system message may only be the first message")
        elif i == 1 and role not in ("system", "user"):
            errors.append(f"{where}: the conversation must start with system or user, not {role}")
        if previous is not None and role == previous:
            errors.append(f"{where}: invalid role turns: after the optional system message, roles must alternate "
                          f"between user and assistant ({role} follows {previous})")
        previous = role
        if "weight" in m:
            weight = m["weight"]
            if not is_int(weight):
                errors.append(f"{where}: weight must be an integer")
            elif weight not in (0, 1):
                errors.append(f"{where}: weight must be either 0 or 1")
        if role == "assistant" and m.get("tool_calls"):
            errors += [f"{where}: {e}" for e in _tool_calls_problems(m["tool_calls"])]
            if m.get("content") is None:
                continue
        elif "content" not in m:
            errors.append(f"{where}: missing required column `content`")
            continue
        if role == "tool" and not isinstance(m.get("tool_call_id"), str):
            errors.append(f"{where}: a tool message needs tool_call_id")
        problems, is_multimodal, n_images = _content_problems(m["content"], role, where)
        errors += problems
        images += n_images
        if n_images and m.get("weight", 0) != 0:
            errors.append(f"{where}: messages with images cannot have non-zero weights")
        if multimodal is None:
            multimodal = is_multimodal
        elif multimodal != is_multimodal:
            errors.append(f"{where}: messages must be either all multimodal or all text-only")
    if images > MAX_IMAGES:
        errors.append(f"{images} images; at most {MAX_IMAGES} per example")
    if require_assistant and not any(isinstance(m, dict) and m.get("role") == "assistant" for m in messages):
        errors.append("at least one message with the assistant role must be present")
    return errors


def _content_problems(content, role: str, where: str) -> tuple[list[str], bool, int]:
    """(problems, is multimodal, images) of a message content: a string or a list of text/image_url parts."""
    if isinstance(content, str):
        return [], False, 0
    if not isinstance(content, list):
        return [f"{where}: content must be a string or a list of parts, not {type(content).__name__}"], False, 0
    errors, images = [], 0
    for part in content:
        if not isinstance(part, dict) or "type" not in part:
            errors.append(f"{where}: each content part must be an object with a `type`")
        elif part["type"] == "text":
            if not isinstance(part.get("text"), str):
                errors.append(f"{where}: a text part needs a string `text`")
        elif part["type"] == "image_url":
            url = part.get("image_url", {}).get("url") if isinstance(part.get("image_url"), dict) else None
            if role != "user":
                errors.append(f"{where}: only user messages can contain images")
            elif not isinstance(url, str) or not any(url.startswith(f"data:image/{f};base64,")
                                                      for f in ("jpeg", "png", "webp")):
                errors.append(f"{where}: image_url.url must be a base64 JPEG, PNG or WEBP data URL")
            elif len(url) > MAX_IMAGE_URL_CHARS:
                errors.append(f"{where}: an image over 10 MB")
            images += 1
        else:
            errors.append(f"{where}: content part type must be 'text' or 'image_url', not {part['type']!r}")
    return errors, True, images


def _tool_calls_problems(calls) -> list[str]:
    if not isinstance(calls, list):
        return ["tool_calls must be a list"]
    errors = []
    for call in calls:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str) \
                or not isinstance(function.get("arguments"), str) or call.get("type") != "function":
            errors.append(f"bad tool call {call!r:.80} (type 'function', function.name, function.arguments string)")
    return errors


def _tools_problems(tools) -> list[str]:
    if not isinstance(tools, list):
        return ["tools must be a list"]
    return [f"bad tool {t!r:.80}" for t in tools if not isinstance(t, dict) or t.get("type") != "function"
            or not isinstance(t.get("function"), dict) or not isinstance(t["function"].get("name"), str)]


def _preference_problems(obj: dict) -> list[str]:
    source = obj["input"]
    if not isinstance(source, dict) or "messages" not in source:
        return ["the `input` field must be an object with a `messages` field"]
    errors = [f'found extra key "{k}" in input' for k in source if k not in ("messages", "tools")]
    errors += validate_messages(source["messages"], require_assistant=False)
    messages = source["messages"]
    if isinstance(messages, list) and messages and isinstance(messages[-1], dict) \
            and messages[-1].get("role") == "assistant":
        errors.append("the last message of the input must not be from the assistant")
    for key in ("preferred_output", "non_preferred_output"):
        output = obj[key]
        if not isinstance(output, list) or len(output) != 1 or not isinstance(output[0], dict):
            errors.append(f"`{key}` must be a list of exactly one message")
        elif output[0].get("role") != "assistant":
            errors.append(f"`{key}`: the message must have the assistant role")
        elif "content" not in output[0]:
            errors.append(f"`{key}`: the message must have a content field")
        else:
            errors += _content_problems(output[0]["content"], "assistant", key)[0]
    return errors


def _check_parquet(path: Path, split: str) -> list[str]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
        rows = pq.ParquetFile(path).metadata.num_rows
    except (pa.ArrowInvalid, OSError) as e:  # an unreadable file is this file's problem, said in words
        return [f"{path.name}: not a readable Parquet file ({e})"]
    names = schema.names
    errors = [] if "input_ids" in names else [f"{path.name}: a Parquet file must hold pre-tokenized `input_ids`"]
    errors += [f"{path.name}: unexpected column {c!r} (Parquet columns: {', '.join(PARQUET_COLUMNS)})"
               for c in names if c not in PARQUET_COLUMNS]
    return errors + check_file_rules(path, rows, FILE_RULES, split)


def to_chat(record: dict) -> dict:
    """The OpenAI chat example of a conversational record (Together's messages are OpenAI's)."""
    chat = {"messages": copy.deepcopy(record["messages"])}
    if "tools" in record:
        chat["tools"] = copy.deepcopy(record["tools"])
    return chat
