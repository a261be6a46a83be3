"""Checker for Amazon Bedrock / SageMaker fine-tuning files of Amazon Nova models (`bedrock-conversation-2024`),
from the Nova user guide "Preparing data for fine-tuning Understanding models" and AWS's own validator
(aws-samples/amazon-bedrock-samples, custom-models/bedrock-fine-tuning/nova/understanding/dataset_validation/
nova_ft_dataset_validator.py @ 7a8cfea5), which the SageMaker Nova page recommends running before a job.

A line: {"schemaVersion": "bedrock-conversation-2024", "system"?: [{"text"}], "messages": [{"role":
"user"|"assistant", "content": [{"text"} | {"image"} | {"video"}]}]}; at least two messages, alternating,
first user, last assistant; no empty text. The validator rejects text *containing* any of its reserved
strings (the guide says "starts with"; the validator is the stricter, and it is what runs): see RESERVED.
8 to 20,000 records per training file for Micro, Lite and Pro. Tool use is not supported in Nova SFT
("Adding tool sections might cause your job to fail"), so toolUse/toolResult blocks are errors here.

DPO (Nova user guide, "Direct preference optimization"): like SFT, but the final assistant turn holds
"candidates": [{"content": [...], "preferenceLabel": "preferred"}, {..., "preferenceLabel": "non-preferred"}].
"""

from __future__ import annotations

from pathlib import Path

from tests.destination_checkers.common import FileRules, check_records, unexpected_keys

SCHEMA_VERSION = "bedrock-conversation-2024"
RESERVED = ("System:", "SYSTEM:", "User:", "USER:", "Bot:", "BOT:", "Assistant:", "ASSISTANT:", "Thought:",
            "[EOS]", "<image>", "<video>")
RECORD_BOUNDS = {"micro": (8, 20_000), "lite": (8, 20_000), "pro": (8, 20_000)}  # MODEL_TO_NUM_SAMPLES_MAP
CONTENT_KINDS = {"text", "image", "video"}
IMAGE_FORMATS, VIDEO_FORMATS = ("jpeg", "png", "gif", "webp"), ("mov", "mkv", "mp4", "webm")
MAX_IMAGES = 10


def file_rules(model: str | None) -> FileRules:
    family = next((f for f in RECORD_BOUNDS if model and f in model.lower()), "lite")
    low, high = RECORD_BOUNDS[family]
    # no file-size or validation-count limit in the stored docs (Bedrock quotas are per account)
    return FileRules(bom="forbid", max_bytes=None, min_train=low, max_train=high, max_validation=None)


def check_file(path: Path, *, model: str | None = None, split: str = "train") -> list[str]:
    """Every problem of a Nova SFT file. `model`: e.g. "amazon.nova-micro-v1:0" (Micro takes no images)."""
    micro = bool(model and "micro" in model.lower())
    return check_records(Path(path), file_rules(model), split, lambda obj: check_record(obj, micro=micro))


def check_preference_file(path: Path, *, model: str | None = None, split: str = "train") -> list[str]:
    micro = bool(model and "micro" in model.lower())
    return check_records(Path(path), file_rules(model), split,
                         lambda obj: check_record(obj, micro=micro, preference=True))


def check_record(obj, *, micro: bool = False, preference: bool = False) -> list[str]:
    if not isinstance(obj, dict):
        return ["the line is not a JSON object"]
    errors = unexpected_keys(obj, {"schemaVersion", "system", "messages"}, "record")
    if obj.get("schemaVersion") != SCHEMA_VERSION:
        errors.append(f"schemaVersion must be {SCHEMA_VERSION!r}, not {obj.get('schemaVersion')!r}")
    if "system" in obj:
        system = obj["system"]
        if not isinstance(system, list):
            errors.append("system must be a list of {\"text\": ...} blocks")
        else:
            for block in system:
                if not isinstance(block, dict) or set(block) != {"text"} or not isinstance(block["text"], str):
                    errors.append(f"system: each block must be {{\"text\": string}}, not {block!r:.60}")
                else:
                    errors += [f"system: {e}" for e in reserved_problems(block["text"])]
    messages = obj.get("messages")
    if not isinstance(messages, list):
        return errors + ["messages must be a list"]
    if len(messages) < 2:
        errors.append("messages needs both a user and an assistant message")
    for i, message in enumerate(messages, start=1):
        where = f"message {i}"
        if not isinstance(message, dict):
            errors.append(f"{where}: not an object")
            continue
        expected = "user" if i % 2 else "assistant"
        if message.get("role") != expected:
            errors.append(f"{where}: expected role {expected!r}, found {message.get('role')!r} "
                          "(user and assistant alternate, starting with user)")
        final_candidates = preference and i == len(messages)
        keys = {"role", "candidates"} if final_candidates else {"role", "content"}
        errors += unexpected_keys(message, keys, where)
        if final_candidates:
            errors += _candidates_problems(message.get("candidates"), where)
        else:
            errors += _content_problems(message.get("content"), message.get("role"), where, micro)
    if messages and isinstance(messages[-1], dict) and messages[-1].get("role") != "assistant":
        errors.append("the last message must be the assistant's")
    return errors


