"""Checker for the destinations that take OpenAI's chat fine-tuning line: `openai`, `azure-openai`, `fireworks`.

The line shape (roles, keys, `weight`, `tools`/`tool_calls`, content parts) is OpenAI's, checked by
tests/openai_format_check.py (written from OpenAI's guide, apart from the pipeline). What differs per
destination is layered on here, each rule from docs/destinations-sources.md:

- file rules: example counts, file size, the UTF-8 byte-order mark (Azure accepts one; the others get none);
- Fireworks: the optional system message must be the first message; `.jsonl` files only;
- per-example token limits per model (OpenAI, Azure), counted with tiktoken (o200k_base, loaded offline from the
  bpe-openai wheel) as OpenAI's cookbook does — an estimate for examples with tools, and said so in the message;
- preference (DPO) files in OpenAI's shape, with each destination's rule on the outputs.

    errors = check_file(path, model="gpt-4.1-nano-2025-04-14", split="train", provider="azure-openai")
    chat = to_chat(record)              # the OpenAI chat example back (a copy)
"""

from __future__ import annotations

import copy
import functools
import gzip
import importlib.util
import json
import tempfile
from pathlib import Path
from unittest import mock

from tests.destination_checkers.common import (
    MIB,
    FileRules,
    check_records,
    preference_to_pair,  # noqa: F401  (this destination's, shared)
    unexpected_keys,
)
from tests.openai_format_check import check_example

PROVIDERS = ("openai", "azure-openai", "fireworks")

FILE_RULES = {
    # OpenAI fine-tuning guide: at least 10 examples; Files API uploads up to 512 MB
    "openai": FileRules(bom="forbid", max_bytes=512 * MIB, min_train=10, max_train=None, max_validation=None),
    # Azure docs: "at least 10 training examples"; "less than 512 MB"; UTF-8 "with a byte-order mark" (accepted
    # either way: see docs/destinations-sources.md, "The byte-order mark")
    "azure-openai": FileRules(bom="allow", max_bytes=512 * MIB - 1, min_train=10, max_train=None,
                              max_validation=None),
    # Fireworks SFT/DPO docs: minimum 3, maximum 3 million examples per dataset
    "fireworks": FileRules(bom="forbid", max_bytes=None, min_train=3, max_train=3_000_000, max_validation=3_000_000),
}

# Training-example context length per base model (tokens).
TOKEN_LIMITS = {
    "openai": {  # OpenAI fine-tuning guide, "Token limits"
        "gpt-4o-mini-2024-07-18": 65_536, "gpt-4o-2024-08-06": 65_536, "gpt-4.1-2025-04-14": 65_536,
        "gpt-4.1-mini-2025-04-14": 65_536, "gpt-4.1-nano-2025-04-14": 65_536,
    },
    "azure-openai": {  # MicrosoftDocs fine-tune-models.md, "Training example context length"
        "gpt-4o-mini-2024-07-18": 65_536, "gpt-4o-2024-08-06": 65_536, "gpt-4.1-2025-04-14": 65_536,
        "gpt-4.1-mini-2025-04-14": 65_536, "gpt-4.1-nano-2025-04-14": 32_768, "o4-mini-2025-04-16": 65_536,
    },
    "fireworks": {},  # per-model maxContextLength; no numbers published in the stored docs
}


def token_limit(provider: str, model: str) -> int | None:
    """The limit for `model` (a dated name, or its family name when only one dated snapshot is listed)."""
    table = TOKEN_LIMITS[provider]
    if model in table:
        return table[model]
    matches = [limit for name, limit in table.items() if name.rsplit("-", 3)[0] == model]
    return matches[0] if len(matches) == 1 else None


def check_file(path: Path, *, model: str | None = None, split: str = "train", provider: str = "openai") -> list[str]:
    """Every problem of a supervised fine-tuning file for `provider`, as 'line N: ...' strings."""
    _known(provider)
    path = Path(path)
    errors = []
    if provider == "fireworks" and path.suffix != ".jsonl":
        errors.append(f"{path.name}: Fireworks takes .jsonl files")
    limit = None
    if model is not None and provider != "fireworks":
        limit = token_limit(provider, model)
        if limit is None:
            errors.append(f"model {model!r}: no published per-example token limit for {provider}")

    def check_record(obj) -> list[str]:
        problems = check_example(obj)
        if not problems and provider == "fireworks":
            problems += _fireworks_rules(obj)
        if not problems and limit is not None:
            problems += _token_limit_problems(obj, limit)
        return problems

    return errors + check_records(path, FILE_RULES[provider], split, check_record)


def _fireworks_rules(obj: dict) -> list[str]:
    # "A message with the system role is optional, but if specified, it must be the first message"
    return [f"message {i}: the system message must be the first message (Fireworks)"
            for i, m in enumerate(obj["messages"], start=1) if m.get("role") == "system" and i != 1]


def _token_limit_problems(obj: dict, limit: int) -> list[str]:
    tokens, estimate = count_tokens(obj)
    if tokens <= limit:
        return []
    how = "estimated" if estimate else "counted"
    return [f"{tokens:,} tokens ({how} as OpenAI's cookbook does) exceed the per-example limit of {limit:,}"]


