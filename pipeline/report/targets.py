"""The Targets section, and what the verdict, the estimate and the console say per destination.

Built from stats.json `targets` (one entry per configured destination, pipeline/targets/summary.py): examples
kept, what this target alone rejected, losses, token totals on the train split (exact, or an estimate said as
such wherever a count is shown), cost where a price is published ("price not published" otherwise, never a
number), file sizes against limits, deadline notices, and the source and date of every fact. Sources are split
into text and http(s) links; the template prints both escaped (links with rel=noreferrer, nothing loads).
"""

from __future__ import annotations

import re

import polars as pl

from pipeline.report.run_data import RunData
from pipeline.targets.base import FEATURE_TEXT
from pipeline.targets.files import kept_mask

URL = re.compile(r"https?://[^\s<>\"'()\[\]{}]+[^\s<>\"'()\[\]{}.,;:]")
DEADLINE_CODES = ("last_new_job", "model_shutdown")
FILE_RULES = (("min_train", "training examples, at least"), ("max_train", "training examples, at most"),
              ("max_validation", "validation examples, at most"), ("max_file_bytes", "file size, at most"),
              ("byte_order_mark", "byte-order mark (BOM)"))


def target_entries(stats: dict) -> list[dict]:
    """stats.json `targets` as a list in run order (the first is the one the tokens stage's facts describe)."""
    found = stats.get("targets")
    return [t for t in found.values() if isinstance(t, dict)] if isinstance(found, dict) else []


def label(t: dict) -> str:
    return f"{t.get('provider', '?')} {t.get('model', '?')}"


def target_names(stats: dict) -> str:
    """The configured targets in words: "openai gpt-4o-mini-2024-07-18", "a, b and c"; "" when none are recorded."""
    names = [label(t) for t in target_entries(stats)]
    return names[0] if len(names) == 1 else (", ".join(names[:-1]) + " and " + names[-1] if names else "")


def providers(stats: dict) -> set[str]:
    return {t.get("provider") for t in target_entries(stats)}


def source_parts(text) -> list[dict]:
    """A fact's source as pieces: {"text": ...} and {"url": ...} (http and https only)."""
    text = "" if text is None else str(text)
    out, at = [], 0
    for m in URL.finditer(text):
        if m.start() > at:
            out.append({"text": text[at:m.start()]})
        out.append({"url": m.group()})
        at = m.end()
    if at < len(text):
        out.append({"text": text[at:]})
    return out


def estimate_note(tokens: dict, provider: str | None = None) -> str:
    """Why a count is an estimate: the destination's TOKENIZER_NOTE, else what it was counted with."""
    note = str(tokens.get("note") or "").strip()
    if note:  # a note may open with the word itself ("estimate: counted with ..."): said once
        return re.sub(r"^(an? )?estimate[:,]?\s*", "", note, flags=re.IGNORECASE) or note
    counted = str(tokens.get("counted_with") or "").partition(":")[2] or "another tokenizer"
    return f"counted with {counted}, not {provider or 'the destination'}'s own tokenizer"


def count_text(n, tokens: dict | None, provider: str | None = None) -> str:
    """A token count as shown: "50,316" when exact, "≈ 48,295 (estimate: <note>)" when not."""
    if not isinstance(n, int | float) or isinstance(n, bool):
        return "—"
    if tokens is None or tokens.get("exact", True):
        return f"{int(n):,}"
    return f"≈ {int(n):,} (estimate: {estimate_note(tokens, provider)})"


def count_parts(n, tokens: dict | None, provider: str | None = None) -> dict:
    """A count for a card: {"value": "≈ 48,295", "note": "(estimate: …)"} (note None when exact)."""
    text = count_text(n, tokens, provider)
    value, _, note = text.partition(" (estimate: ")
    return {"value": value, "note": f"(estimate: {note}" if note else None}


def cost_text(t: dict) -> str:
    """The training cost as shown: "$0.45", "price not published" (price null), or "—" (tokens not counted)."""
    if t.get("price_per_million") is None:
        return "price not published"
    cost = ((t.get("tokens") or {}).get("estimate") or {}).get("cost_usd")
    if not isinstance(cost, int | float):
        return "—"
    return f"${cost:,.2f}" if cost >= 0.01 or cost == 0 else f"${cost:.4f}"


def size_text(n) -> str:
    if not isinstance(n, int | float) or isinstance(n, bool):
        return "—"
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{int(n):,} bytes"


def value_text(name: str, value) -> str:
    """A fact's value in words: "not published" for null (a price: "price not published"), sizes in MiB."""
    if value is None:
        return "price not published" if name == "price_per_million" else "not published"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if name == "price_per_million" and isinstance(value, int | float):
        return f"${value:,.2f}"
    if name == "max_file_bytes" and isinstance(value, int | float):
        return size_text(value)
    return f"{value:,}" if isinstance(value, int) else str(value)


