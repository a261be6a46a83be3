"""Azure OpenAI fine-tuning (Microsoft Foundry): OpenAI's chat fine-tuning line, UTF-8 JSONL with a byte-order mark.

Record: the OpenAI chat line as it is (`messages` with `weight` 0/1, `tools` / `tool_calls` / `tool`, legacy
`functions`, `image_url` parts), so the chat schema (validate) is its rules and `check` has nothing to add.
Sources (stored copies of MicrosoftDocs/azure-ai-docs, read 2026-12-06; each fact carries its own):
- format, files, counts: how-to/fine-tuning (include fine-tuning-oai-sdk.md, ms.date 2025-09-01): "training and
  validation data files must be encoded in UTF-8 and include a byte-order mark (BOM). Each file must be less than
  512 MB in size"; "Fine-tuning jobs won't proceed without at least 10 training examples". Larger files: the
  Uploads API (how-to/fine-tuning-troubleshoot.md, up to 8 GB) — not applied here.
- models and "Training example context length" (include fine-tune-models.md @ 1e62f386): 65,536 tokens for
  gpt-4o-mini 2024-07-18, gpt-4o 2024-08-06, gpt-4.1 / gpt-4.1-mini 2025-04-14, o4-mini 2025-04-16 (listed for
  reinforcement fine-tuning); 32,768 for gpt-4.1-nano.
- deadlines (concepts/model-retirement-schedule, "Fine-tuned models", ms.date 2026-09-02): training retires "no
  earlier than" 2027-04-01 (gpt-4o, gpt-4o-mini), 2027-04-14 (gpt-4.1 family), 2027-04-16 (o4-mini) for existing
  customers (otherwise at the base model's retirement); deployments of fine-tuned models retire 2027-10-01 /
  2027-10-14 / 2027-10-16.
Tokens: the same models as OpenAI's, counted exactly with tiktoken o200k_base.
The byte-order mark: Microsoft's page requires it; the target-checkers research (docs/destinations-sources.md)
found Azure also accepts files without one and that a BOM trips plain `json.loads` readers — flip
FILES.byte_order_mark if Azure ever documents otherwise.
"""

from __future__ import annotations

from pipeline.targets import preference_records
from pipeline.targets.base import FEATURES, FileRules, ModelFacts, Sourced, unpublished
from pipeline.targets.deadlines import shut_down

PROVIDER = "azure-openai"
TITLE = "Azure OpenAI fine-tuning (Microsoft Foundry)"
DOCS = "https://learn.microsoft.com/azure/ai-foundry/openai/how-to/fine-tuning"
DEFAULT_MODEL = "gpt-4o-mini-2024-07-18"  # what OpenAI's default users move with
SUPPORTS = frozenset(FEATURES)
PASS_THROUGH = True  # the records are the chat lines as they are; the chat schema (validate) is its rules
LINE_KEYS = ("messages", "tools", "parallel_tool_calls", "functions")
TOKENIZER = "tiktoken:o200k_base"

FORMAT_PAGE = (f"{DOCS}?pivots=programming-language-python (MicrosoftDocs/azure-ai-docs "
               "articles/ai-foundry/openai/includes/fine-tuning-oai-sdk.md)")
FORMAT_AS_OF = "2025-09-01"
MODELS_PAGE = ("https://learn.microsoft.com/azure/ai-foundry/openai/concepts/models#fine-tuning-models "
               "(MicrosoftDocs/azure-ai-docs articles/ai-foundry/openai/includes/fine-tune-models.md @ 1e62f386, "
               "Training example context length)")
MODELS_AS_OF = "2025-02-06"
RETIREMENT_PAGE = "https://learn.microsoft.com/azure/foundry/openai/concepts/model-retirement-schedule"
RETIREMENT_AS_OF = "2026-09-02"
PRICE = unpublished("no per-token training price in the stored Azure docs; see aka.ms/aoai-pricing (it varies by "
                    "region and training tier: Standard, Global, Developer)", "2026-12-06")


def _training_ends(floor: str, base_retirement: str) -> Sourced:
    return Sourced(floor, f"{RETIREMENT_PAGE} (Fine-tuned models: training retires no earlier than {floor} for "
                   f"existing customers; otherwise at the base model's retirement, {base_retirement})",
                   RETIREMENT_AS_OF)


