"""OpenAI fine-tuning — winding down: no new jobs after 2027-01-06; the chat format stays the lingua franca.

Record: the chat fine-tuning line as it is (`messages`, `tools`, `parallel_tool_calls`, `functions`).
Limits and prices: pipeline/chat/model_limits.py (the model families, sources there). Deadlines:
developers.openai.com/api/docs/deprecations, entry "Update to OpenAI's self-serve fine-tuning" (notified
2026-05-07: nobody can create new fine-tuning jobs after 2027-01-06) and the entry of 2026-10-14 (gpt-4o-2024-08-06,
gpt-4o-2024-11-20, gpt-4o-mini-2024-07-18, gpt-4.1-2025-04-14, gpt-4.1-mini-2025-04-14 shut down 2027-01-14,
their fine-tunes with them); gpt-4.1-nano and o4-mini shut down on 2026-10-23 (secondary reports quoting it).
Read from ../shared/fine-tuning-targets.md, compiled 2026-12-06.
"""

from __future__ import annotations

from pipeline.chat.model_limits import FAMILIES, PRICES_AS_OF, ModelFamily
from pipeline.targets import preference_records
from pipeline.targets.base import FEATURES, FileRules, ModelFacts, Sourced
from pipeline.targets.deadlines import shut_down

PROVIDER = "openai"
TITLE = "OpenAI fine-tuning (winding down)"
DOCS = "https://platform.openai.com/docs/guides/supervised-fine-tuning"
DEFAULT_MODEL = "gpt-4o-mini-2024-07-18"
SUPPORTS = frozenset(FEATURES)
PASS_THROUGH = True  # the chat schema (validate) is its own; records are the chat lines as they are
LINE_KEYS = ("messages", "tools", "parallel_tool_calls", "functions")

DEPRECATIONS = "https://developers.openai.com/api/docs/deprecations"
AS_OF = "2026-12-06"
LAST_NEW_JOB = Sourced("2027-01-06", f"{DEPRECATIONS} (Update to OpenAI's self-serve fine-tuning)", AS_OF)
SHUTDOWN = {
    "gpt-4o-mini": Sourced("2027-01-14", f"{DEPRECATIONS} (2026-10-14 entry)", AS_OF),
    "gpt-4o": Sourced("2027-01-14", f"{DEPRECATIONS} (2026-10-14 entry)", AS_OF),
    "gpt-4.1-mini": Sourced("2027-01-14", f"{DEPRECATIONS} (2026-10-14 entry)", AS_OF),
    "gpt-4.1": Sourced("2027-01-14", f"{DEPRECATIONS} (2026-10-14 entry)", AS_OF),
    "gpt-4.1-nano": Sourced("2026-10-23", "secondary reports of the deprecations page", AS_OF),
    "o4-mini": Sourced("2026-10-23", "secondary reports of the deprecations page", AS_OF),
}
LIMITS_SOURCE = "https://platform.openai.com/docs/guides/fine-tuning (Token limits)"
PRICES_SOURCE = "https://openai.com/api/pricing/ (fine-tuning, training)"


def _facts(f: ModelFamily) -> ModelFacts:
    return ModelFacts(
        name=f.prefix,
        max_example_tokens=Sourced(f.max_example_tokens, LIMITS_SOURCE, "2025-06-01"),
        price_per_million=Sourced(f.price_per_million, PRICES_SOURCE if f.price_per_million is not None
                                  else "not published", PRICES_AS_OF),
        tokenizer=f"tiktoken:{f.encoding}", last_new_job=LAST_NEW_JOB, shutdown=SHUTDOWN.get(f.prefix))


MODELS = tuple(_facts(f) for f in FAMILIES)
FILES = FileRules(
    min_train=Sourced(10, "https://platform.openai.com/docs/guides/supervised-fine-tuning (at least 10 examples)",
                      "2025-06-01"),
    max_train=Sourced(None, "not published", "2025-06-01"),
    max_validation=Sourced(None, "not published", "2025-06-01"),
    max_file_bytes=Sourced(512 * 2**20, "https://platform.openai.com/docs/api-reference/files/create "
                           "(512 MB per file)", "2025-06-01"),
)


def custom_model(name: str, cfg, tokens_params) -> ModelFacts | None:
    """Another OpenAI model: usable when its encoding (stages.tokens.encoding) and limit are set."""
    encoding = getattr(tokens_params, "encoding", None)
    if encoding is None:
        return None
    return ModelFacts(name=name, max_example_tokens=Sourced(None, "not in the table", AS_OF),
                      price_per_million=Sourced(None, "not in the table", AS_OF), tokenizer=f"tiktoken:{encoding}",
                      last_new_job=LAST_NEW_JOB, snapshots=False)


CUSTOM_MODEL_HINT = (" (dated snapshots and ft:<base>:... names of these resolve too); or set "
                     "stages.tokens.encoding (o200k_base or cl100k_base) and target.max_tokens for another model")


def check_model(facts: ModelFacts, model: str) -> str | None:
    return shut_down(facts, model)


def check(example: dict) -> list:
    return []  # the chat schema (validate stage) is OpenAI's own


def to_record(example: dict) -> dict:
    return {k: example[k] for k in LINE_KEYS if k in example}


def from_record(record: dict) -> dict:
    return dict(record)


PREFERENCE = Sourced("input + preferred_output + non_preferred_output", "https://developers.openai.com/api/docs/guides/"
                    "direct-preference-optimization (docs/destinations-sources.md)", AS_OF)


PREFERENCE_MODELS = Sourced(("gpt-4.1-mini-2025-04-14", "gpt-4.1-2025-04-14"),  # the first is the DPO default
                           "https://developers.openai.com/api/docs/guides/direct-preference-optimization "
                           "(\"Use with\"; its third, gpt-4.1-nano, is shut down)", AS_OF)


def check_preference(example: dict) -> list:
    return preference_records.prompt_ends_on_user(example) + preference_records.no_functions(example)


def to_preference_record(example: dict) -> dict:
    return preference_records.openai_record(*preference_records.records_of_sides(to_record, example))
