"""Fireworks AI supervised fine-tuning: OpenAI's chat line (`messages` with `weight` 0/1, `tools`/`tool_calls`).

Sources (stored copies read 2026-12-06; the Fireworks pages are undated):
- docs.fireworks.ai/fine-tuning/fine-tuning-models: "Minimum examples: 3", "Maximum examples: 3 million per
  dataset", "File format: .jsonl"; roles system, user, assistant, "A message with the system role is optional, but
  if specified, it must be the first message of the conversation"; `weight` 0 or 1; function-calling datasets
  with a list of `tools`. docs.fireworks.ai/fine-tuning: "the same messages array with role, content, tool_calls,
  and weight fields ... existing SFT datasets with no conversion".
- a single-request upload takes up to 150 MB (docs.fireworks.ai/api-reference/upload-dataset-files); larger files go
  through the upload endpoint, so no file-size maximum is applied.
- training price (fireworks.ai/pricing): $0.50 per 1M training tokens for models up to 16B parameters, $3.00 for
  16.1B-80B (dense models; mixture-of-experts models other than Mixtral 8x7B are not priced there).
- per-model "Max supported context length" (docs.fireworks.ai/fine-tuning/managed-finetuning-intro, generated from
  a live registry): only a few rows are in the stored copy. gpt-oss is bounded by its context window (131,072, the
  model page), which a training example cannot exceed; the others are "not published" here (set target.max_tokens
  to the value `firectl model get` or that page shows).
Losses (not in the documented schema): message `name`s, `refusal`s, legacy `functions`, images (text models).
Tokens: the base model's tokenizer and chat template where chatprep has them offline (gpt-oss), else an
o200k_base estimate, said wherever counts are shown.
"""

from __future__ import annotations

from dataclasses import replace

from pipeline.targets import preference_records, rules
from pipeline.targets.base import FileRules, ModelFacts, RuleProblem, Sourced, unpublished
from pipeline.targets.model_tokenizers import ESTIMATE, tokenizer_for

PROVIDER = "fireworks"
TITLE = "Fireworks AI fine-tuning"
DOCS = "https://docs.fireworks.ai/fine-tuning/fine-tuning-models"
PREFIX = "accounts/fireworks/models/"
DEFAULT_MODEL = PREFIX + "gpt-oss-20b"
SUPPORTS = frozenset({"weights", "tools", "parallel_tool_calls"})
ROLES = ("system", "user", "assistant", "tool")
LINE_KEYS = ("messages", "tools", "parallel_tool_calls")
AS_OF = "2026-12-06"  # the day the undated stored copies were read
CONTEXT_PAGE = "https://docs.fireworks.ai/fine-tuning/managed-finetuning-intro (Supported base models, Max " \
               "supported context length)"
PRICES = "https://fireworks.ai/pricing (fine-tuning, $ / 1M tokens in training)"
TOKENIZER_NOTE = ("Fireworks trains with the base model's own tokenizer and chat template. chatprep counts with them "
                  "where it has them offline (gpt-oss) or where target.tokenizer "
                  "(+ target.chat_template) points at them; the other models are counted with an o200k_base ESTIMATE")


def _limit(tokens: int | None, window: str | None = None) -> Sourced:
    """The published max fine-tuning context; else the model's context window (`window`: its source) as the bound."""
    if tokens is not None and window is not None:
        return Sourced(tokens, f"the model's context window ({window}); its fine-tuning maximum is not in the stored "
                       f"copy of {CONTEXT_PAGE} and may be lower: set target.max_tokens to it", AS_OF)
    if tokens is None:
        return unpublished(f"the row is not in the stored copy of {CONTEXT_PAGE}; set target.max_tokens", AS_OF)
    return Sourced(tokens, CONTEXT_PAGE, AS_OF)


def _price(billions: float | None) -> Sourced:
    """The training rate of a dense model of this many billion parameters; None: a mixture-of-experts model."""
    if billions is None:
        return unpublished(f"{PRICES} prices dense models by size; no rate for this mixture-of-experts model", AS_OF)
    small = billions <= 16
    return Sourced(0.50 if small else 3.00, f"{PRICES}: models {'up to 16B' if small else '16.1B - 80B'} parameters",
                   AS_OF)