def reserved_problems(text: str) -> list[str]:
    found = [token for token in RESERVED if token in text]
    return [f"reserved string(s) {', '.join(found)} in the text (Nova rejects them)"] if found else []


def _content_problems(content, role, where: str, micro: bool) -> list[str]:
    if not isinstance(content, list) or not content:
        return [f"{where}: content must be a non-empty list of blocks"]
    errors, images, videos, text_length = [], 0, 0, 0
    for block in content:
        kinds = set(block) if isinstance(block, dict) else set()
        if not kinds or not kinds <= CONTENT_KINDS or len(kinds) != 1:
            errors.append(f"{where}: each block holds one of text, image, video, not {block!r:.60}")
            continue
        kind = kinds.pop()
        if kind == "text":
            if not isinstance(block["text"], str):
                errors.append(f"{where}: text must be a string")
                continue
            text_length += len(block["text"])
            errors += [f"{where}: {e}" for e in reserved_problems(block["text"])]
        else:
            images += kind == "image"
            videos += kind == "video"
            errors += _media_problems(block[kind], kind, where)
    if not images and not videos and text_length == 0:
        errors.append(f"{where}: empty text content")
    if (images or videos) and role == "assistant":
        errors.append(f"{where}: images and videos cannot be in an assistant message")
    if (images or videos) and micro:
        errors.append(f"{where}: Nova Micro takes no images or videos")
    if images and videos:
        errors.append(f"{where}: a message cannot hold both images and a video")
    if videos > 1:
        errors.append(f"{where}: only one video per sample")
    if images > MAX_IMAGES:
        errors.append(f"{where}: {images} images; at most {MAX_IMAGES}")
    return errors


def _media_problems(media, kind: str, where: str) -> list[str]:
    formats = IMAGE_FORMATS if kind == "image" else VIDEO_FORMATS
    uri = media.get("source", {}).get("s3Location", {}).get("uri") if isinstance(media, dict) else None
    errors = []
    if not isinstance(media, dict) or str(media.get("format", "")).lower() not in formats:
        errors.append(f"{where}: {kind} format must be one of {', '.join(formats)}")
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        errors.append(f"{where}: {kind}.source.s3Location.uri must be an s3:// URI")
    return errors


def _candidates_problems(candidates, where: str) -> list[str]:
    if not isinstance(candidates, list) or len(candidates) != 2:
        return [f"{where}: candidates must be a list of two (preferred and non-preferred)"]
    errors = []
    labels = []
    for candidate in candidates:
        if not isinstance(candidate, dict) or set(candidate) != {"content", "preferenceLabel"}:
            errors.append(f"{where}: each candidate is {{content, preferenceLabel}}")
            continue
        labels.append(candidate["preferenceLabel"])
        errors += _content_problems(candidate["content"], "assistant", f"{where} candidate", micro=False)
    if sorted(labels) != ["non-preferred", "preferred"] and not errors:
        errors.append(f"{where}: preferenceLabel values must be one 'preferred' and one 'non-preferred', "
                      f"not {labels}")
    return errors


# --------------------------------------------------------------------------------------------- round trip

def _text(blocks: list) -> str:
    return "\n".join(b["text"] for b in blocks if "text" in b)


def to_chat(record: dict) -> dict:
    """The OpenAI chat example of a Nova record: text blocks of one message joined with a newline."""
    messages = [{"role": "system", "content": _text(record["system"])}] if record.get("system") else []
    messages += [{"role": m["role"], "content": _text(m["content"])} for m in record["messages"]]
    return {"messages": messages}


def preference_to_pair(record: dict) -> dict:
    chat = to_chat({**record, "messages": record["messages"][:-1]})
    by_label = {c["preferenceLabel"]: c for c in record["messages"][-1]["candidates"]}
    return {"prompt": chat["messages"],
            "chosen": [{"role": "assistant", "content": _text(by_label["preferred"]["content"])}],
            "rejected": [{"role": "assistant", "content": _text(by_label["non-preferred"]["content"])}]}
