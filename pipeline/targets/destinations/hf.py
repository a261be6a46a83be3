"""Open-weights trainers: TRL, axolotl, LLaMA-Factory, unsloth — conversational `messages` (+ `tools`) lines.

Record (TRL "conversational" dataset type, https://huggingface.co/docs/trl/dataset_formats, read 2026-12-06):
`{"messages": [{"role", "content"}...], "tools": [...]}`. Assistant tool calls are written the way
transformers' chat templates read them (https://huggingface.co/docs/transformers/chat_extras, "Tool use"):
`{"type": "function", "function": {"name", "arguments": {...}}}` with the arguments as a JSON OBJECT — OpenAI's
lines carry them as a JSON string, which Llama-3.1-style templates apply `tojson` to and so double-encode (the
known pitfall); tool results keep `tool_call_id` and gain the function's `name`.
Beside the lines: `dataset_info.json` (a ready LLaMA-Factory entry, data/README.md of hiyouga/LLaMA-Factory:
`formatting: sharegpt` with OpenAI-style tags) and `axolotl.yaml` (a `datasets:` snippet, `type: chat_template`,
axolotl docs "Conversation / chat_template").

Token counts: the model's own tokenizer and chat template (pipeline/chat/open_models): gpt-oss through
openai-harmony, Mistral NeMo through mistral-common, or any model from `target.tokenizer` (a tokenizer.json with
`target.chat_template`, or a local model folder). Trained tokens follow the template's assistant mask.
Per-example limit: the model's context window (model cards, below). Trainers cut earlier by default
(TRL SFTConfig max_length 1024, axolotl sequence_len, LLaMA-Factory cutoff_len 2048): set target.max_tokens to
your trainer's value so over-long examples are handled here, visibly, instead of silently truncated there.
"""

from __future__ import annotations

import json

import yaml

from pipeline.targets import preference_records, rules
from pipeline.targets.base import FileRules, ModelFacts, Sourced

PROVIDER = "hf"
TITLE = "Open-weights trainers (TRL, axolotl, LLaMA-Factory, unsloth)"
DOCS = "https://huggingface.co/docs/trl/dataset_formats"
DEFAULT_MODEL = "gpt-oss-20b"
SUPPORTS = frozenset({"tools"})
AS_OF = "2026-12-06"
TOKENIZER_NOTE = None
FREE = Sourced(None, "open weights: you pay your own compute", AS_OF)
_GPT_OSS = Sourced(131_072, "https://huggingface.co/openai/gpt-oss-20b (config.json max_position_embeddings; "
                   "model card: 128k context)", AS_OF)
MODELS = (
    ModelFacts("gpt-oss-20b", _GPT_OSS, FREE, "open:gpt-oss", snapshots=False),
    ModelFacts("gpt-oss-120b", _GPT_OSS, FREE, "open:gpt-oss", snapshots=False),
    ModelFacts("mistral-nemo", Sourced(131_072, "https://mistral.ai/news/mistral-nemo (context window of up to "
                                       "128k tokens)", AS_OF), FREE, "open:mistral-nemo", snapshots=True),
)
FILES = FileRules(
    min_train=Sourced(1, "no minimum in TRL / axolotl / LLaMA-Factory", AS_OF),
    max_train=Sourced(None, "no maximum", AS_OF),
    max_validation=Sourced(None, "no maximum", AS_OF),
    max_file_bytes=Sourced(None, "no maximum", AS_OF),
    formats=("jsonl",),  # TRL, axolotl and LLaMA-Factory all read it; tool schemas vary per row, which a
    # Parquet column cannot hold without turning them into strings the templates would not read
)
CUSTOM_MODEL_HINT = ("; or any model: set target.tokenizer to its tokenizer.json (with target.chat_template) or "
                     "to a local model folder, and target.max_tokens")


def custom_model(name: str, cfg, tokens_params) -> ModelFacts | None:
    """Any open model whose tokenizer the user points at: counted exactly with it and its template."""
    if not getattr(cfg, "tokenizer", None):
        return None
    return ModelFacts(name, Sourced(None, "not known for a custom model: set target.max_tokens", AS_OF), FREE,
                      "open:custom", snapshots=False)


