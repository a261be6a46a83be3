"""The verdict: can this be uploaded where the run targets? Blocking reasons and warnings, each in plain words.

Blocking: any problem of level "error" (a destination's file rules, e.g. too few training examples; a past
deadline), moderation not run or skipped (the data was NOT screened; OpenAI also screens every training file
and rejects unsafe ones), and exported examples over a target's per-example limit. Warnings: problems of level
"warning", and checks that did not run (format validation, token counts). The deadline notices of the targets
(OpenAI: no new jobs after 2027-01-06, models shut down 2027-01-14) are listed apart, at the top, with their
sources; with several targets each one also gets its own ready / blocked line.
"""

from __future__ import annotations

from pipeline.report import targets as per_target
from pipeline.report.moderation import screening
from pipeline.report.run_data import RunData
from pipeline.report.training import over_limit_kept, token_limit

MIN_TRAIN = 10  # OpenAI's minimum: applied only to a stats.json without targets (each target checks its own)
# Warnings from stages that this page treats as blocking (the stage keeps the run going on purpose).
ELEVATED = {"moderation_not_run": "not_screened", "tokens_over_limit": "over_token_limit"}


def verdict(data: RunData) -> dict:
    blocking: list[dict] = []
    warnings: list[dict] = []
    problems = data.stats.get("problems") or []
    entries = per_target.target_entries(data.stats)
    deadlines = per_target.deadline_notices(data.stats)
    shown_apart = {(n["code"], n["message"]) for n in deadlines}
    codes = {p.get("code") for p in problems}
    elevated = set()
    for p in problems:
        item = {"code": p.get("code"), "message": p.get("message", "")}
        if p.get("code") in ELEVATED:
            elevated.add(ELEVATED[p["code"]])
            blocking.append(item)
        elif p.get("level") == "error":
            blocking.append(item)
        elif not (p.get("code") in per_target.DEADLINE_CODES and (item["code"], item["message"]) in shown_apart):
            warnings.append(item)  # a deadline warning is listed once, in the deadlines at the top
    n_train = (data.stats.get("examples") or {}).get("train", 0)
    if not entries and n_train < MIN_TRAIN and "too_few_examples" not in codes:
        blocking.append({"code": "too_few_examples",
                         "message": f"{n_train} training examples: OpenAI rejects a training file with fewer "
                                    f"than {MIN_TRAIN}"})
    screen = screening(data)
    if not screen["screened"] and "not_screened" not in elevated:
        blocking.append({"code": "not_screened", "message": screen["why"]})
    over_items = _over_limit(data, entries)
    if "over_token_limit" not in elevated:
        blocking += [item for _, item in over_items]
    if not data.ran("tokens"):
        warnings.append({"code": "tokens_not_counted",
                         "message": "the tokens stage did not run: token limits, cost and epochs are not checked"})
    if not data.ran("validate"):
        where = per_target.target_names(data.stats) or "OpenAI"
        warnings.append({"code": "format_not_validated",
                         "message": "the validate stage did not run: the format was not checked against the chat "
                                    f"schema and the rules of {where}"})
    blocking = _unique(blocking)
    return {"ready": not blocking, "blocking": blocking, "warnings": _unique(warnings),
            "train": n_train, "validation": (data.stats.get("examples") or {}).get("validation", 0),
            "target_names": per_target.target_names(data.stats), "deadlines": deadlines,
            "targets": _per_target(entries, blocking, over_items)}


def _over_limit(data: RunData, entries: list[dict]) -> list[tuple[str | None, dict]]:
    """(target folder, blocking item) for exported examples over a target's per-example limit."""
    if not entries:
        over = over_limit_kept(data)
        provider = data.facts("tokens").get("provider")
        return [(None, {"code": "over_token_limit",
                        "message": f"{over:,} exported example{'s are' if over != 1 else ' is'} longer than the "
                                   f"model's limit of {token_limit(data):,} tokens; {per_target.truncates(provider)} "
                                   f"{'them' if over != 1 else 'it'} in training"})] if over else []
    return [(t.get("folder"), per_target.over_limit_item(t, n)) for t, n in per_target.over_limit_by_target(data)]


def _per_target(entries: list[dict], blocking: list[dict], over_items) -> list[dict]:
    """Each target ready or not: blocked by its own problems, or by what blocks the whole run."""
    own = {t.get("folder"): per_target.own_blocking(t) + [i for folder, i in over_items if folder == t.get("folder")]
           for t in entries}
    anyone = {(i["code"], i["message"]) for items in own.values() for i in items}
    common = [b for b in blocking if (b["code"], b["message"]) not in anyone]
    out = []
    for t in entries:
        mine = own[t.get("folder")]
        out.append({"label": per_target.label(t), "folder": t.get("folder"), "ready": not mine and not common,
                    "examples": t.get("examples") or {}, "why": [i["code"] for i in mine + common]})
    return out


def _unique(items: list[dict]) -> list[dict]:
    seen, out = set(), []
    for i in items:
        key = (i["code"], i["message"])
        if key not in seen:
            seen.add(key)
            out.append(i)
    return out
