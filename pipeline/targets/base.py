"""The destination contract: what one module in pipeline/targets/ declares, and the types it uses.

A destination module (one per place teams fine-tune; adding a destination is adding a module) has:
  PROVIDER        the name written in `target.provider`
  TITLE, DOCS     a human name and the page its format comes from
  DEFAULT_MODEL   used when `target.model` is not set
  MODELS          tuple[ModelFacts]: per-example token limit, price, tokenizer, deadlines — each fact
                  with its source and the date of the copy it was read from
  FILES           FileRules: example counts, file size, byte-order mark, file formats
  SUPPORTS        the optional chat features it can carry (FEATURES below); the others are losses,
                  handled by `target.lossy` (pipeline/targets/features.py)
  check(example)  -> list[RuleProblem]: its rules on a chat example (after the loss handling)
  to_record(example) -> dict: the line it trains on;  from_record(record) -> dict: back to a chat example
  extra_files(target, names, uses_tools) -> {file name: text} (optional): e.g. LLaMA-Factory's dataset_info.json
  TOKENIZER_NOTE  (optional) what its token counts are, when they are estimates
  PREFERENCE, check_preference(example), to_preference_record(example) (optional): its preference (DPO) line
                  (pipeline/targets/preference_records.py); NO_PREFERENCE: why it takes none
  PREFERENCE_MODELS (optional) Sourced(tuple of model names): the only models its DPO jobs take
  with_user_tokenizer(facts) -> ModelFacts (optional): a table model counted with `target.tokenizer` (and
                  `target.chat_template`) instead of its own tokenizer, for destinations that train open models
Chat examples are OpenAI chat fine-tuning lines (dicts with `messages`, optional `tools`, ...), the lingua
franca every stage works on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

# the optional chat features a destination may lack (the chat schema, schemas/chat.py, allows them all)
FEATURES = ("weights", "tools", "functions", "names", "images", "refusals")
FEATURE_TEXT = {
    "weights": "assistant turns with weight 0 (trained on anyway once the weight is dropped)",
    "tools": "tool definitions and tool calls (the tool turns are removed)",
    "functions": "legacy functions / function_call (removed)",
    "names": "message `name` fields (removed)",
    "images": "image parts (removed)",
    "refusals": "assistant `refusal` fields (removed)",
}


@dataclass(frozen=True)
class Sourced:
    """A published fact: its value (None = not published), where it was read and the date of that copy."""

    value: Any
    source: str
    as_of: str

    def json(self) -> dict:
        return {"value": self.value, "source": self.source, "as_of": self.as_of}


def unpublished(what: str, as_of: str) -> Sourced:
    return Sourced(None, f"not published ({what})", as_of)


@dataclass(frozen=True)
class ModelFacts:
    name: str
    max_example_tokens: Sourced  # value None: not published (set target.max_tokens)
    price_per_million: Sourced   # USD per 1M training tokens; value None: "price not published"
    tokenizer: str               # "tiktoken:<encoding>" exact | "open:<family>" exact | "estimate:<encoding>"
    last_new_job: Sourced | None = None  # the last day a new fine-tuning job can be created (ISO date)
    shutdown: Sourced | None = None      # the day the model (and its fine-tunes) stop (ISO date)
    snapshots: bool = True       # dated snapshots (`<name>-2024-07-18`) and ft:<name>:... names resolve to it
    preference_max_tokens: Sourced | None = None  # the per-example limit of a preference (DPO) job, where the
    # destination publishes one apart from max_example_tokens (Together: half the SFT context for gpt-oss)


@dataclass(frozen=True)
class FileRules:
    min_train: Sourced
    max_train: Sourced
    max_validation: Sourced
    max_file_bytes: Sourced
    byte_order_mark: Sourced = field(default_factory=lambda: Sourced(False, "no byte-order mark is asked for", ""))
    formats: tuple[str, ...] = ("jsonl",)


@dataclass(frozen=True)
class RuleProblem:
    code: str                # e.g. role_alternation (the reject reason)
    message: int | None      # 1-based message number, None for the whole example
    text: str                # what the destination requires

    def detail(self, provider: str) -> str:
        where = f"message {self.message}: " if self.message else ""
        return f"{where}{provider} {self.text}"


@dataclass(frozen=True)
class Target:
    """A configured destination resolved against its module's tables."""

    provider: str
    model: str                   # as configured (or the default)
    facts: ModelFacts
    module: ModuleType
    config: Any                  # schemas.target.TargetConfig
    folder: str                  # out/<folder>/ when several targets are written
    max_example_tokens: int | None
    limit_source: str
    price_per_million: float | None
    price_source: str

    @property
    def key(self) -> str:
        return self.folder

    @property
    def tokenizer(self) -> str:
        return self.facts.tokenizer

    @property
    def exact_tokens(self) -> bool:
        return not self.facts.tokenizer.startswith("estimate:")

    @property
    def supports(self) -> frozenset[str]:
        return frozenset(self.module.SUPPORTS)

    @property
    def files(self) -> FileRules:
        return self.module.FILES

    def describe(self) -> dict:
        """JSON facts of this target for stats.json, the report and `chatprep targets`."""
        f = self.facts
        return {"provider": self.provider, "model": self.model, "folder": self.folder, "title": self.module.TITLE,
                "docs": self.module.DOCS, "tokenizer": f.tokenizer, "tokens_exact": self.exact_tokens,
                "tokenizer_note": getattr(self.module, "TOKENIZER_NOTE", None),
                "max_example_tokens": self.max_example_tokens, "limit_source": self.limit_source,
                "limit_reference": f.max_example_tokens.json(),
                "price_per_million": self.price_per_million, "price_source": self.price_source,
                "last_new_job": f.last_new_job.json() if f.last_new_job else None,
                "shutdown": f.shutdown.json() if f.shutdown else None,
                "lossy": self.config.lossy, "supports": sorted(self.supports),
                "files": {k: getattr(self.files, k).json() for k in
                          ("min_train", "max_train", "max_validation", "max_file_bytes", "byte_order_mark")},
                "file_format": self.config.file_format}
