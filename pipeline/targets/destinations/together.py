"""Together AI fine-tuning: conversational JSONL, `{"messages": [...], "tools"?: [...]}` and nothing else.

Rules (docs.together.ai/docs/fine-tuning/data-preparation and /function-calling, read 2026-12-06; the messages
mirror `together files check`, togethercomputer/together-python src/together/utils/files.py @ eba5e5f, 2025-12-23,
and the newer together-py constants that add `tools` and the `tool` role):
- "The conversation must start with system or user and alternate user and assistant afterwards"; the SDK
  rejects a role twice in a row ("Invalid role turns ... conversation roles must alternate between
  user/assistant/user/assistant"), so a system message is only ever the first and tool results of parallel
  calls (two `tool` messages in a row) are refused;
- roles system, user, assistant, tool; at least one assistant message; `weight` an integer, 0 or 1;
- no extra columns ('Found extra column "..."'): `parallel_tool_calls`, legacy `functions`, message `name`s,
  `refusal`s are losses (target.lossy); images are a loss too (Together's vision tuning takes base64 images in
  user messages of vision models only, with weight 0 — not carried here).
Weights: Together applies a weight to every message and, when any message has one, trains on the inputs
("train-on-inputs" is switched on to respect the weights). So the record gives every system, user and tool
message `weight: 0` whenever the example has a weight anywhere: trained exactly what OpenAI would train.
Content: lists of text parts are written as one string (parts joined by a newline, as chatprep counts them):
Together treats a list as multimodal and refuses examples mixing the two.
Files: JSONL only — Together's Parquet is pre-tokenized data (input_ids, attention_mask, labels), not chat.
Per-model context: docs.together.ai/docs/fine-tuning-models, "Context Length (SFT)"; counted with the base
model's tokenizer and chat template where chatprep has it offline (gpt-oss), else an o200k_base estimate.
"""

from __future__ import annotations

from dataclasses import replace

from pipeline.chat.texts import message_text
from pipeline.targets import preference_records, rules
from pipeline.targets.base import FileRules, ModelFacts, RuleProblem, Sourced, unpublished
from pipeline.targets.model_tokenizers import ESTIMATE, tokenizer_for

PROVIDER = "together"
TITLE = "Together AI fine-tuning"
DOCS = "https://docs.together.ai/docs/fine-tuning/data-preparation"
DEFAULT_MODEL = "openai/gpt-oss-20b"
SUPPORTS = frozenset({"weights", "tools"})
ROLES = ("system", "user", "assistant", "tool")
AS_OF = "2026-12-06"
MODELS_PAGE = "https://docs.together.ai/docs/fine-tuning-models (LoRA Fine-tuning, Context Length (SFT))"
SDK = "togethercomputer/together-python src/together/utils/files.py and constants.py @ eba5e5f"
SDK_AS_OF = "2025-12-23"
PRICE = unpublished("rates only on together.ai/pricing, by model size, SFT/DPO and LoRA/full; not in the stored "
                    "docs", AS_OF)
TOKENIZER_NOTE = ("Together counts with the base model's own tokenizer and chat template. chatprep does too where it "
                  "has them offline (gpt-oss) or where target.tokenizer (+ target.chat_template) "
                  "points at them; the other models are counted with an o200k_base ESTIMATE")


DPO_LIMIT_SOURCE = ("docs.together.ai/docs/fine-tuning-models, Context Length (DPO), as compiled in "
                    "fine-tuning-targets.md (the page copy is not stored); preference-tuning: LoRA long-context DPO "
                    "\"splits the context in half between the two responses\"")


def _model(name: str, limit: int, family: str | None, dpo_limit: int | None = None) -> ModelFacts:
    return ModelFacts(name=name, max_example_tokens=Sourced(limit, MODELS_PAGE, AS_OF), price_per_million=PRICE,
                      tokenizer=tokenizer_for(family), snapshots=False,
                      preference_max_tokens=Sourced(dpo_limit, DPO_LIMIT_SOURCE, AS_OF) if dpo_limit else None)


MODELS = (
    _model("openai/gpt-oss-20b", 16_384, "gpt-oss", 8_192),
    _model("openai/gpt-oss-120b", 16_384, "gpt-oss", 8_192),
    _model("moonshotai/Kimi-K2-Instruct-0905", 65_536, None),
    _model("moonshotai/Kimi-K2-Instruct", 65_536, None),
    _model("moonshotai/Kimi-K2-Thinking", 65_536, None),
    _model("zai-org/GLM-4.7", 128_000, None),
    _model("zai-org/GLM-4.6", 128_000, None),
    _model("deepseek-ai/DeepSeek-R1-0528", 131_072, None),
)
FILES = FileRules(
    min_train=Sourced(1, f"{SDK}: MIN_SAMPLES = 1", SDK_AS_OF),
    max_train=unpublished("no maximum number of examples in the Together docs or SDK", AS_OF),
    max_validation=unpublished("no maximum number of validation examples in the Together docs or SDK", AS_OF),
    max_file_bytes=Sourced(int(50.1 * 2**30), f"{SDK}: MAX_FILE_SIZE_GB = 50.1 (binary GB; the docs page says "
                           "100 GB, the SDK's check refuses a file over 50.1 GiB before upload)", SDK_AS_OF),
    formats=("jsonl",),
)
CUSTOM_MODEL_HINT = ("; or any other base model of docs.together.ai/docs/fine-tuning-models: set target.max_tokens "
                     "to its Context Length (SFT), and target.tokenizer (a tokenizer.json with target.chat_template, "
                     "or a local model folder) to count exactly instead of an o200k_base estimate")


