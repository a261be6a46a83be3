"""Amazon Bedrock — supervised fine-tuning of Amazon Nova (Micro, Lite, Pro; Nova 1.0).

Record (one JSONL line, Nova user guide "Preparing data for fine-tuning Understanding models"):
  {"schemaVersion": "bedrock-conversation-2024", "system": [{"text": ...}],
   "messages": [{"role": "user" | "assistant", "content": [{"text": ...}]}]}
A chat example maps as: system messages -> system text blocks (one each); user and assistant messages -> one
text block each (text parts joined with newlines).

Rules (check), from that guide and AWS's own validator (aws-samples/amazon-bedrock-samples, custom-models/
bedrock-fine-tuning/nova/understanding/dataset_validation/nova_ft_dataset_validator.py, which the SageMaker Nova
page tells users to run): roles user and assistant only, the first a user turn, alternating, the last the
assistant's (at least one of each); no empty text; the reserved strings (RESERVED) nowhere in the text of any
message or the system prompt — the guide: a job fails "if a user prompt or system prompt starts with any of
these keywords, or uses these keywords anywhere in the prompt"; the validator checks every text block,
assistant turns too, and adds the upper-case spellings and `Thought:`. Nothing is merged to make a
conversation fit: an example that breaks a rule is rejected with the rule.

Not carried (losses, target.lossy): tools and tool turns (the Nova 1.0 guide documents no tool blocks; AWS's
Nova 2.0 SFT page: tool usage "is not currently supported"; drop_feature removes them, and what is left must
still alternate), weight-0 turns, names, images (Nova takes images as S3 locations, not http/data URLs),
refusals, legacy functions, parallel_tool_calls.

Tokens: Nova's tokenizer is not published, so counts are estimates (o200k_base) and say so. No per-example
token limit for Nova 1.0 fine-tuning was found in AWS's pages (the Bedrock dataset-requirements page sends
Nova users to the Nova guide, which has none): set target.max_tokens to enforce one.
"""

from __future__ import annotations

from pipeline.chat.texts import message_text
from pipeline.targets.base import FileRules, ModelFacts, RuleProblem, Sourced, unpublished
from pipeline.targets.preference_records import check_both, side_chats
from pipeline.targets.rules import alternation, ends_with, reserved_strings, roles_allowed, text_only

PROVIDER = "bedrock-nova"
TITLE = "Amazon Bedrock — Amazon Nova fine-tuning"
DOCS = "https://docs.aws.amazon.com/nova/latest/userguide/fine-tune-prepare-data-understanding.html"
DEFAULT_MODEL = "amazon.nova-lite-v1:0"
SUPPORTS: frozenset[str] = frozenset()
SCHEMA_VERSION = "bedrock-conversation-2024"
TOKENIZER_NOTE = ("estimate: counted with o200k_base; Amazon publishes no tokenizer for Nova, so real counts "
                  "differ — keep a margin under any limit")

READ_ON = "2026-12-06"
VALIDATOR = ("https://github.com/aws-samples/amazon-bedrock-samples/blob/7a8cfea591fd8abe02ba36f90c81e2ed4286f246/"
             "custom-models/bedrock-fine-tuning/nova/understanding/dataset_validation/nova_ft_dataset_validator.py")
CUSTOMIZATION = "https://docs.aws.amazon.com/nova/latest/userguide/customization.html"
# the guide's seven strings, then the validator's INVALID_TOKENS_TEXT additions
RESERVED = ("User:", "Bot:", "Assistant:", "System:", "<image>", "<video>", "[EOS]",
            "USER:", "BOT:", "ASSISTANT:", "SYSTEM:", "Thought:")
NO_LIMIT = unpublished("AWS's Nova fine-tuning pages give no per-example token limit; set target.max_tokens",
                       READ_ON)
PRICE = unpublished("Bedrock prices Nova customization per 1,000 tokens on aws.amazon.com/bedrock/pricing; no "
                    "stored copy with those rows was found; set target.price_per_million_training_tokens", READ_ON)
