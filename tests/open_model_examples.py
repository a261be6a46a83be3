"""Real conversations from ../shared/realdata as OpenAI chat fine-tuning examples, for the open-model
token-count tests (read at test time, never copied into the repo)."""

from __future__ import annotations

import json
from pathlib import Path

SHAREGPT_ROLES = {"human": "user", "gpt": "assistant", "system": "system"}


def call_id(n: int) -> str:
    """A tool-call id of 9 letters and digits (what Mistral's templates and tokenizers require)."""
    return f"call{n:05d}"


def cookbook_examples(realdata: Path, name: str, nine_char_ids: bool = False) -> list[dict]:
    rows = [json.loads(line) for line in (realdata / "openai-cookbook-ft" / name).read_text().splitlines() if line]
    if nine_char_ids:
        for row_number, row in enumerate(rows):
            for message in row["messages"]:
                for k, call in enumerate(message.get("tool_calls") or []):
                    call["id"] = call_id(row_number * 10 + k)
    return rows


def fastchat_examples(realdata: Path, limit: int) -> list[dict]:
    rows = json.loads((realdata / "fastchat-dummy" / "dummy_conversation.json").read_text())[:limit]
    return [{"messages": [{"role": SHAREGPT_ROLES[t["from"]], "content": t["value"]} for t in row["conversations"]]}
            for row in rows]


def glaive_examples(realdata: Path, limit: int) -> list[dict]:
    """LLaMA-Factory's glaive tool-call demo: ShareGPT turns with function_call / observation, as OpenAI
    tool calls (arguments as a JSON string, as OpenAI writes them) and tool messages."""
    rows = json.loads((realdata / "llamafactory-demo" / "glaive_toolcall_en_demo.json").read_text())[:limit]
    out = []
    for row_number, row in enumerate(rows):
        messages, last_call = [], None
        for k, turn in enumerate(row["conversations"]):
            if turn["from"] == "function_call":
                call = json.loads(turn["value"])
                last_call = call_id(row_number * 100 + k)
                messages.append({"role": "assistant", "tool_calls": [{
                    "id": last_call, "type": "function",
                    "function": {"name": call["name"], "arguments": json.dumps(call["arguments"])}}]})
            elif turn["from"] == "observation":
                messages.append({"role": "tool", "tool_call_id": last_call, "content": turn["value"]})
            else:
                messages.append({"role": SHAREGPT_ROLES[turn["from"]], "content": turn["value"]})
        tools = [{"type": "function", "function": f} for f in json.loads(row["tools"] or "[]")]
        out.append({"messages": messages, **({"tools": tools} if tools else {})})
    return out
