"""The two trainer configs that come with an hf file, checked against the data file they point at.

LLaMA-Factory `dataset_info.json` entry — data/README.md (hiyouga/LLaMA-Factory @ 015ff251) and
src/llamafactory/data/parser.py, converter.py: a local file is `file_name`; messages are read with
`formatting: sharegpt` (documented for OpenAI-style messages with `tags` role/content/user/assistant/system)
or `formatting: openai` (the OpenAIDatasetConverter of newer versions: assistant `tool_calls` become a
function turn, `tool` turns an observation). The check replays the converter's own acceptance rule on every
record: after an optional system turn, user/observation turns at odd positions, assistant/function turns at
even positions, an even count (odd for `ranking`), string contents. With `sharegpt`, `tools` must be a JSON
*string* (the template json.loads it).

axolotl `datasets:` snippet — docs/dataset-formats/conversation.qmd and docs/config.qmd
(axolotl-ai-cloud/axolotl @ 08d99fe5): `type: chat_template`, `field_messages` (default `messages`),
`message_property_mappings` {role, content} (or the older message_field_role/_content), `roles_to_train`,
`train_on_eos` (turn | last | all), `message_field_training`, `field_tools`.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

LF_KEYS = {"hf_hub_url", "ms_hub_url", "om_hub_url", "script_url", "cloud_file_name", "file_name", "formatting",
           "ranking", "subset", "split", "folder", "num_samples", "columns", "tags"}
LF_COLUMNS = {"prompt", "query", "response", "history", "messages", "system", "tools", "images", "videos",
              "audios", "chosen", "rejected", "kto_tag"}
LF_TAG_DEFAULTS = {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt",
                   "observation_tag": "observation", "function_tag": "function_call", "system_tag": "system"}
AXOLOTL_KEYS = {"path", "type", "ds_type", "data_files", "split", "name", "field_messages", "field_tools",
                "message_property_mappings", "message_field_role", "message_field_content", "roles_to_train",
                "train_on_eos", "message_field_training", "message_field_training_detail", "chat_template",
                "chat_template_jinja", "roles", "drop_system_message"}


def load_records(data_path: Path) -> list[dict]:
    """A JSON array file or a JSONL file (what both trainers load through `datasets`' json builder)."""
    text = Path(data_path).read_text(encoding="utf-8")
    if Path(data_path).suffix == ".json":
        return json.loads(text)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


# ----------------------------------------------------------------------------------------- LLaMA-Factory

def check_llamafactory_entry(entry, data_path: Path) -> list[str]:
    """Problems of one dataset_info.json entry (the value under the dataset's name) for the file `data_path`."""
    if not isinstance(entry, dict):
        return ["the entry must be an object"]
    errors = [f"entry: unknown key {k!r}" for k in entry if k not in LF_KEYS]
    if Path(str(entry.get("file_name", ""))).name != Path(data_path).name:
        errors.append(f"file_name {entry.get('file_name')!r} does not name the data file {Path(data_path).name!r}")
    formatting = entry.get("formatting", "alpaca")
    if formatting not in ("sharegpt", "openai"):
        errors.append(f"formatting {formatting!r}: messages files need 'sharegpt' (or 'openai')")
    ranking = entry.get("ranking", False)
    if not isinstance(ranking, bool):
        errors.append("ranking must be true or false")
    columns = entry.get("columns", {})
    tags = {**LF_TAG_DEFAULTS, **entry.get("tags", {})}
    errors += [f"columns: unknown column key {k!r}" for k in columns if k not in LF_COLUMNS]
    errors += [f"tags: unknown tag key {k!r}" for k in entry.get("tags", {}) if k not in LF_TAG_DEFAULTS]
    if errors:
        return errors
    for number, record in enumerate(load_records(data_path), start=1):
        errors += [f"record {number}: {e}" for e in _llamafactory_record(record, formatting, ranking, columns, tags)]
    return errors


def _llamafactory_record(record: dict, formatting: str, ranking: bool, columns: dict, tags: dict) -> list[str]:
    key = columns.get("messages", "conversations")
    messages = record.get(key)
    if not isinstance(messages, list):
        return [f"column {key!r} (columns.messages) is missing or not a list"]
    role, content = tags["role_tag"], tags["content_tag"]
    if any(not isinstance(m, dict) or role not in m for m in messages):
        return [f"every message needs the role_tag key {role!r}"]
    side_errors = []
    for side in ("chosen", "rejected") if ranking else ():
        value = record.get(columns.get(side, side))
        if not isinstance(value, dict) or _lf_role(value.get(role), tags) not in ("assistant", "function") \
                or not isinstance(value.get(content), str):
            side_errors.append(f"column {columns.get(side, side)!r} (columns.{side}) must be one message object "
                               f"{{{role!r}: assistant tag, {content!r}: text}}, not {value!r:.60}")
    offset = 0
    if messages and messages[0][role] == tags["system_tag"]:
        messages, offset = messages[1:], 1
    aligned, lost = [], []
    for i, m in enumerate(messages, start=1 + offset):
        r = m[role]
        if m.get("tool_calls") and r == tags["assistant_tag"]:
            if formatting == "openai":
                aligned.append(("function", json.dumps([c["function"] for c in m["tool_calls"]])))
                continue
            lost.append(f"message {i}: tool_calls are not read with formatting sharegpt (the call is lost; "
                        "use formatting openai)")
        aligned.append((_lf_role(r, tags), m.get(content)))
    if formatting == "openai":  # consecutive observations are merged into one turn
        merged = []
        for r, c in aligned:
            if r == "observation" and merged and merged[-1][0] == "observation":
                continue
            merged.append((r, c))
        aligned = merged
    errors = side_errors + lost
    for i, (r, c) in enumerate(aligned, start=1):
        accepted = ("user", "observation") if i % 2 else ("assistant", "function")
        if r not in accepted:
            errors.append(f"turn {i}: role {r!r} where LLaMA-Factory accepts {' or '.join(accepted)}")
        if not isinstance(c, str):
            errors.append(f"turn {i}: content_tag {content!r} must hold a string")
    if (len(aligned) % 2 != 0) != ranking:
        errors.append(f"{len(aligned)} turns after the system turn: "
                      f"{'odd for a ranking entry' if ranking else 'even (ending on the assistant)'} is required")
    if "tools" in columns and columns["tools"] in record:
        tools = record[columns["tools"]]
        if formatting == "sharegpt" and not _is_json_text(tools):
            errors.append(f"column {columns['tools']!r}: with formatting sharegpt, tools must be a JSON string")
    elif any(m.get("tool_calls") for m in messages) or any(m[role] == tags["observation_tag"] for m in messages):
        errors.append("the record uses tools but the entry declares no columns.tools")
    return errors


def _lf_role(tag_value, tags: dict) -> str | None:
    names = {"user_tag": "user", "assistant_tag": "assistant", "observation_tag": "observation",
             "function_tag": "function", "system_tag": "system"}
    return next((name for tag, name in names.items() if tags[tag] == tag_value), None)


def _is_json_text(value) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return isinstance(json.loads(value), list)
    except ValueError:
        return False


# -------------------------------------------------------------------------------------------------- axolotl

def check_axolotl_snippet(snippet, data_path: Path) -> list[str]:
    """Problems of an axolotl config fragment (YAML text or its parsed dict) whose `datasets:` reads `data_path`."""
    config = yaml.safe_load(snippet) if isinstance(snippet, str) else snippet
    if not isinstance(config, dict) or not isinstance(config.get("datasets"), list) or not config["datasets"]:
        return ["the snippet needs a non-empty `datasets:` list"]
    errors = []
    for n, ds in enumerate(config["datasets"], start=1):
        errors += [f"datasets[{n}]: {e}" for e in _axolotl_dataset(ds, data_path)]
    return errors


def _axolotl_dataset(ds, data_path: Path) -> list[str]:
    if not isinstance(ds, dict):
        return ["must be a mapping"]
    errors = [f"unknown key {k!r}" for k in ds if k not in AXOLOTL_KEYS]
    if Path(str(ds.get("path", ""))).name != Path(data_path).name:
        errors.append(f"path {ds.get('path')!r} does not name the data file {Path(data_path).name!r}")
    if ds.get("type") != "chat_template":
        errors.append(f"type must be chat_template, not {ds.get('type')!r}")
    if ds.get("ds_type", "json") != "json":
        errors.append(f"ds_type {ds.get('ds_type')!r}: the file is JSON lines (ds_type: json)")
    if ds.get("train_on_eos", "turn") not in ("turn", "last", "all"):
        errors.append(f"train_on_eos must be turn, last or all, not {ds.get('train_on_eos')!r}")
    mappings = ds.get("message_property_mappings") or {}
    role_key = mappings.get("role", ds.get("message_field_role", "role"))
    content_key = mappings.get("content", ds.get("message_field_content", "content"))
    field, tools_field = ds.get("field_messages", "messages"), ds.get("field_tools")
    training = ds.get("message_field_training")
    roles_to_train = ds.get("roles_to_train", ["assistant"]) or []
    if errors:
        return errors
    roles_seen = set()
    for number, record in enumerate(load_records(data_path), start=1):
        messages = record.get(field)
        if not isinstance(messages, list):
            errors.append(f"record {number}: field_messages {field!r} is missing or not a list")
            continue
        for i, m in enumerate(messages, start=1):
            if role_key not in m or (content_key not in m and not m.get("tool_calls")):
                errors.append(f"record {number} message {i}: needs keys {role_key!r} and {content_key!r}")
            roles_seen.add(m.get(role_key))
            if training and training in m and not isinstance(m[training], bool):
                errors.append(f"record {number} message {i}: {training!r} must be true or false")
        if tools_field and not isinstance(record.get(tools_field, []), list):
            errors.append(f"record {number}: field_tools {tools_field!r} must be a list")
    errors += [f"roles_to_train: role {r!r} never occurs in the data" for r in roles_to_train if r not in roles_seen]
    return errors


# axolotl DPO: src/axolotl/prompt_strategies/dpo/chat_template.py (`default`, axolotl-ai-cloud/axolotl @ 1377ccc3):
# `rl: dpo`, `type: chat_template.default`; field_messages (default messages: a list, or a string = one user
# turn), field_chosen / field_rejected (default chosen / rejected: a string, a message, or a list whose LAST
# message is taken); every role must be in `roles` (default user, assistant, system, tool); it reads `role` and
# `content` only.
AXOLOTL_DPO_KEYS = {"path", "type", "ds_type", "data_files", "split", "name", "field_messages", "field_chosen",
                    "field_rejected", "message_property_mappings", "roles", "chat_template", "chat_template_jinja"}
AXOLOTL_DPO_ROLES = {"user": ["user"], "assistant": ["assistant"], "system": ["system"], "tool": ["tool"]}


def check_axolotl_dpo(snippet, data_paths: dict[str, Path]) -> list[str]:
    """Problems of an axolotl DPO config (YAML text): `rl: dpo`, and each of `datasets` / `test_datasets` reads
    its file (data_paths: {"datasets": path, "test_datasets": path}) the way chat_template.default does."""
    config = yaml.safe_load(snippet) if isinstance(snippet, str) else snippet
    if not isinstance(config, dict) or config.get("rl") != "dpo":
        return ["the config needs `rl: dpo`"]
    errors = []
    for key, path in data_paths.items():
        entries = config.get(key)
        if not isinstance(entries, list) or len(entries) != 1:
            errors.append(f"{key}: one dataset expected")
            continue
        errors += [f"{key}[1]: {e}" for e in _axolotl_dpo_dataset(entries[0], path)]
    return errors


def _axolotl_dpo_dataset(ds: dict, data_path: Path) -> list[str]:
    errors = [f"unknown key {k!r}" for k in ds if k not in AXOLOTL_DPO_KEYS]
    if Path(str(ds.get("path", ""))).name != Path(data_path).name:
        errors.append(f"path {ds.get('path')!r} does not name the data file {Path(data_path).name!r}")
    if ds.get("type") != "chat_template.default":
        errors.append(f"type must be chat_template.default, not {ds.get('type')!r}")
    mappings = ds.get("message_property_mappings", {"role": "role", "content": "content"})
    role_map = {source: target for target, sources in ds.get("roles", AXOLOTL_DPO_ROLES).items() for source in sources}
    if errors:
        return errors
    for number, record in enumerate(load_records(data_path), start=1):
        messages = record.get(ds.get("field_messages", "messages"))
        if isinstance(messages, str):
            messages = [{mappings["role"]: "user", mappings["content"]: messages}]
        sides = {}
        for side in ("chosen", "rejected"):
            raw = record.get(ds.get(f"field_{side}", side))
            sides[side] = ({mappings["role"]: "assistant", mappings["content"]: raw} if isinstance(raw, str)
                           else raw if isinstance(raw, dict) else raw[-1] if isinstance(raw, list) and raw else None)
        if not isinstance(messages, list) or any(v is None for v in sides.values()):
            errors.append(f"record {number}: the prompt must be a list or string and each side a string, "
                          "message or non-empty list")
            continue
        for where, m in [*((f"prompt message {i}", m) for i, m in enumerate(messages, 1)), *sides.items()]:
            if mappings["role"] not in m or mappings["content"] not in m:
                errors.append(f"record {number} {where}: needs keys {mappings['role']!r} and {mappings['content']!r}")
            elif m[mappings["role"]] not in role_map:
                errors.append(f"record {number} {where}: role {m[mappings['role']]!r} is not in roles")
    return errors
