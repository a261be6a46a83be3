"""The verdict: can this be uploaded? Blocking reasons and warnings, each in plain words.

Blocking: any problem of level "error" (e.g. fewer than 10 training examples), moderation not run or
skipped (the data was NOT screened — OpenAI screens every training file and rejects unsafe ones), and
exported examples over the model's token limit (OpenAI would truncate them). Warnings: problems of level
"warning", and checks that did not run (format validation, token counts).
"""

from __future__ import annotations

from pipeline.report.moderation import screening
from pipeline.report.run_data import RunData
from pipeline.report.training import over_limit_kept, token_limit

MIN_TRAIN = 10
# Warnings from stages that this page treats as blocking (the stage keeps the run going on purpose).
ELEVATED = {"moderation_not_run": "not_screened", "tokens_over_limit": "over_token_limit"}


def verdict(data: RunData) -> dict:
    blocking: list[dict] = []
    warnings: list[dict] = []
    problems = data.stats.get("problems") or []
    codes = {p.get("code") for p in problems}
    elevated = set()
    for p in problems:
        item = {"code": p.get("code"), "message": p.get("message", "")}
        if p.get("code") in ELEVATED:
            elevated.add(ELEVATED[p["code"]])
            blocking.append(item)
        else:
            (blocking if p.get("level") == "error" else warnings).append(item)
    n_train = (data.stats.get("examples") or {}).get("train", 0)
    if n_train < MIN_TRAIN and "too_few_examples" not in codes:
        blocking.append({"code": "too_few_examples",
                         "message": f"{n_train} training examples: OpenAI rejects a training file with fewer "
                                    f"than {MIN_TRAIN}"})
    screen = screening(data)
    if not screen["screened"] and "not_screened" not in elevated:
        blocking.append({"code": "not_screened", "message": screen["why"]})
    over = over_limit_kept(data)
    if over and "over_token_limit" not in elevated:
        blocking.append({"code": "over_token_limit",
                         "message": f"{over:,} exported example{'s are' if over != 1 else ' is'} longer than the "
                                    f"model's limit of {token_limit(data):,} tokens; OpenAI truncates "
                                    f"{'them' if over != 1 else 'it'} in training"})
    if not data.ran("tokens"):
        warnings.append({"code": "tokens_not_counted",
                         "message": "the tokens stage did not run: token limits, cost and epochs are not checked"})
    if not data.ran("validate"):
        warnings.append({"code": "format_not_validated",
                         "message": "the validate stage did not run: the format was not checked against "
                                    "OpenAI's fine-tuning schema"})
    return {"ready": not blocking, "blocking": _unique(blocking), "warnings": _unique(warnings),
            "train": n_train, "validation": (data.stats.get("examples") or {}).get("validation", 0)}


def _unique(items: list[dict]) -> list[dict]:
    seen, out = set(), []
    for i in items:
        key = (i["code"], i["message"])
        if key not in seen:
            seen.add(key)
            out.append(i)
    return out
