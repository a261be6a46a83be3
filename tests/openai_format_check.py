"""An independent, deliberately plain checker of OpenAI's chat fine-tuning JSONL lines.

Written apart from schemas/chat.py (no imports from pipeline/ or schemas/) so that tests can assert
that what the pipeline exports is accepted, without trusting the code under test. Strict: when in
doubt it rejects. Rules follow OpenAI's "training format for chat models using the supervised method".

    errors = check_line(line)        # [] when the line is a valid training example
    problems = check_file(path)      # [(line number, error), ...] for a whole .jsonl file
"""

from __future__ import annotations

import json
import re
from pathlib import Path

TOP_KEYS = {"messages", "tools", "parallel_tool_calls", "functions"}
ROLE_KEYS = {
    "system": {"role", "content", "name"},
    "user": {"role", "content", "name"},
    "assistant": {"role", "content", "name", "tool_calls", "function_call", "weight", "refusal"},
    "tool": {"role", "content", "tool_call_id"},
    "function": {"role", "content", "name"},
}
PART_TYPES = {"system": {"text"}, "user": {"text", "image_url"}, "assistant": {"text", "refusal"},
              "tool": {"text"}}
NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
IMAGE_URL = re.compile(r"https?://|data:image/(jpeg|png|webp);base64,")
MAX_IMAGE_URL_CHARS = 10 * 1024 * 1024 * 4 // 3 + 100  # base64 of 10 MB
MAX_IMAGES = 10
SPECIAL = ("<|endoftext|>", "<|endofprompt|>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>",
           "<|im_start|>", "<|im_end|>", "<|im_sep|>")


def _is_name(value) -> bool:
    return isinstance(value, str) and NAME.fullmatch(value) is not None


def _check_content(role: str, content, where: str) -> list[str]:
    if isinstance(content, str):
        return []
    if not isinstance(content, list) or not content:
        return [f"{where}: content must be a string or a non-empty list"]
    errors = []
    for part in content:
        if not isinstance(part, dict) or part.get("type") not in PART_TYPES[role]:
            errors.append(f"{where}: bad content part {part!r:.80}")
            continue
        kind = part["type"]
        if set(part) != {"type", kind}:
            errors.append(f"{where}: content part keys {sorted(part)}")
        elif kind == "image_url":
            image = part["image_url"]
            if not isinstance(image, dict) or not isinstance(image.get("url"), str) or not set(image) <= {"url", "detail"} \
                    or image.get("detail", "auto") not in ("auto", "low", "high") or not IMAGE_URL.match(image["url"]) \
                    or len(image["url"]) > MAX_IMAGE_URL_CHARS:
                errors.append(f"{where}: bad image_url part")
        elif not isinstance(part[kind], str):
            errors.append(f"{where}: {kind} part must hold a string")
    if role == "assistant" and any(p.get("type") == "refusal" for p in content if isinstance(p, dict)) and len(content) > 1:
        errors.append(f"{where}: a refusal part must be alone")
    return errors


def _check_call(call, where: str) -> list[str]:
    if not isinstance(call, dict) or set(call) != {"name", "arguments"}:
        return [f"{where}: function must have exactly name and arguments"]
    errors = [] if _is_name(call["name"]) else [f"{where}: bad function name {call['name']!r}"]
    if not isinstance(call["arguments"], str):
        errors.append(f"{where}: arguments must be a string")
    return errors


def _check_message(i: int, m, call_ids: set) -> list[str]:
    where = f"message {i}"
    if not isinstance(m, dict):
        return [f"{where}: not an object"]
    role = m.get("role")
    if not isinstance(role, str) or role not in ROLE_KEYS:
        return [f"{where}: bad role {role!r}"]
    errors = [f"{where}: key {k!r} not allowed for {role}" for k in sorted(set(m) - ROLE_KEYS[role])]
    if "name" in m and not _is_name(m["name"]):
        errors.append(f"{where}: bad name {m['name']!r}")
    if role == "assistant":
        calls = m.get("tool_calls")
        if "tool_calls" in m:
            if not isinstance(calls, list) or not calls:
                errors.append(f"{where}: tool_calls must be a non-empty list")
            else:
                for c in calls:
                    if not isinstance(c, dict) or set(c) != {"id", "type", "function"} or c["type"] != "function" \
                            or not isinstance(c["id"], str):
                        errors.append(f"{where}: bad tool call {c!r:.80}")
                    else:
                        errors += _check_call(c["function"], where)
                        call_ids.add(c["id"])
        if m.get("function_call") is not None:
            errors += _check_call(m["function_call"], where)
        if m.get("content") is None:
            if not calls and m.get("function_call") is None:
                errors.append(f"{where}: assistant content is null without tool_calls/function_call")
        else:
            errors += _check_content(role, m["content"], where)
        if "weight" in m and (type(m["weight"]) is not int or m["weight"] not in (0, 1)):
            errors.append(f"{where}: weight must be 0 or 1")
        if "refusal" in m and m["refusal"] is not None and not isinstance(m["refusal"], str):
            errors.append(f"{where}: refusal must be a string")
    elif role == "function":
        if not _is_name(m.get("name")):
            errors.append(f"{where}: function message needs a valid name")
        if "content" not in m or not (m["content"] is None or isinstance(m["content"], str)):
            errors.append(f"{where}: function content must be a string or null")
    else:
        if "content" not in m:
            errors.append(f"{where}: content is required")
        else:
            errors += _check_content(role, m["content"], where)
        if role == "tool":
            if not isinstance(m.get("tool_call_id"), str):
                errors.append(f"{where}: tool message needs tool_call_id")
            elif m["tool_call_id"] not in call_ids:
                errors.append(f"{where}: tool_call_id {m['tool_call_id']!r} answers no earlier tool call")
    return errors