def count_tokens(obj: dict) -> tuple[int, bool]:
    """OpenAI cookbook's count (o200k_base): 3 per message + each string value (+1 per name) + 3 for the
    reply; `tools` and `tool_calls` are counted as their JSON text, so those counts are estimates."""
    encoding = o200k_encoding()
    estimate = "tools" in obj or "functions" in obj
    total = 3
    for message in obj["messages"]:
        total += 3
        for key, value in message.items():
            if isinstance(value, str):
                total += len(encoding.encode(value, disallowed_special=()))
                total += 1 if key == "name" else 0
            elif key in ("content", "tool_calls", "function_call") and value is not None:
                total += len(encoding.encode(json.dumps(value), disallowed_special=()))
                estimate = True
    for key in ("tools", "functions"):
        if key in obj:
            total += len(encoding.encode(json.dumps(obj[key]), disallowed_special=()))
    return total, estimate


@functools.cache
def o200k_encoding():
    """tiktoken's o200k_base, offline: the BPE file from the `bpe-openai` wheel (a dependency), checked against
    the sha256 tiktoken itself expects; tiktoken's own loader (TIKTOKEN_CACHE_DIR or download) otherwise."""
    import tiktoken
    import tiktoken_ext.openai_public as public
    from tiktoken.load import load_tiktoken_bpe

    packed = importlib.util.find_spec("bpe_openai")
    gz = Path(packed.origin).parent / "data" / "o200k_base.tiktoken.gz" if packed and packed.origin else None
    if gz is None or not gz.is_file():
        return tiktoken.get_encoding("o200k_base")
    local = Path(tempfile.mkdtemp(prefix="o200k-")) / "o200k_base.tiktoken"
    local.write_bytes(gzip.decompress(gz.read_bytes()))

    def from_wheel(url: str, expected_hash: str):
        return load_tiktoken_bpe(str(local), expected_hash=expected_hash)

    with mock.patch.object(public, "load_tiktoken_bpe", from_wheel):
        return tiktoken.Encoding(**public.o200k_base())


def to_chat(record: dict) -> dict:
    """The OpenAI chat example in a record (the same shape: a deep copy of its chat keys)."""
    chat = {"messages": copy.deepcopy(record["messages"])}
    for key in ("tools", "parallel_tool_calls", "functions"):
        if key in record:
            chat[key] = copy.deepcopy(record[key])
    return chat


# ----------------------------------------------------------------------------------------------- preference

PREFERENCE_KEYS = {"input", "preferred_output", "non_preferred_output"}
INPUT_KEYS = {"messages", "tools", "parallel_tool_calls"}
OUTPUT_ROLES = {  # roles allowed in preferred_output / non_preferred_output
    "openai": {"assistant"},             # API reference: a list of assistant messages
    "azure-openai": {"assistant", "tool"},  # Azure DPO doc: "can only have roles in (assistant, tool)"
    "fireworks": {"assistant"},          # Fireworks DPO doc: one assistant message, the last turn
}


def check_preference_file(path: Path, *, model: str | None = None, split: str = "train",
                          provider: str = "openai") -> list[str]:
    """Every problem of a DPO file in OpenAI's preference shape for `provider`."""
    _known(provider)
    return check_records(Path(path), FILE_RULES[provider], split,
                         lambda obj: check_preference_record(obj, provider))


def check_preference_record(obj, provider: str) -> list[str]:
    if not isinstance(obj, dict):
        return ["the line is not a JSON object"]
    errors = unexpected_keys(obj, PREFERENCE_KEYS, "preference record")
    errors += [f"key {k!r} is required" for k in sorted(PREFERENCE_KEYS - set(obj))]
    source = obj.get("input")
    if not isinstance(source, dict):
        return errors + ["input must be an object with messages"]
    errors += unexpected_keys(source, INPUT_KEYS, "input")
    messages = source.get("messages")
    if not isinstance(messages, list) or not messages:
        return errors + ["input.messages must be a non-empty list"]
    prompt = {k: v for k, v in source.items() if k in INPUT_KEYS}
    errors += [f"input: {e}" for e in check_example(prompt) if e != "no assistant message"]
    last = messages[-1]
    if not isinstance(last, dict) or last.get("role") != "user":
        errors.append("input.messages must end on a user message")
    for key in ("preferred_output", "non_preferred_output"):
        if key in obj:
            errors += [f"{key}: {e}" for e in _output_problems(obj[key], provider, source.get("tools"))]
    return errors


def _output_problems(output, provider: str, tools) -> list[str]:
    if not isinstance(output, list) or not output:
        return ["must be a non-empty list of messages"]
    roles = [m.get("role") if isinstance(m, dict) else None for m in output]
    errors = [f"message {i}: role {r!r} is not allowed here (allowed: {', '.join(sorted(OUTPUT_ROLES[provider]))})"
              for i, r in enumerate(roles, start=1) if r not in OUTPUT_ROLES[provider]]
    if "assistant" not in roles:
        errors.append("needs an assistant message")
    if provider == "fireworks" and len(output) != 1:
        errors.append(f"{len(output)} messages; Fireworks takes exactly one assistant message")
    example = {"messages": output, **({"tools": tools} if tools is not None else {})}
    return errors + [e for e in check_example(example) if e != "no assistant message"]




def _known(provider: str) -> None:
    if provider not in PROVIDERS:
        raise ValueError(f"provider must be one of {PROVIDERS}, not {provider!r}")