def custom_model(name: str, cfg, tokens_params) -> ModelFacts | None:
    """A base model not in the table: usable with its context length given as target.max_tokens."""
    if cfg.max_tokens is None and getattr(tokens_params, "max_tokens", None) is None:
        return None
    return ModelFacts(name=name, max_example_tokens=unpublished("not in the table: target.max_tokens", AS_OF),
                      price_per_million=PRICE, tokenizer="open:custom" if cfg.tokenizer else ESTIMATE,
                      snapshots=False)


def with_user_tokenizer(facts: ModelFacts) -> ModelFacts:
    """A table model counted with the tokenizer and template the user gave (target.tokenizer)."""
    return replace(facts, tokenizer="open:custom")


# --------------------------------------------------------------------------------------------- rules


def _turn_order(messages: list) -> list[RuleProblem]:
    out: list[RuleProblem] = []
    if messages and messages[0].get("role") not in ("system", "user"):
        out.append(RuleProblem("first_role", 1, "requires the conversation to start with a system or user "
                               f"message (found {messages[0].get('role')!r})"))
    previous: dict | None = None
    for n, m in enumerate(messages, 1):
        role = m.get("role")
        if role == "system" and n > 1:
            out.append(RuleProblem("system_position", n, "accepts a system message only as the first message"))
        elif previous is not None and role == previous.get("role"):
            what = "tool results of parallel calls cannot follow each other" if role == "tool" else \
                f"two {role} messages in a row"
            out.append(RuleProblem("role_alternation", n, f"requires user/assistant alternation after the system "
                                   f"message ({what})"))
        elif role == "tool" and not (previous and previous.get("role") == "assistant" and previous.get("tool_calls")):
            out.append(RuleProblem("tool_position", n, "requires a tool message right after the assistant "
                                   "message that called the tool"))
        previous = m
    return out


def _weights(messages: list) -> list[RuleProblem]:
    return [RuleProblem("invalid_weight", n, f"requires weight to be the integer 0 or 1 (found {m['weight']!r})")
            for n, m in enumerate(messages, 1) if "weight" in m and (type(m["weight"]) is not int
                                                                       or m["weight"] not in (0, 1))]


def _has_assistant(messages: list) -> list[RuleProblem]:
    if any(m.get("role") == "assistant" for m in messages):
        return []
    return [RuleProblem("no_assistant", None, "requires at least one message with the assistant role")]


def check(example: dict) -> list[RuleProblem]:
    messages = [m for m in example.get("messages") or () if isinstance(m, dict)]
    unknown = rules.roles_allowed(messages, ROLES)
    if unknown:
        return unknown
    return _turn_order(messages) + rules.text_only(messages) + _weights(messages) + _has_assistant(messages)


# ------------------------------------------------------------------------------------------- records


def _content(content):
    """A list of text parts as one string (Together reads a list as multimodal content)."""
    if isinstance(content, list):
        return message_text({"content": content})
    return content


def to_record(example: dict) -> dict:
    weighted = any("weight" in m for m in example["messages"])
    messages = []
    for m in example["messages"]:
        out = {"role": m["role"]}
        if "content" in m:
            out["content"] = _content(m["content"])
        if m["role"] == "assistant" and m.get("tool_calls"):
            out["tool_calls"] = m["tool_calls"]
        if m["role"] == "tool":
            out["tool_call_id"] = m.get("tool_call_id")
        if m["role"] == "assistant" and "weight" in m:
            out["weight"] = m["weight"]
        elif weighted and m["role"] != "assistant":
            out["weight"] = 0  # weights switch on training on the inputs: keep them untrained, as OpenAI does
        messages.append(out)
    return {"messages": messages, **({"tools": example["tools"]} if example.get("tools") else {})}


def from_record(record: dict) -> dict:
    """The chat example back: the weights chatprep adds to non-assistant messages are removed."""
    messages = [{k: v for k, v in m.items() if not (k == "weight" and m.get("role") != "assistant")}
                for m in record["messages"]]
    return {"messages": messages, **({"tools": record["tools"]} if "tools" in record else {})}


PREFERENCE = Sourced("preference_openai: input, preferred_output, non_preferred_output, no other columns; each "
                    "output exactly one assistant message with content",
                    f"https://docs.together.ai/docs/fine-tuning/preference-tuning; {SDK} check_file", SDK_AS_OF)


def check_preference(example: dict) -> list[RuleProblem]:
    return preference_records.check_both(check, example) + preference_records.prompt_ends_on_user(example)


def to_preference_record(example: dict) -> dict:
    return preference_records.openai_record(*preference_records.records_of_sides(to_record, example),
                                            input_keys=("tools",))