def _fact(name: str, what: str, fact) -> dict:
    if not isinstance(fact, dict):
        return {"name": name, "what": what, "value": "not published", "source": [], "as_of": ""}
    return {"name": name, "what": what, "value": value_text(name, fact.get("value")),
            "source": source_parts(fact.get("source")), "as_of": fact.get("as_of") or ""}


def _facts(t: dict) -> list[dict]:
    limit, applied = t.get("limit_reference") or {}, t.get("max_example_tokens")
    rows = [{"name": "docs", "what": "format and rules", "value": t.get("title"), "source": source_parts(t.get("docs")),
             "as_of": ""},
            {**_fact("max_example_tokens", "tokens per example", t.get("limit_reference")),
             "applied": None if applied == limit.get("value") else
             f"applied: {value_text('max_example_tokens', applied)}, {t.get('limit_source')}"},
            {"name": "price_per_million", "what": "price per 1M training tokens",
             "value": value_text("price_per_million", t.get("price_per_million")),
             "source": source_parts(t.get("price_source")), "as_of": ""},
            {"name": "tokenizer", "what": "tokenizer", "value": t.get("tokenizer"), "as_of": "",
             "source": [{"text": "exact: the destination's own tokenizer" if t.get("tokens_exact", True) else
                         "an ESTIMATE: " + estimate_note({"note": t.get("tokenizer_note"),
                                                           "counted_with": t.get("tokenizer")}, t.get("provider"))}]}]
    rules = t.get("file_rules") if isinstance(t.get("file_rules"), dict) else {}
    rows += [_fact(key, what, rules.get(key)) for key, what in FILE_RULES if key in rules]
    for key, what in (("last_new_job", "last day to create a fine-tuning job"), ("shutdown", "model shutdown")):
        if isinstance(t.get(key), dict):
            rows.append(_fact(key, what, t[key]))
    return rows


def _files(t: dict, several: bool) -> list[dict]:
    """The files written, as paths next to the report, against the destination's size limit."""
    folder = f"{t.get('folder')}/" if several else ""
    out = []
    for name, f in (t.get("files") or {}).items():
        if not isinstance(f, dict) or "bytes" not in f:
            continue
        cap = f.get("limit_bytes")
        share = f["bytes"] / cap * 100 if isinstance(cap, int | float) and cap else None
        out.append({"path": folder + name, "bytes": f["bytes"], "limit_bytes": cap, "share": share,
                    "over": share is not None and share > 100})
    return out


def _over_limit_kept(data: RunData, t: dict, first: bool) -> int:
    """Exported examples of this target longer than its per-example limit (kept with on_overflow: keep)."""
    ex = data.examples
    name = "n_limit_tokens" if ("n_limit_tokens" if first else f"n_limit_tokens:{t.get('folder')}") in ex.columns \
        else "n_tokens"  # a preference pair: the prompt + its longer reply must fit
    limit, column = t.get("max_example_tokens"), name if first else f"{name}:{t.get('folder')}"
    if not isinstance(limit, int) or column not in ex.columns:
        return 0
    mine = ex.filter(kept_mask(ex, str(t.get("folder"))))
    return int((mine[column].fill_null(0) > limit).sum())


OVER_LIMIT = ("over_token_limit", "over_token_limit_untruncatable")


def _single_target_rejects(data: RunData, provider: str | None) -> dict:
    """With one target every reject is the run's. Those that are this target's: the losses it cannot carry
    (lossy_<feature>), its own rules (validate rejects whose detail is a RuleProblem's: "message 3: <provider>
    requires ...") and its per-example limit (the tokens stage's over_token_limit)."""
    rejects = data.rejects
    if rejects.height == 0 or not {"stage", "reason", "detail"} <= set(rejects.columns):
        return {}
    rule = rf"^(message \d+: )?{re.escape(str(provider))} "
    mine = rejects.filter(pl.col("reason").str.starts_with("lossy_")
                          | ((pl.col("stage") == "validate") & pl.col("detail").fill_null("").str.contains(rule))
                          | ((pl.col("stage") == "tokens") & pl.col("reason").is_in(list(OVER_LIMIT))))
    return dict(mine.group_by("reason", maintain_order=True).len().iter_rows())


def _reasons(counts: dict) -> list[dict]:
    """Reject reasons with words for the losses: lossy_tools -> what rejecting it kept out."""
    out = []
    for reason, n in counts.items():
        feature = str(reason).removeprefix("lossy_")
        what = (f"it cannot carry {FEATURE_TEXT[feature].split(' (')[0]} (lossy: drop_feature writes the example "
                "without them)" if str(reason).startswith("lossy_") and feature in FEATURE_TEXT else "")
        out.append({"reason": reason, "n": n, "what": what})
    return out


def own_blocking(t: dict) -> list[dict]:
    """What blocks this target by itself: its file-rule errors and past deadlines."""
    items = [{"code": p.get("code"), "message": p.get("message", "")} for p in t.get("problems") or []
             if isinstance(p, dict) and p.get("level") == "error"]
    items += [{"code": n.get("code"), "message": n.get("message", "")} for n in t.get("notices") or []
              if isinstance(n, dict) and n.get("level") == "error"]
    return items