def check(example: dict) -> list:
    msgs = example.get("messages") or []
    return (rules.roles_allowed(msgs, ("system", "user", "assistant", "tool"))
            or rules.text_only(msgs) or rules.has_trained_reply(msgs))


def _arguments(value):
    """OpenAI's arguments string -> the object templates expect (left as it is when it is not a JSON object)."""
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return value
        return parsed if isinstance(parsed, dict) else value
    return value


def to_record(example: dict) -> dict:
    names: dict[str, str] = {}
    messages = []
    for m in example["messages"]:
        out = {"role": m["role"], "content": m.get("content")}
        if m.get("tool_calls"):
            out["tool_calls"] = []
            for call in m["tool_calls"]:
                fn = call.get("function") or {}
                names[call.get("id")] = fn.get("name")
                out["tool_calls"].append({**({"id": call["id"]} if "id" in call else {}), "type": "function",
                                          "function": {"name": fn.get("name"),
                                                       "arguments": _arguments(fn.get("arguments"))}})
        if m["role"] == "tool":
            out["tool_call_id"] = m.get("tool_call_id")
            if names.get(m.get("tool_call_id")):
                out["name"] = names[m["tool_call_id"]]
        messages.append(out)
    return {"messages": messages, **({"tools": example["tools"]} if example.get("tools") else {})}


def from_record(record: dict) -> dict:
    messages = []
    for m in record["messages"]:
        out = {k: v for k, v in m.items() if not (m["role"] == "tool" and k == "name")}
        if m.get("tool_calls"):
            out["tool_calls"] = [{**c, "function": {**c["function"], "arguments": json.dumps(
                c["function"]["arguments"], ensure_ascii=False, separators=(",", ":"))
                if isinstance(c["function"]["arguments"], dict) else c["function"]["arguments"]}}
                for c in m["tool_calls"]]
        messages.append(out)
    return {"messages": messages, **({"tools": record["tools"]} if "tools" in record else {})}


def extra_files(target, names: dict[str, str], uses_tools: bool) -> dict[str, str]:
    """LLaMA-Factory: `formatting: sharegpt` with OpenAI tags reads plain chats in every version; tool calls are read
    only by its `openai` formatting (OpenAIDatasetConverter: tool_calls -> function turns, tool -> observation),
    used when the data has tools."""
    tags = {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant",
            "system_tag": "system", "observation_tag": "tool"}
    columns = {"messages": "messages", **({"tools": "tools"} if uses_tools else {})}
    info = {f"chatprep_{split}": {"file_name": name, "formatting": "openai" if uses_tools else "sharegpt",
                                  "columns": columns, "tags": tags}
            for split, name in names.items()}
    axolotl = {"datasets": [{"path": names["train"], "ds_type": "json",
                             "type": "chat_template", "field_messages": "messages",
                             "message_property_mappings": {"role": "role", "content": "content"}}],
               "test_datasets": [{"path": names["validation"], "ds_type": "json",
                                  "split": "train", "type": "chat_template", "field_messages": "messages",
                                  "message_property_mappings": {"role": "role", "content": "content"}}]}
    head = (f"# axolotl datasets for {target.model}, written by chatprep (paths relative to this folder;\n"
            "# set sequence_len to at least the report's longest example)\n")
    return {"dataset_info.json": json.dumps(info, indent=2) + "\n",
            "axolotl.yaml": head + yaml.safe_dump(axolotl, sort_keys=False)}


PREFERENCE = Sourced("TRL conversational preference: prompt, chosen, rejected (+ tools)",
                    "https://huggingface.co/docs/trl/dataset_formats (Preference)", AS_OF)


def check_preference(example: dict) -> list:
    return preference_records.check_both(check, example)


