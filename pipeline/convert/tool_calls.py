"""ShareGPT tool use -> OpenAI tool calls (conversations layout, option `tool_calls`).

ShareGPT (LLaMA-Factory, glaive): a `function_call` turn holds a call as JSON text
`{"name": ..., "arguments": {...}}` (or a list of them for parallel calls), the next `observation`
turn(s) hold the results, and a `tools` column holds a JSON list of function definitions.
OpenAI: an assistant message with `tool_calls: [{id, type: "function", function: {name, arguments:
<JSON text>}}]`, one `tool` message per call with the matching `tool_call_id`, and top-level
`tools: [{type: "function", function: {...}}]`.

Call ids are generated and stable: `call_` + a hash of (source file, row, message, call index), so a
rerun gives the same ids. Results answer the open calls in order. Anything that cannot be converted
faithfully rejects the conversation with a reason: invalid_tool_call, invalid_tools, unknown_tool,
orphan_tool_result, missing_tool_result.
"""

from __future__ import annotations

import hashlib
import json

from pipeline.convert.turns import Turn
from pipeline.ingest import json_text
from pipeline.ingest.json_text import TooDeeplyNested


def call_id(seed: str, message: int, index: int) -> str:
    return "call_" + hashlib.blake2b(f"{seed}\x00{message}\x00{index}".encode(), digest_size=12).hexdigest()


def _json_text(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def openai_tools(value, where: str) -> tuple[list | None, str | None]:
    """A tools list in OpenAI shape from ShareGPT function definitions (or already OpenAI ones)."""
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        return None, f"{where}: expected a list of function definitions, got {type(value).__name__}"
    out = []
    for n, tool in enumerate(value, start=1):
        fn = tool.get("function") if isinstance(tool, dict) and tool.get("type") == "function" else tool
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"].strip():
            return None, f"{where}, tool {n}: expected an object with a \"name\" (got {_json_text(tool)[:80]})"
        params = fn.get("parameters")
        if params is not None and not isinstance(params, dict):
            return None, f"{where}, tool {n} ({fn['name']}): \"parameters\" must be a JSON schema object"
        out.append({"type": "function", "function": fn})
    return out, None


def _calls(content, where: str, seed: str, n: int) -> tuple[list | None, str | None]:
    if isinstance(content, str):
        try:
            value = json_text.loads(content)
        except json.JSONDecodeError as e:
            return None, f"{where}: invalid JSON in the tool call: {e.msg} at character {e.pos}"
        except TooDeeplyNested as e:
            return None, f"{where}: the tool call: {e}"
    else:
        value = content
    items = value if isinstance(value, list) else [value]
    if not items:
        return None, f"{where}: the tool call is an empty list"
    calls = []
    for k, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"].strip():
            return None, f"{where}: expected {{\"name\": ..., \"arguments\": ...}}, got {_json_text(item)[:80]}"
        args = item.get("arguments", {})
        if isinstance(args, str):
            try:
                json_text.loads(args)
            except json.JSONDecodeError as e:
                return None, f"{where}: the arguments of {item['name']!r} are not valid JSON: {e.msg}"
            except TooDeeplyNested as e:
                return None, f"{where}: the arguments of {item['name']!r}: {e}"
        else:
            args = _json_text(args)
        calls.append({"id": call_id(seed, n, k), "type": "function",
                      "function": {"name": item["name"], "arguments": args}})
    return calls, None


def convert_tool_turns(raw_messages: list[dict], turns: list[Turn], top: dict, opts, role_key: str,
                       where: str, seed: str) -> tuple[list[Turn], dict, tuple[str, str] | None]:
    """Rewrite the call / result turns (1:1 with raw_messages) and the tools. Returns
    (turns, top-level keys, None) or (_, _, (reason, detail))."""
    call_label, result_label = opts.call_label.strip().casefold(), opts.result_label.strip().casefold()
    top = dict(top)
    names: set[str] = set()
    if top.get("tools") is not None:
        tools, err = openai_tools(top["tools"], f"{where}, column 'tools'")
        if err:
            return turns, top, ("invalid_tools", err)
        if tools:
            top["tools"] = tools
            names = {t["function"]["name"] for t in tools}
        else:
            top.pop("tools")
    out: list[Turn] = []
    pending: list[tuple[str, str, int]] = []  # (id, name, message number) of calls awaiting a result
    for n, (raw, turn) in enumerate(zip(raw_messages, turns), start=1):
        label = str(raw.get(role_key, "")).strip().casefold()
        here = f"{where}, message {n} ({raw.get(role_key)})"
        if label == call_label:
            if pending:
                return turns, top, ("missing_tool_result", _unanswered(pending, here))
            calls, err = _calls(turn.message.get("content"), here, seed, n)
            if err:
                return turns, top, ("invalid_tool_call", err)
            unknown = [c["function"]["name"] for c in calls if names and c["function"]["name"] not in names]
            if unknown:
                detail = f"{here}: calls {', '.join(map(repr, unknown))}, which is not in the tools " \
                         f"({', '.join(sorted(names))})"
                return turns, top, ("unknown_tool", detail)
            extra = {k: v for k, v in turn.message.items() if k not in ("role", "content")}
            out.append(Turn({"role": "assistant", "tool_calls": calls, **extra}, turn.rows))
            pending = [(c["id"], c["function"]["name"], n) for c in calls]
        elif label == result_label:
            if not pending:
                return turns, top, ("orphan_tool_result", f"{here}: a tool result with no open tool call before it")
            cid, _, _ = pending.pop(0)
            content = turn.message.get("content")
            content = content if isinstance(content, str) or content is None else _json_text(content)
            out.append(Turn({"role": "tool", "tool_call_id": cid, "content": content if content is not None else ""},
                            turn.rows))
        else:
            if pending:
                return turns, top, ("missing_tool_result", _unanswered(pending, here))
            out.append(turn)
    if pending and out and out[-1].message.get("role") != "assistant":
        return turns, top, ("missing_tool_result", _unanswered(pending, f"{where}, the end of the conversation"))
    return out, top, None


def _unanswered(pending: list[tuple[str, str, int]], here: str) -> str:
    calls = ", ".join(f"{name!r}" for _, name, _ in pending)
    return f"{here}: the tool call(s) {calls} of message {pending[0][2]} have no result before this point"
