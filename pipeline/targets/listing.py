"""`chatprep targets`: every destination with its default and known models, limits, prices, tokenizer and
deadlines, each fact with its source and the date of the copy it was read from."""

from __future__ import annotations

from pipeline.targets import provider_modules
from pipeline.targets.base import ModelFacts, Sourced
from pipeline.targets.deadlines import today


def _fact(s: Sourced | None, unit: str = "", none: str = "not published") -> str:
    if s is None:
        return "—"
    if s.value is None:
        value = none
    elif isinstance(s.value, int | float) and not isinstance(s.value, bool):
        value = f"{s.value:,}{unit}"
    else:
        value = ", ".join(s.value) if isinstance(s.value, tuple) else str(s.value)
    return f"{value}  [{s.source}{', as of ' + s.as_of if s.as_of else ''}]"


def _price(s: Sourced) -> str:
    if s.value is None:
        return f"price not published  [{s.source}]"
    return f"${s.value:,.2f}  [{s.source}, as of {s.as_of}]"


def _model_lines(m: ModelFacts, default: str) -> list[str]:
    mark = " (default)" if m.name == default else ""
    tok = m.tokenizer + ("  (an ESTIMATE: the destination's tokenizer is not available offline)"
                         if m.tokenizer.startswith("estimate:") else "")
    lines = [f"  {m.name}{mark}",
             f"      tokens per example: {_fact(m.max_example_tokens)}",
             f"      price per 1M training tokens: {_price(m.price_per_million)}",
             f"      tokenizer: {tok}"]
    if m.preference_max_tokens:
        lines.append(f"      tokens per preference (DPO) example: {_fact(m.preference_max_tokens)}")
    if m.last_new_job:
        lines.append(f"      last new fine-tuning job: {_fact(m.last_new_job)}")
    if m.shutdown:
        past = " — PAST: cannot be trained" if m.shutdown.value < today().isoformat() else ""
        lines.append(f"      shutdown / retirement: {_fact(m.shutdown)}{past}")
    return lines


def _preference(module) -> str:
    if not hasattr(module, "to_preference_record"):
        return getattr(module, "NO_PREFERENCE", None) or "not written for this destination"
    models = getattr(module, "PREFERENCE_MODELS", None)
    only = f"; DPO jobs only on {_fact(models)}" if models else ""
    return f"{_fact(module.PREFERENCE)}{only}"


def render_targets(provider: str | None = None) -> str:
    modules = provider_modules()
    if provider is not None and provider not in modules:
        raise KeyError(provider)
    out = [(f"destinations (today {today().isoformat()}; `--set target.provider=NAME` picks one, "
           "`target.model` a model):"), ""]
    for name, module in modules.items():
        if provider is not None and name != provider:
            continue
        f = module.FILES
        out += [f"{name} — {module.TITLE}", f"  docs: {module.DOCS}",
                f"  default model: {module.DEFAULT_MODEL}",
                (f"  carries: {', '.join(sorted(module.SUPPORTS)) or 'plain text turns only'} "
                "(anything else is a loss: target.lossy)"),
                f"  training examples: at least {_fact(f.min_train)}; at most {_fact(f.max_train)}",
                f"  validation examples: at most {_fact(f.max_validation)}",
                f"  file size: at most {_fact(f.max_file_bytes, ' bytes')}",
                f"  byte-order mark: {_fact(f.byte_order_mark)}",
                f"  file formats: {', '.join(f.formats)}",
                f"  preference (DPO) files: {_preference(module)}",
                "  models:"]
        for m in module.MODELS:
            out += _model_lines(m, module.DEFAULT_MODEL)
        out.append("")
    return "\n".join(out)