def truncates(provider: str | None) -> str:
    return "OpenAI truncates" if provider in (None, "openai") else f"{provider} may truncate or reject"


def over_limit_item(t: dict, n: int) -> dict:
    """The blocking item for `n` exported examples over target `t`'s per-example limit."""
    return {"code": "over_token_limit",
            "message": f"{label(t)}: {n:,} exported example{'s are' if n != 1 else ' is'} longer than the model's "
                       f"limit of {t['max_example_tokens']:,} tokens; {truncates(t.get('provider'))} "
                       f"{'them' if n != 1 else 'it'} in training"}


def deadline_notices(stats: dict) -> list[dict]:
    """Every target's deadline notices (level, message, source pieces), for the top of the verdict."""
    return [{"target": label(t), "level": n.get("level"), "code": n.get("code"), "message": n.get("message", ""),
             "source": source_parts(n.get("source"))}
            for t in target_entries(stats) for n in t.get("notices") or [] if isinstance(n, dict)]


def target_cards(data: RunData) -> dict:
    """The Targets section's data: one item per destination, in run order."""
    entries = target_entries(data.stats)
    several = len(entries) > 1
    items = []
    for j, t in enumerate(entries):
        tokens = t.get("tokens") if isinstance(t.get("tokens"), dict) else None
        est = (tokens or {}).get("estimate") or {}
        rejected = t.get("rejected_for_this_target") or {}
        losses = t.get("losses") or {}
        over = _over_limit_kept(data, t, j == 0)
        items.append({
            "label": label(t), "folder": t.get("folder"), "title": t.get("title"), "provider": t.get("provider"),
            "docs": source_parts(t.get("docs")), "examples": t.get("examples") or {},
            "blocking": own_blocking(t) + ([over_limit_item(t, over)] if over else []),
            "problems": [p for p in t.get("problems") or [] if isinstance(p, dict) and p.get("level") != "error"],
            "rejected": _reasons(rejected if several else _single_target_rejects(data, t.get("provider"))),
            "several": several,
            "lossy": t.get("lossy"), "losses": [{"feature": f, "n": n, "what": FEATURE_TEXT.get(f, f)}
                                                for f, n in losses.items()],
            "supports": t.get("supports") or [],
            "tokens": None if tokens is None else {
                "exact": bool(tokens.get("exact", True)), "note": estimate_note(tokens, t.get("provider")),
                "counted_with": tokens.get("counted_with"),
                "train": count_parts(tokens.get("train_tokens"), tokens, t.get("provider")),
                "trained": count_parts(tokens.get("train_trained_tokens"), tokens, t.get("provider")),
                "billed_per_epoch": count_parts(est.get("billed_tokens_per_epoch"), tokens, t.get("provider")),
                "billed": count_parts(est.get("billed_tokens"), tokens, t.get("provider")),
                "epochs": est.get("n_epochs"), "epochs_rule": est.get("epochs_rule"), "pairs": bool(tokens.get("pairs"))},
            "cost": cost_text(t), "price": t.get("price_per_million"),
            "price_source": source_parts(t.get("price_source")),
            "limit": t.get("max_example_tokens"),
            "files": _files(t, several), "extra_files": t.get("extra_files") or [],
            "notices": [{**n, "source": source_parts(n.get("source"))} for n in t.get("notices") or []
                        if isinstance(n, dict)],
            "facts": _facts(t),
        })
    return {"items": items, "several": several,
            "any_estimate": any(i["tokens"] and not i["tokens"]["exact"] for i in items)}


def console_line(t: dict, out_dir, several: bool) -> str:
    """One line per target for the console: "openai gpt-4o-mini-2024-07-18: 300 train / 33 validation -> out/
    (tokens exact, ~$0.45)"."""
    ex = t.get("examples") or {}
    folder = f"{str(out_dir).rstrip('/')}/{t.get('folder')}/" if several else f"{str(out_dir).rstrip('/')}/"
    tokens = t.get("tokens") if isinstance(t.get("tokens"), dict) else None
    if tokens is None:
        counted = "tokens not counted"
    elif tokens.get("exact", True):
        counted = "tokens exact"
    else:
        counted = f"tokens estimated: {estimate_note(tokens, t.get('provider'))};"
    cost = cost_text(t)
    money = f"~{cost}" if cost.startswith("$") else cost
    counted += "" if counted.endswith(";") else ","
    blocked = [b["code"] for b in own_blocking(t)]
    return (f"{label(t)}: {ex.get('train', 0):,} train / {ex.get('validation', 0):,} validation -> {folder} "
            f"({counted} {money})" + (f"  BLOCKED: {', '.join(blocked)}" if blocked else ""))


def over_limit_by_target(data: RunData) -> list[tuple[dict, int]]:
    """(target, exported examples over its limit) for each target with any."""
    return [(t, n) for j, t in enumerate(target_entries(data.stats)) if (n := _over_limit_kept(data, t, j == 0))]