def _check_function_def(f, where: str) -> list[str]:
    if not isinstance(f, dict) or not set(f) <= {"name", "description", "parameters", "strict"}:
        return [f"{where}: bad function definition"]
    errors = [] if _is_name(f.get("name")) else [f"{where}: bad function name"]
    if "parameters" in f and (not isinstance(f["parameters"], dict) or f["parameters"].get("type", "object") != "object"):
        errors.append(f"{where}: parameters must be a JSON Schema object of type 'object'")
    if "description" in f and not isinstance(f["description"], str):
        errors.append(f"{where}: description must be a string")
    return errors


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def check_example(obj) -> list[str]:
    if not isinstance(obj, dict):
        return ["line is not a JSON object"]
    errors = [f"top-level key {k!r} not allowed" for k in sorted(set(obj) - TOP_KEYS)]
    msgs = obj.get("messages")
    if not isinstance(msgs, list) or not msgs:
        return errors + ["messages must be a non-empty list"]
    call_ids: set = set()
    for i, m in enumerate(msgs, start=1):
        errors += _check_message(i, m, call_ids)
    if not any(isinstance(m, dict) and m.get("role") == "assistant" for m in msgs):
        errors.append("no assistant message")
    images = sum(1 for m in msgs if isinstance(m, dict) and isinstance(m.get("content"), list)
                 for p in m["content"] if isinstance(p, dict) and p.get("type") == "image_url")
    if images > MAX_IMAGES:
        errors.append(f"{images} images in one example (at most {MAX_IMAGES})")
    if "tools" in obj:
        tools = obj["tools"]
        if not isinstance(tools, list) or not tools:
            errors.append("tools must be a non-empty list")
        else:
            for t in tools:
                if not isinstance(t, dict) or set(t) != {"type", "function"} or t["type"] != "function":
                    errors.append(f"bad tool {t!r:.80}")
                else:
                    errors += _check_function_def(t["function"], "tools")
    if "functions" in obj:
        if not isinstance(obj["functions"], list) or not obj["functions"]:
            errors.append("functions must be a non-empty list")
        else:
            for f in obj["functions"]:
                errors += _check_function_def(f, "functions")
    if "parallel_tool_calls" in obj and not isinstance(obj["parallel_tool_calls"], bool):
        errors.append("parallel_tool_calls must be true or false")
    for s in _strings(obj):
        for token in SPECIAL:
            if token in s:
                errors.append(f"special token {token} in text")
    return errors


def check_line(line: str) -> list[str]:
    try:
        obj = json.loads(line)
    except ValueError as e:
        return [f"not JSON: {e}"]
    return check_example(obj)


def check_file(path: Path) -> list[tuple[int, str]]:
    """Problems of a whole training file: UTF-8 without BOM, one JSON example per line, nothing else."""
    data = Path(path).read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        return [(1, "file starts with a UTF-8 byte order mark")]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        return [(text_line(data, e.start), f"not UTF-8: {e}")]
    problems = []
    for n, line in enumerate(text.split("\n"), start=1):
        if line == "" and n == text.count("\n") + 1:
            break  # the text after the last newline
        if line.strip() == "" or line.endswith("\r"):
            problems.append((n, "blank line or CR line ending"))
            continue
        problems += [(n, e) for e in check_line(line)]
    return problems


def text_line(data: bytes, offset: int) -> int:
    return data[:offset].count(b"\n") + 1