def _model(model_id: str, limit: Sourced, price: Sourced, family: str | None = None) -> ModelFacts:
    return ModelFacts(name=PREFIX + model_id, max_example_tokens=limit, price_per_million=price,
                      tokenizer=tokenizer_for(family), snapshots=False)


_GPT_OSS_20B = _limit(131_072, "https://fireworks.ai/models/fireworks/gpt-oss-20b: the maximum context length is "
                      "131,072 tokens")
_GPT_OSS_120B = _limit(131_072, "https://huggingface.co/openai/gpt-oss-120b config.json max_position_embeddings; "
                       "https://fireworks.ai/models/fireworks/gpt-oss-120b: 128K tokens")


MODELS = (
    _model("gpt-oss-20b", _GPT_OSS_20B, _price(None), "gpt-oss"),
    _model("gpt-oss-120b", _GPT_OSS_120B, _price(None), "gpt-oss"),
    _model("llama-v3p1-8b-instruct", _limit(None), _price(8)),
    _model("llama-v3p1-70b-instruct", _limit(None), _price(70)),
    _model("qwen3-8b", _limit(None), _price(8.2)),
    _model("gemma-4-31b-it", _limit(262_144), _price(31)),
    _model("gemma-4-26b-a4b-it", _limit(262_144), _price(None)),
    _model("glm-5p1", _limit(200_000), _price(None)),
)
_COUNTS = f"{DOCS}: Minimum examples: 3; Maximum examples: 3 million per dataset"
FILES = FileRules(
    min_train=Sourced(3, _COUNTS, AS_OF),
    max_train=Sourced(3_000_000, _COUNTS, AS_OF),
    max_validation=Sourced(3_000_000, _COUNTS, AS_OF),
    max_file_bytes=unpublished("a single-request upload takes up to 150 MB (https://docs.fireworks.ai/api-reference/"
                               "upload-dataset-files); larger files use the dataset upload endpoint", AS_OF),
    formats=("jsonl",),
)
CUSTOM_MODEL_HINT = (f" (short ids such as gpt-oss-20b work too); or another tunable base model ({PREFIX}<id>): "
                     "set target.max_tokens to its max context length, and target.tokenizer (a tokenizer.json with "
                     "target.chat_template, or a local model folder) to count exactly instead of an o200k_base "
                     "estimate")


def custom_model(name: str, cfg, tokens_params) -> ModelFacts | None:
    """A short model id of the table (`gpt-oss-20b`), or another base model given with target.max_tokens."""
    for facts in MODELS:
        if facts.name == PREFIX + name:
            return with_user_tokenizer(facts) if cfg.tokenizer else facts
    if cfg.max_tokens is None and getattr(tokens_params, "max_tokens", None) is None:
        return None
    return ModelFacts(name=name, max_example_tokens=unpublished("not in the table: target.max_tokens", AS_OF),
                      price_per_million=unpublished("not in the table", AS_OF),
                      tokenizer="open:custom" if cfg.tokenizer else ESTIMATE, snapshots=False)


def with_user_tokenizer(facts: ModelFacts) -> ModelFacts:
    """A table model counted with the tokenizer and template the user gave (target.tokenizer)."""
    return replace(facts, tokenizer="open:custom")


def _system_first(messages: list) -> list[RuleProblem]:
    return [RuleProblem("system_position", n, "accepts a system message only as the first message of the "
                        "conversation") for n, m in enumerate(messages, 1) if m.get("role") == "system" and n > 1]


def check(example: dict) -> list[RuleProblem]:
    messages = [m for m in example.get("messages") or () if isinstance(m, dict)]
    return rules.roles_allowed(messages, ROLES) or _system_first(messages) + rules.text_only(messages)


def to_record(example: dict) -> dict:
    return {k: example[k] for k in LINE_KEYS if k in example}


def from_record(record: dict) -> dict:
    return {k: record[k] for k in LINE_KEYS if k in record}


PREFERENCE = Sourced("OpenAI's preference line; one-turn: exactly one assistant message per side, tools in input",
                    "https://docs.fireworks.ai/fine-tuning/dpo-fine-tuning", AS_OF)


def check_preference(example: dict) -> list[RuleProblem]:
    return preference_records.check_both(check, example) + preference_records.prompt_ends_on_user(example)


def to_preference_record(example: dict) -> dict:
    return preference_records.openai_record(*preference_records.records_of_sides(to_record, example))
