"""Destinations: where the prepared data is trained, one module each in pipeline/targets/destinations/.

`resolve_targets(config)` turns the `target:` / `targets:` blocks into Target objects (pipeline/targets/base.py);
`prepare` (features.py) applies one to an example; counting.py counts its tokens.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from types import ModuleType

from pipeline.chat.model_limits import base_model
from pipeline.targets.base import ModelFacts, Target


class UnknownTargetError(ValueError):
    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key  # the config key to blame: provider | model | max_tokens


@cache
def provider_modules() -> dict[str, ModuleType]:
    """{provider name: its module}, every module of pipeline/targets/destinations/ with a PROVIDER."""
    from pipeline.targets import destinations

    found = {}
    for info in sorted(pkgutil.iter_modules(destinations.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{destinations.__name__}.{info.name}")
        if hasattr(module, "PROVIDER"):
            found[module.PROVIDER] = module
    return found


def find_model(module: ModuleType, name: str) -> ModelFacts | None:
    """The module's facts for `name`: an exact name, or a dated snapshot / ft: name of a model that allows it
    (the longest matching name wins, so gpt-4o never takes gpt-4o-mini's names)."""
    for facts in module.MODELS:
        if facts.name == name:
            return facts
    base = base_model(name)
    matches = [f for f in module.MODELS if base == f.name or (f.snapshots and base.startswith(f.name + "-"))]
    return max(matches, key=lambda f: len(f.name)) if matches else None


def _default_model(module: ModuleType, preference: bool) -> str:
    """The model used when `target.model` is not set: in a preference run, the first model the destination's
    DPO jobs take (when it lists them), else its DEFAULT_MODEL."""
    documented = getattr(module, "PREFERENCE_MODELS", None)
    return documented.value[0] if preference and documented is not None else module.DEFAULT_MODEL


def resolve_target(cfg, tokens_params=None, preference: bool = False) -> Target:
    """One TargetConfig -> Target, or UnknownTargetError saying what to set. `preference`: the run writes
    preference (DPO) files, whose per-example limit may differ from the model's SFT limit."""
    modules = provider_modules()
    module = modules.get(cfg.provider)
    if module is None:
        raise UnknownTargetError("provider", f"unknown provider {cfg.provider!r}: known providers are "
                                 f"{', '.join(modules)} (`chatprep targets` lists them with their models)")
    model = cfg.model or _default_model(module, preference)
    facts = find_model(module, model)
    if facts is None and hasattr(module, "custom_model"):
        facts = module.custom_model(model, cfg, tokens_params)
    elif facts is not None and getattr(cfg, "tokenizer", None) and hasattr(module, "with_user_tokenizer"):
        facts = module.with_user_tokenizer(facts)  # target.tokenizer: the user's tokenizer and template count
    if facts is None:
        known = ", ".join(f.name for f in module.MODELS)
        raise UnknownTargetError("model", f"unknown model {model!r} for {cfg.provider}: known models are "
                                 f"{known}{getattr(module, 'CUSTOM_MODEL_HINT', '')}")
    if cfg.file_format not in module.FILES.formats:
        raise UnknownTargetError("file_format", f"{cfg.provider} reads {' or '.join(module.FILES.formats)} files, "
                                 f"not {cfg.file_format}; set file_format: {module.FILES.formats[0]}")
    check = getattr(module, "check_model", None)
    if check is not None:
        problem = check(facts, model)
        if problem:
            raise UnknownTargetError("model", problem)
    max_tokens = cfg.max_tokens or getattr(tokens_params, "max_tokens", None)
    if max_tokens is not None:
        limit, limit_source = max_tokens, "max_tokens"
    elif preference and facts.preference_max_tokens is not None:
        limit = facts.preference_max_tokens.value
        limit_source = f"model table, preference (DPO) jobs: {facts.preference_max_tokens.source}"
    else:
        limit = facts.max_example_tokens.value
        limit_source = "model table" if limit is not None else "not published: no limit applied (set target.max_tokens)"
    price = cfg.price_per_million_training_tokens
    if price is None:
        price = getattr(tokens_params, "price_per_million_training_tokens", None)
    if price is not None:
        price_source = "price_per_million_training_tokens"
    elif facts.price_per_million.value is not None:
        price = facts.price_per_million.value
        price_source = f"{facts.price_per_million.source} (as of {facts.price_per_million.as_of})"
    else:
        price_source = "price not published"
    return Target(provider=cfg.provider, model=model, facts=facts, module=module, config=cfg,
                  folder=cfg.folder(model), max_example_tokens=limit, limit_source=limit_source,
                  price_per_million=price, price_source=price_source)


def resolve_targets(config) -> list[Target]:
    tokens = config.stage("tokens")
    return [resolve_target(cfg, tokens, config.is_preference()) for cfg in config.target_configs()]


def preference_model_problem(target: Target) -> str | None:
    """Why `target`'s model takes no preference (DPO) job, when its destination lists the models that do."""
    documented = getattr(target.module, "PREFERENCE_MODELS", None)
    if documented is None:
        return None
    name = base_model(target.model)
    if any(name == m or m.startswith(name + "-20") for m in documented.value):
        return None
    return (f"{target.provider} {target.model}: preference (DPO) fine-tuning is documented only for "
            f"{', '.join(documented.value)} ({documented.source}, as of {documented.as_of}); set the model to one "
            "of them")


def check_tokenizer_files(target: Target) -> None:
    """A user-given tokenizer (target.tokenizer, target.chat_template) loads — checked when the config loads, so a
    wrong path stops the run before any work, naming the key and the fix."""
    cfg = target.config
    if not target.tokenizer.startswith("open:") or not (cfg.tokenizer or cfg.chat_template):
        return
    from pathlib import Path

    if cfg.tokenizer and not Path(cfg.tokenizer).exists():
        raise UnknownTargetError("tokenizer", f"{cfg.tokenizer!r} does not exist: give the model's tokenizer.json "
                                 "(with chat_template) or a local model folder holding tokenizer.json and "
                                 "tokenizer_config.json")
    if cfg.chat_template and not Path(cfg.chat_template).is_file():
        raise UnknownTargetError("chat_template", f"{cfg.chat_template!r} is not a file: give the path of the model's "
                                 "Jinja chat template (e.g. chat_template.jinja)")
    from pipeline.chat.open_models import OpenModelError
    from pipeline.targets.counting import open_counter, open_spec

    try:
        open_counter(open_spec(target.tokenizer, cfg), str(Path(".cache")))
    except OpenModelError as e:
        raise UnknownTargetError("tokenizer", str(e)) from None
