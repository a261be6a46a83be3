"""Checker for open-weights training files (TRL, axolotl, LLaMA-Factory, unsloth): conversational JSONL.

From TRL's "Dataset formats and types" (huggingface.co/docs/trl/dataset_formats): language modeling
{"messages": [{"role", "content"}, ...]}, preference {"prompt": [...], "chosen": [...], "rejected": [...]}
(conversational); a `tools` column holds the function schemas (transformers' chat templates take them as
`tools=`). Tool calls follow transformers' chat-template convention: an assistant message with
`tool_calls: [{"type": "function", "function": {"name", "arguments": {...}}}]` — `arguments` is an *object*.
OpenAI's JSON *string* here is the known pitfall: Llama-3.1-style templates apply `tojson` to it and the
model trains on double-encoded JSON; this checker rejects a string.

Checker rules that are choices, said here: a system message only first; the first other message is the
user's; the last message is the assistant's (what is trained); no keys beyond these (a per-message training
flag is allowed only when named: `extra_message_keys=("train",)`, matching axolotl's
`message_field_training`). There is no file-size or count limit; the trainer's length caps (TRL max_length,
axolotl sequence_len, LLaMA-Factory cutoff_len) are run settings, not file rules.

The LLaMA-Factory `dataset_info.json` entry and the axolotl `datasets:` snippet are checked against the data
file in hf_configs.py (re-exported here).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

from tests.destination_checkers.common import FileRules, check_records, unexpected_keys
from tests.destination_checkers.hf_configs import check_axolotl_snippet, check_llamafactory_entry

__all__ = [
    "check_axolotl_snippet",
    "check_file",
    "check_llamafactory_entry",
    "check_messages",
    "check_preference_file",
    "check_record",
    "preference_to_pair",
    "to_chat",
]

FILE_RULES = FileRules(bom="forbid", max_bytes=None, min_train=1, max_train=None, max_validation=None)
ROLE_KEYS = {
    "system": {"role", "content"},
    "user": {"role", "content"},
    "assistant": {"role", "content", "tool_calls"},
    "tool": {"role", "content", "tool_call_id", "name"},
}


def check_file(path: Path, *, model: str | None = None, split: str = "train",
               extra_message_keys: tuple[str, ...] = ()) -> list[str]:
    """Every problem of a TRL conversational file ({"messages"[, "tools"]} per line)."""
    return check_records(Path(path), FILE_RULES, split, lambda obj: check_record(obj, extra_message_keys))


def check_record(obj, extra_message_keys: tuple[str, ...] = ()) -> list[str]:
    if not isinstance(obj, dict):
        return ["the line is not a JSON object"]
    errors = unexpected_keys(obj, {"messages", "tools"}, "record")
    errors += _tools_problems(obj.get("tools"))
    messages = obj.get("messages")
    errors += check_messages(messages, "messages", extra_message_keys, first_role="user", require_assistant=True)
    if isinstance(messages, list) and messages and isinstance(messages[-1], dict) \
            and messages[-1].get("role") != "assistant":
        errors.append("the last message must be the assistant's")
    return errors


def check_messages(messages, where: str, extra_message_keys: tuple[str, ...] = (), *,
                   first_role: str | None, require_assistant: bool = False) -> list[str]:
    """Problems of a list of messages; `first_role`: the role the first non-system message must have."""
    if not isinstance(messages, list) or not messages:
        return [f"{where} must be a non-empty list of messages"]
    errors, call_ids = [], set()
    roles = [m.get("role") if isinstance(m, dict) else None for m in messages]
    for i, (m, role) in enumerate(zip(messages, roles), start=1):
        at = f"{where}[{i}]"
        if role not in ROLE_KEYS:
            errors.append(f"{at}: role must be one of {', '.join(ROLE_KEYS)}, not {role!r}")
            continue
        errors += unexpected_keys(m, ROLE_KEYS[role] | set(extra_message_keys), at)
        if role == "system" and i != 1:
            errors.append(f"{at}: a system message may only be the first message")
        calls = m.get("tool_calls")
        if role == "assistant" and calls is not None:
            errors += _tool_calls_problems(calls, at, call_ids)
        content = m.get("content")
        if not isinstance(content, str) and not (role == "assistant" and calls and content is None):
            errors.append(f"{at}: content must be a string")
        if role == "tool" and "tool_call_id" in m and m["tool_call_id"] not in call_ids:
            errors.append(f"{at}: tool_call_id {m['tool_call_id']!r} answers no earlier tool call")
    others = [r for r in roles if r != "system"]
    if first_role and others and others[0] != first_role:
        errors.append(f"{where}: the first message after the system message must be the {first_role}'s")
    if require_assistant and "assistant" not in roles:
        errors.append(f"{where}: no assistant message")
    return errors


def _tool_calls_problems(calls, at: str, call_ids: set) -> list[str]:
    if not isinstance(calls, list) or not calls:
        return [f"{at}: tool_calls must be a non-empty list"]
    errors = []
    for call in calls:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or call.get("type", "function") != "function" \
                or set(call) - {"id", "type", "function"} or set(function) - {"name", "arguments"} \
                or not isinstance(function.get("name"), str):
            errors.append(f"{at}: bad tool call {call!r:.80}")
            continue
        if isinstance(function.get("arguments"), str):
            errors.append(f"{at}: tool call {function['name']!r}: arguments must be a JSON object, not a string "
                          "(chat templates apply tojson to it: double-encoded JSON)")
        elif not isinstance(function.get("arguments"), dict):
            errors.append(f"{at}: tool call {function['name']!r}: arguments must be a JSON object")
        if "id" in call:
            call_ids.add(call["id"])
    return errors


def _tools_problems(tools) -> list[str]:
    if tools is None:
        return []
    if not isinstance(tools, list) or not tools:
        return ["tools must be a non-empty list (leave the key out when there are none)"]
    errors = []
    for tool in tools:
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or tool.get("type") != "function" or set(tool) != {"type", "function"} \
                or not isinstance(function.get("name"), str) \
                or set(function) - {"name", "description", "parameters", "strict"}:
            errors.append(f"bad tool {tool!r:.80} (type 'function' and function name/description/parameters)")
        elif "parameters" in function and not isinstance(function["parameters"], dict):
            errors.append(f"tool {function['name']!r}: parameters must be a JSON Schema object")
    return errors


def check_preference_file(path: Path, *, model: str | None = None, split: str = "train") -> list[str]:
    """Every problem of a TRL conversational preference file ({"prompt", "chosen", "rejected"[, "tools"]})."""
    return check_records(Path(path), FILE_RULES, split, check_preference_record)


def check_preference_record(obj) -> list[str]:
    if not isinstance(obj, dict):
        return ["the line is not a JSON object"]
    keys = {"prompt", "chosen", "rejected"}
    errors = unexpected_keys(obj, keys | {"tools"}, "record")
    errors += [f"key {k!r} is required" for k in sorted(keys - set(obj))]
    errors += _tools_problems(obj.get("tools"))
    prompt = obj.get("prompt")
    errors += check_messages(prompt, "prompt", first_role="user")
    if isinstance(prompt, list) and prompt and isinstance(prompt[-1], dict) \
            and prompt[-1].get("role") not in ("user", "tool"):
        errors.append("prompt must end on a user (or tool) message")
    for key in ("chosen", "rejected"):
        side = obj.get(key)
        errors += check_messages(side, key, first_role=None)
        if isinstance(side, list) and side and (not isinstance(side[0], dict) or side[0].get("role") != "assistant"):
            errors.append(f"{key} must start with an assistant message")
    return errors


def to_chat(record: dict) -> dict:
    """The OpenAI chat example: tool-call arguments back to JSON strings, ids kept where present."""
    messages = copy.deepcopy(record["messages"])
    for m in messages:
        for call in m.get("tool_calls") or []:
            call.setdefault("type", "function")
            args = call["function"].get("arguments")
            if not isinstance(args, str):
                call["function"]["arguments"] = json.dumps(args, ensure_ascii=False)
    chat = {"messages": messages}
    if "tools" in record:
        chat["tools"] = copy.deepcopy(record["tools"])
    return chat


def preference_to_pair(record: dict) -> dict:
    pair = {key: to_chat({"messages": record[key]})["messages"] for key in ("prompt", "chosen", "rejected")}
    if "tools" in record:
        pair["tools"] = copy.deepcopy(record["tools"])
    return pair
