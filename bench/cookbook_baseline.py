"""The OpenAI cookbook's data-prep approach, as the fair baseline for validation + token counting:
a plain Python loop that json.loads each line, runs the cookbook's format checks and counts tokens
per message with tiktoken (num_tokens_from_messages: 3 per message, 1 per name, 3 for the reply).
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path

import tiktoken


def run(jsonl: Path) -> dict:
    enc = tiktoken.get_encoding("o200k_base")
    t = time.perf_counter()
    errors: dict[str, int] = defaultdict(int)
    n, total = 0, 0
    with jsonl.open(encoding="utf-8") as f:
        for line in f:
            ex = json.loads(line)
            n += 1
            messages = ex.get("messages")
            if not messages:
                errors["missing_messages_list"] += 1
                continue
            for m in messages:
                if "role" not in m or "content" not in m:
                    errors["message_missing_key"] += 1
                if any(k not in ("role", "content", "name", "function_call", "weight") for k in m):
                    errors["message_unrecognized_key"] += 1
                if m.get("role") not in ("system", "user", "assistant", "function"):
                    errors["unrecognized_role"] += 1
                c = m.get("content")
                if (not c and not m.get("function_call")) or not isinstance(c, (str, type(None))):
                    errors["missing_content"] += 1
            if not any(m.get("role") == "assistant" for m in messages):
                errors["example_missing_assistant_message"] += 1
            tokens = 3
            for m in messages:
                tokens += 3
                for k, v in m.items():
                    if isinstance(v, str):
                        tokens += len(enc.encode(v))
                    if k == "name":
                        tokens += 1
            total += tokens
    seconds = time.perf_counter() - t
    return {"examples": n, "tokens": total, "seconds": round(seconds, 3), "examples_per_s": round(n / seconds),
            "errors": dict(errors)}
