"""Checker for Vertex AI Gemini supervised tuning files (JSONL in Cloud Storage), from Google's
"Prepare supervised fine-tuning data for Gemini models", "About supervised fine-tuning for Gemini models"
and "Tune function calling" (cloud.google.com/vertex-ai/generative-ai/docs/models/..., stored copies of
2025-09-04; see docs/destinations-sources.md).

A line: {"systemInstruction": {"role"?, "parts": [{"text"}]}, "contents": [{"role": "user"|"model",
"parts": [...]}], "tools"?: [{"functionDeclarations": [...]}]}. Parts hold one of `text`, `fileData`,
`functionCall` {name, args} (model turns) or `functionResponse` {name, response} (user turns).
The docs' function-calling examples spell it `system_instruction`; both spellings are accepted, never both.

Checker rules beyond the documented shape, said here because they are choices: the conversation starts on a
user turn, turns alternate user/model, and the last turn is the model's (what is trained); a functionCall
names a declared function. No per-message weight exists in this format, so `weight` is an unknown key.
Token limits (131,072 input+output tokens per example) need Gemini's own tokenizer (the countTokens API);
they are not checked here.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.destination_checkers.common import GIB, FileRules, check_records, unexpected_keys

# 1 GB JSONL; 1M text-only examples (300K multimodal); validation at most 5000 examples; no minimum published
FILE_RULES = FileRules(bom="forbid", max_bytes=1 * GIB, min_train=None, max_train=1_000_000, max_validation=5000)
TOP_KEYS = {"contents", "systemInstruction", "system_instruction", "tools"}
PART_KINDS = {"text", "fileData", "functionCall", "functionResponse"}


def check_file(path: Path, *, model: str | None = None, split: str = "train") -> list[str]:
    """Every problem of a Gemini tuning file. `model` is accepted for the common signature (no offline counts)."""
    return check_records(Path(path), FILE_RULES, split, check_record)


def check_record(obj) -> list[str]:
    if not isinstance(obj, dict):
        return ["the line is not a JSON object"]
    errors = unexpected_keys(obj, TOP_KEYS, "record")
    if "systemInstruction" in obj and "system_instruction" in obj:
        errors.append("both systemInstruction and system_instruction")
    system = obj.get("systemInstruction", obj.get("system_instruction"))
    if system is not None:
        errors += _system_problems(system)
    declared, tool_errors = _declared_functions(obj.get("tools"))
    errors += tool_errors
    contents = obj.get("contents")
    if not isinstance(contents, list) or not contents:
        return errors + ["contents must be a non-empty list"]
    previous = None
    for i, content in enumerate(contents, start=1):
        where = f"contents[{i}]"
        if not isinstance(content, dict):
            errors.append(f"{where}: not an object")
            continue
        errors += unexpected_keys(content, {"role", "parts"}, where)
        role = content.get("role")
        if role not in ("user", "model"):
            errors.append(f"{where}: role must be 'user' or 'model', not {role!r}")
            continue
        if previous is None and role != "user":
            errors.append(f"{where}: the conversation must start on a user turn")
        if role == previous:
            errors.append(f"{where}: two {role} turns in a row (turns alternate user/model)")
        previous = role
        errors += _parts_problems(content.get("parts"), role, where, declared)
    if previous != "model":
        errors.append("the last turn must be the model's")
    return errors


def _system_problems(system) -> list[str]:
    if not isinstance(system, dict):
        return ["systemInstruction must be an object with parts"]
    errors = unexpected_keys(system, {"role", "parts"}, "systemInstruction")
    parts = system.get("parts")
    if not isinstance(parts, list) or not parts:
        return errors + ["systemInstruction.parts must be a non-empty list"]
    for part in parts:
        if not isinstance(part, dict) or set(part) != {"text"} or not isinstance(part["text"], str):
            errors.append(f"systemInstruction: each part must be {{\"text\": string}}, not {part!r:.60}")
    return errors


def _declared_functions(tools) -> tuple[set[str], list[str]]:
    if tools is None:
        return set(), []
    if not isinstance(tools, list) or not tools:
        return set(), ["tools must be a non-empty list"]
    names, errors = set(), []
    for tool in tools:
        declarations = tool.get("functionDeclarations") if isinstance(tool, dict) else None
        if not isinstance(declarations, list) or set(tool) != {"functionDeclarations"}:
            errors.append(f"each tool must be {{\"functionDeclarations\": [...]}}, not {tool!r:.60}")
            continue
        for d in declarations:
            if not isinstance(d, dict) or not isinstance(d.get("name"), str):
                errors.append(f"a function declaration needs a name: {d!r:.60}")
                continue
            errors += unexpected_keys(d, {"name", "description", "parameters", "response"}, f"function {d['name']}")
            if "parameters" in d and not isinstance(d["parameters"], dict):
                errors.append(f"function {d['name']}: parameters must be a schema object")
            names.add(d["name"])
    return names, errors


def _parts_problems(parts, role: str, where: str, declared: set[str]) -> list[str]:
    if not isinstance(parts, list) or not parts:
        return [f"{where}: parts must be a non-empty list"]
    errors = []
    for j, part in enumerate(parts, start=1):
        at = f"{where}.parts[{j}]"
        kinds = set(part) & PART_KINDS if isinstance(part, dict) else set()
        if not isinstance(part, dict) or len(kinds) != 1 or set(part) - PART_KINDS:
            errors.append(f"{at}: a part holds exactly one of {', '.join(sorted(PART_KINDS))}")
            continue
        kind = kinds.pop()
        value = part[kind]
        if kind == "text" and not isinstance(value, str):
            errors.append(f"{at}: text must be a string")
        elif kind == "fileData" and (not isinstance(value, dict) or set(value) != {"mimeType", "fileUri"}):
            errors.append(f"{at}: fileData must be {{mimeType, fileUri}}")
        elif kind == "functionCall":
            errors += _call_problems(value, "args", role == "model", at, declared)
        elif kind == "functionResponse":
            errors += _call_problems(value, "response", role == "user", at, declared)
    return errors


def _call_problems(value, payload: str, right_role: bool, at: str, declared: set[str]) -> list[str]:
    kind = "functionCall" if payload == "args" else "functionResponse"
    errors = [] if right_role else [f"{at}: a {kind} belongs in a {'model' if payload == 'args' else 'user'} turn"]
    if not isinstance(value, dict) or not isinstance(value.get("name"), str) or set(value) - {"name", payload}:
        return errors + [f"{at}: {kind} must be {{name, {payload}}}"]
    if payload in value and not isinstance(value[payload], dict):
        errors.append(f"{at}: {kind}.{payload} must be an object, not {type(value[payload]).__name__}")
    if payload == "response" and payload not in value:
        errors.append(f"{at}: functionResponse needs a response object")
    if value["name"] not in declared:
        errors.append(f"{at}: function {value['name']!r} is not declared in tools")
    return errors


# --------------------------------------------------------------------------------------------- round trip

def to_chat(record: dict) -> dict:
    """The OpenAI chat example of a Gemini record.

    Function calls get ids `call_1`, `call_2`, ... in order (Gemini has none) and each functionResponse
    answers the earliest unanswered call of its name. A response object {"content": "<text>"} becomes that
    text; any other response object becomes its JSON text.
    """
    messages, pending, n_calls = [], [], 0
    system = record.get("systemInstruction", record.get("system_instruction"))
    if system is not None:
        messages.append({"role": "system", "content": "".join(p["text"] for p in system["parts"])})
    for content in record["contents"]:
        texts = [p["text"] for p in content["parts"] if "text" in p]
        calls = [p["functionCall"] for p in content["parts"] if "functionCall" in p]
        responses = [p["functionResponse"] for p in content["parts"] if "functionResponse" in p]
        if content["role"] == "model":
            message = {"role": "assistant", "content": "".join(texts) if texts else None}
            if calls:
                message["tool_calls"] = []
                for call in calls:
                    n_calls += 1
                    call_id = f"call_{n_calls}"
                    pending.append((call["name"], call_id))
                    message["tool_calls"].append({"id": call_id, "type": "function", "function": {
                        "name": call["name"], "arguments": json.dumps(call.get("args", {}), ensure_ascii=False)}})
            messages.append(message)
            continue
        for response in responses:
            call_id = next((cid for name, cid in pending if name == response["name"]), None)
            pending = [(n, c) for n, c in pending if c != call_id]
            messages.append({"role": "tool", "tool_call_id": call_id, "content": _response_text(response)})
        if texts:
            messages.append({"role": "user", "content": "".join(texts)})
    chat = {"messages": messages}
    if record.get("tools"):
        chat["tools"] = [{"type": "function", "function": {k: v for k, v in d.items() if k != "response"}}
                         for tool in record["tools"] for d in tool["functionDeclarations"]]
    return chat


def _response_text(response: dict) -> str:
    body = response.get("response", {})
    if set(body) == {"content"} and isinstance(body["content"], str):
        return body["content"]
    return json.dumps(body, ensure_ascii=False)