def _deployments_end(day: str) -> Sourced:
    return Sourced(day, f"{RETIREMENT_PAGE} (Fine-tuned models: deployment retirement {day})", RETIREMENT_AS_OF)


def _model(name: str, limit: int, training: Sourced, deployments: Sourced) -> ModelFacts:
    return ModelFacts(name=name, max_example_tokens=Sourced(limit, MODELS_PAGE, MODELS_AS_OF), price_per_million=PRICE,
                      tokenizer=TOKENIZER, last_new_job=training, shutdown=deployments)


_4O = (_training_ends("2027-04-01", "2027-04-14"), _deployments_end("2027-10-01"))
_41 = (_training_ends("2027-04-14", "2027-04-14"), _deployments_end("2027-10-14"))
MODELS = (
    _model("gpt-4o-mini", 65_536, *_4O),
    _model("gpt-4o", 65_536, *_4O),
    _model("gpt-4.1-nano", 32_768, *_41),
    _model("gpt-4.1-mini", 65_536, *_41),
    _model("gpt-4.1", 65_536, *_41),
    _model("o4-mini", 65_536, _training_ends("2027-04-16", "2026-10-16"), _deployments_end("2027-10-16")),
)
FILES = FileRules(
    min_train=Sourced(10, f"{FORMAT_PAGE}: fine-tuning jobs won't proceed without at least 10 training examples",
                      FORMAT_AS_OF),
    max_train=unpublished("no maximum number of training examples in the Azure docs", FORMAT_AS_OF),
    max_validation=unpublished("no maximum number of validation examples in the Azure docs", FORMAT_AS_OF),
    max_file_bytes=Sourced(512 * 2**20 - 1, f"{FORMAT_PAGE}: each file must be less than 512 MB (Files API)",
                           FORMAT_AS_OF),
    byte_order_mark=Sourced(True, f"{FORMAT_PAGE}: training and validation data files must be encoded in UTF-8 "
                            "and include a byte-order mark (BOM)", FORMAT_AS_OF),
    formats=("jsonl",),
)
CUSTOM_MODEL_HINT = (" (dated snapshots such as gpt-4o-mini-2024-07-18 and fine-tuned names "
                     "<model>.ft-<job id> resolve too); or set stages.tokens.encoding (o200k_base or cl100k_base) "
                     "and target.max_tokens for another model")


def custom_model(name: str, cfg, tokens_params) -> ModelFacts | None:
    """Another Azure OpenAI model: usable when its encoding (stages.tokens.encoding) and limit are set."""
    encoding = getattr(tokens_params, "encoding", None)
    if encoding is None:
        return None
    return ModelFacts(name=name, max_example_tokens=unpublished("not in the table: set target.max_tokens", "2026-12-06"),
                      price_per_million=PRICE, tokenizer=f"tiktoken:{encoding}", snapshots=False)


def check_model(facts: ModelFacts, model: str) -> str | None:
    return shut_down(facts, model)


def check(example: dict) -> list:
    return []  # OpenAI's chat line: the chat schema (validate) holds every rule


def to_record(example: dict) -> dict:
    return {k: example[k] for k in LINE_KEYS if k in example}


def from_record(record: dict) -> dict:
    return {k: record[k] for k in LINE_KEYS if k in record}


PREFERENCE = Sourced("input + preferred_output + non_preferred_output (outputs: assistant and tool roles; one "
                    "assistant message is written)", "MicrosoftDocs/azure-ai-docs fine-tuning-direct-preference-"
                    "optimization.md (ms.date 05/25/2025, commit 198cec07)", "2025-05-25")


PREFERENCE_MODELS = Sourced(("gpt-4.1-mini-2025-04-14", "gpt-4.1-2025-04-14", "gpt-4o-2024-08-06"),  # first: default
                           "MicrosoftDocs/azure-ai-docs fine-tuning-direct-preference-optimization.md, \"Direct "
                           "preference optimization model support\" (commit 198cec07)", "2025-05-25")


def check_preference(example: dict) -> list:
    return preference_records.prompt_ends_on_user(example) + preference_records.no_functions(example)


def to_preference_record(example: dict) -> dict:
    return preference_records.openai_record(*preference_records.records_of_sides(to_record, example))
