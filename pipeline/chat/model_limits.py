"""What OpenAI fine-tuning does with a target model: its tokenizer, its per-example token limit and its
training price — one table, looked up by the base model name.

Sources (checked 2025-06):
- encodings: tiktoken's own model table (tiktoken/model.py: o200k_base for gpt-4o, gpt-4.1, o-series,
  gpt-5; cl100k_base for gpt-4 and gpt-3.5-turbo);
- per-example limits: OpenAI's fine-tuning guide, "Token limits" (65,536 for gpt-4o-mini-2024-07-18,
  gpt-4o-2024-08-06 and the gpt-4.1 family; 16,385 for gpt-3.5-turbo-0125/-1106; 4,096 for
  gpt-3.5-turbo-0613; 8,192 — the model's context — for gpt-4-0613). Longer examples are truncated by
  OpenAI during training;
- prices: https://openai.com/api/pricing/ (fine-tuning, "training" column, USD per 1M tokens), as
  listed on 2025-06-01. They change: override with `price_per_million_training_tokens`.

A name resolves by its base model: `ft:gpt-4o-mini-2024-07-18:org::abc` -> `gpt-4o-mini-2024-07-18`,
then the longest family prefix that matches at a `-` boundary (so `gpt-4` never matches `gpt-4o`).
"""

from __future__ import annotations

from dataclasses import dataclass

O200K, CL100K = "o200k_base", "cl100k_base"
PRICES_AS_OF = "2025-06-01"


@dataclass(frozen=True)
class ModelFamily:
    prefix: str                   # a base model name or the prefix of its dated snapshots
    encoding: str                 # tiktoken encoding name
    max_example_tokens: int | None  # per training example; None = not published (set max_tokens)
    price_per_million: float | None  # USD per 1M training tokens; None = unknown (set the param)


FAMILIES: tuple[ModelFamily, ...] = (
    ModelFamily("gpt-4o-mini", O200K, 65_536, 3.00),
    ModelFamily("gpt-4o", O200K, 65_536, 25.00),
    ModelFamily("gpt-4.1-nano", O200K, 65_536, 1.50),
    ModelFamily("gpt-4.1-mini", O200K, 65_536, 5.00),
    ModelFamily("gpt-4.1", O200K, 65_536, 25.00),
    # o-series / gpt-5: tokenizer known; no published supervised per-example limit or token price
    ModelFamily("o4-mini", O200K, None, None),
    ModelFamily("o3", O200K, None, None),
    ModelFamily("o1", O200K, None, None),
    ModelFamily("gpt-5", O200K, None, None),
    ModelFamily("gpt-4", CL100K, 8_192, None),  # gpt-4-0613: experimental access, no public price
    ModelFamily("gpt-3.5-turbo-0613", CL100K, 4_096, 8.00),
    ModelFamily("gpt-3.5-turbo-1106", CL100K, 16_385, 8.00),
    ModelFamily("gpt-3.5-turbo-0125", CL100K, 16_385, 8.00),
    ModelFamily("gpt-3.5-turbo", CL100K, 16_385, 8.00),  # the alias points at -0125
)
_AZURE_NAMES = {"gpt-35-turbo": "gpt-3.5-turbo"}


@dataclass(frozen=True)
class TargetModel:
    """A configured model resolved to what the tokens stage needs."""

    name: str                    # as configured
    base: str                    # without the ft: wrapper
    family: str | None           # the matching FAMILIES prefix (None: unknown model, explicit encoding)
    encoding: str
    max_example_tokens: int
    limit_source: str            # "model table" | "max_tokens"
    price_per_million: float | None
    price_source: str            # "price table (as of ...)" | "price_per_million_training_tokens" | "unknown"


class UnknownModelError(ValueError):
    pass


def base_model(name: str) -> str:
    """`ft:<base>:<org>:<suffix>:<id>` -> `<base>`; Azure's `gpt-35-turbo` spelling -> `gpt-3.5-turbo`."""
    name = name.strip()
    if name.startswith("ft:"):
        name = name[3:].split(":", 1)[0]
    for azure, openai in _AZURE_NAMES.items():
        if name == azure or name.startswith(azure + "-"):
            name = openai + name[len(azure):]
    return name


def find_family(name: str) -> ModelFamily | None:
    base = base_model(name)
    matches = [f for f in FAMILIES if base == f.prefix or base.startswith(f.prefix + "-")]
    return max(matches, key=lambda f: len(f.prefix)) if matches else None


def known_families() -> str:
    return ", ".join(f.prefix for f in FAMILIES)


def resolve_model(name: str, encoding: str | None = None, max_tokens: int | None = None,
                  price: float | None = None) -> TargetModel:
    """Resolve a configured model (and the optional overrides) or raise UnknownModelError saying what to set."""
    family = find_family(name)
    if family is None and encoding is None:
        raise UnknownModelError(
            f"unknown model {name!r}: known families are {known_families()} (dated snapshots and "
            f"ft:<base>:... names of these resolve too); or set `encoding:` (o200k_base or cl100k_base) "
            f"and `max_tokens:` for another model")
    limit = max_tokens if max_tokens is not None else (family.max_example_tokens if family else None)
    if limit is None:
        raise UnknownModelError(
            f"model {name!r}: OpenAI publishes no per-example token limit for it here; set `max_tokens:`")
    if price is not None:
        price_value, price_source = price, "price_per_million_training_tokens"
    elif family is not None and family.price_per_million is not None:
        price_value, price_source = family.price_per_million, f"price table (as of {PRICES_AS_OF})"
    else:
        price_value, price_source = None, "unknown (set price_per_million_training_tokens)"
    return TargetModel(
        name=name, base=base_model(name), family=family.prefix if family else None,
        encoding=encoding or family.encoding, max_example_tokens=limit,
        limit_source="max_tokens" if max_tokens is not None else "model table",
        price_per_million=price_value, price_source=price_source,
    )