def to_preference_record(example: dict) -> dict:
    """TRL's conversational preference record; tool-call arguments as objects, as in the SFT records."""
    chosen, rejected = preference_records.records_of_sides(to_record, example)
    record = {"prompt": chosen["messages"][:-1], "chosen": chosen["messages"][-1:],
              "rejected": rejected["messages"][-1:]}
    return {**record, **({"tools": chosen["tools"]} if chosen.get("tools") else {})}


# LLaMA-Factory's pairwise reader (src/llamafactory/data/converter.py, SharegptDatasetConverter and
# OpenAIDatasetConverter, `ranking` branch, read 2026-12-06) takes `chosen` / `rejected` only as ONE message
# object each, role assistant or function; TRL's lists are not read. Its OpenAI converter turns a prompt message's
# tool_calls into a `function` turn holding json.dumps([call["function"], ...]) and reads `content` on every message.
_LF_TAGS = {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant",
            "system_tag": "system", "observation_tag": "tool", "function_tag": "function"}


def _text(content) -> str:
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content or ""


def _lf_reply(message: dict) -> dict:
    if message.get("tool_calls"):
        return {"role": "function", "content": json.dumps([c["function"] for c in message["tool_calls"]],
                                                          ensure_ascii=False)}
    return {"role": "assistant", "content": _text(message.get("content"))}


def _lf_prompt_message(message: dict) -> dict:
    return {**message, "content": _text(message.get("content"))}


def llamafactory_pair(record: dict) -> dict:
    """One TRL preference record as LLaMA-Factory's ranking record (tools as the list its converter dumps)."""
    out = {"messages": [_lf_prompt_message(m) for m in record["prompt"]], "chosen": _lf_reply(record["chosen"][0]),
           "rejected": _lf_reply(record["rejected"][0])}
    return {**out, **({"tools": record["tools"]} if record.get("tools") else {})}


def preference_extra_files(target, names: dict[str, str], uses_tools: bool, records) -> dict:
    """Beside TRL's prompt/chosen/rejected lines: LLaMA-Factory's ranking files (`llamafactory_<split>.jsonl`)
    with their `dataset_info.json` entries (`ranking: true`), and `axolotl.yaml` for `rl: dpo` with the
    `chat_template.default` strategy, which reads TRL's lines as they are (chosen/rejected: the last message of
    the list; axolotl-ai-cloud/axolotl src/axolotl/prompt_strategies/dpo/chat_template.py)."""
    files, info = {}, {}
    for split, name in names.items():
        lf_name = f"llamafactory_{name}"
        files[lf_name] = (json.dumps(llamafactory_pair(r), ensure_ascii=False) + "\n" for r in records(split))
        info[f"chatprep_{split}"] = {"file_name": lf_name, "formatting": "openai" if uses_tools else "sharegpt",
                                     "ranking": True, "columns": {"messages": "messages", "chosen": "chosen",
                                                                  "rejected": "rejected",
                                                                  **({"tools": "tools"} if uses_tools else {})},
                                     "tags": _LF_TAGS}
    files["dataset_info.json"] = json.dumps(info, indent=2) + "\n"

    def dataset(path: str, extra: dict) -> dict:
        return {"path": path, "ds_type": "json", **extra, "type": "chat_template.default", "field_messages": "prompt",
                "field_chosen": "chosen", "field_rejected": "rejected",
                "message_property_mappings": {"role": "role", "content": "content"}}

    axolotl = {"rl": "dpo", "datasets": [dataset(names["train"], {})],
               "test_datasets": [dataset(names["validation"], {"split": "train"})]}
    head = (f"# axolotl DPO datasets for {target.model}, written by chatprep (paths relative to this folder;\n"
            "# set sequence_len to at least the report's longest pair)\n")
    if uses_tools:
        head += ("# WARNING: these pairs hold tools or tool calls, and axolotl's chat_template.default DPO strategy\n"
                 "# reads only each message's role and content: it would train on them without the tool calls.\n"
                 "# Train these pairs with TRL (train.jsonl) or LLaMA-Factory (dataset_info.json) instead.\n")
    files["axolotl.yaml"] = head + yaml.safe_dump(axolotl, sort_keys=False)
    return files