# model id for inference -> the id Bedrock customization takes (Nova guide, "Customizing Amazon Nova models")
CUSTOMIZATION_IDS = {"amazon.nova-micro-v1:0": "amazon.nova-micro-v1:0:128k",
                     "amazon.nova-lite-v1:0": "amazon.nova-lite-v1:0:300k",
                     "amazon.nova-pro-v1:0": "amazon.nova-pro-v1:0:300k"}


def _model(name: str) -> ModelFacts:
    return ModelFacts(name=name, max_example_tokens=NO_LIMIT, price_per_million=PRICE,
                      tokenizer="estimate:o200k_base", snapshots=False)


MODELS = tuple(_model(name) for name in CUSTOMIZATION_IDS)
FILES = FileRules(
    min_train=Sourced(8, f"{VALIDATOR} (MODEL_TO_NUM_SAMPLES_MAP: 8 to 20,000 records)", READ_ON),
    max_train=Sourced(20_000, f"{VALIDATOR} (MODEL_TO_NUM_SAMPLES_MAP: 8 to 20,000 records)", READ_ON),
    max_validation=unpublished("the Nova guide and validator give no separate validation limit", READ_ON),
    max_file_bytes=unpublished("the Bedrock dataset-size table does not cover Nova; the Nova guide gives none",
                               READ_ON),
)
CUSTOM_MODEL_HINT = (" (also written nova-micro / nova-lite / nova-pro or with the customization suffix, e.g. "
                     "amazon.nova-lite-v1:0:300k)")


def custom_model(name: str, cfg, tokens_params) -> ModelFacts | None:
    """The other spellings of the three models: nova-lite, amazon.nova-lite-v1:0:300k, ..."""
    wanted = name.strip().lower()
    for model_id, customization_id in CUSTOMIZATION_IDS.items():
        short = model_id.removeprefix("amazon.").split("-v1")[0]
        if wanted in (short, customization_id):
            return next(f for f in MODELS if f.name == model_id)
    return None


# ------------------------------------------------------------------------------------------------- rules

def check(example: dict) -> list[RuleProblem]:
    messages = example.get("messages") or []
    problems = roles_allowed(messages, ("system", "user", "assistant"))
    if problems:
        return problems
    problems += alternation(messages, first=("user",))
    problems += ends_with(messages, "assistant")
    problems += text_only(messages)
    problems += [RuleProblem("empty_message", n, "rejects a message without text")
                 for n, m in enumerate(messages, 1) if m.get("role") != "system" and not message_text(m)]
    problems += reserved_strings(messages, RESERVED)
    return problems


# ----------------------------------------------------------------------------------------------- records

def to_record(example: dict) -> dict:
    messages = example["messages"]
    record: dict = {"schemaVersion": SCHEMA_VERSION}
    system = [{"text": message_text(m)} for m in messages if m.get("role") == "system"]
    if system:
        record["system"] = system
    record["messages"] = [{"role": m["role"], "content": [{"text": message_text(m)}]}
                          for m in messages if m.get("role") in ("user", "assistant")]
    return record


def from_record(record: dict) -> dict:
    """The chat example of a record: one system message per system block, a message's text blocks joined
    with newlines (what to_record wrote as one block)."""
    messages = [{"role": "system", "content": block.get("text", "")} for block in record.get("system") or ()]
    messages += [{"role": m["role"], "content": "\n".join(b["text"] for b in m.get("content", []) if "text" in b)}
                 for m in record.get("messages", [])]
    return {"messages": messages}


PREFERENCE = Sourced("the final assistant turn holds `candidates`: the chosen text labelled preferred, the rejected "
                    "one non-preferred", "Amazon Nova user guide, Direct preference optimization (DPO) "
                    "(docs/destinations-sources.md)", READ_ON)


def check_preference(example: dict) -> list[RuleProblem]:
    return check_both(check, example)


def to_preference_record(example: dict) -> dict:
    chosen, rejected = side_chats(example)
    record = to_record(chosen)
    record["messages"][-1] = {"role": "assistant", "candidates": [
        {"content": [{"text": message_text(chosen["messages"][-1])}], "preferenceLabel": "preferred"},
        {"content": [{"text": message_text(rejected["messages"][-1])}], "preferenceLabel": "non-preferred"}]}
    return record
