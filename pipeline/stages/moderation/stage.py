"""moderation (batch): screen message texts with OpenAI's moderation endpoint; drop or flag unsafe examples.

Texts (every message, or only user/assistant ones; long ones in chunks) go to /v1/moderations through the
official SDK, batched, concurrently, paced under the configured RPM/TPM budgets and cached by text hash
(the helpers beside this module). An example is flagged when any of its texts is: OpenAI's `flagged` verdict, or a
category score at or above its configured threshold. action=drop rejects it with reason
`moderation_flagged` and a detail naming the message, categories and scores; action=flag keeps it and
appends `moderation:<category>` to its `flags`. An example with a text the server refuses (HTTP 400; the
screener splits the batch to find it) is rejected, whatever the action, with reason
`moderation_rejected_input` and a detail naming the message and quoting the server (the key redacted).

Preference runs: the prompt, the chosen reply and the rejected reply are screened (details name the side:
"the chosen reply (message 3): ...", "the rejected reply: ..."). The prompt and the chosen reply follow
`action`; a flagged rejected reply drops the pair as `moderation_flagged` whatever `action` (a provider may
refuse the file), or with `preference_rejected: keep` keeps it flagged `moderation:rejected_flagged`.

Without OPENAI_API_KEY nothing is screened: every example is kept, the console warns, and a Problem
`moderation_not_run` is reported (level warning, or error when `required: true` — the run then finishes,
so the other stages' results and the report exist, but exits "not ready"). A service that stays down past
the retry budget stops the run with a UserError; answers received so far stay cached for the rerun.

It runs `whole` on purpose: the runner gives it the whole frame once, in the main process, so
one rate budget paces every request and texts are deduplicated and batched across the whole input.

facts keys (names chosen to match pipeline/report/moderation.py):
  skipped (only when nothing was screened: why), model, screen, action, required, examples_screened,
  flagged (examples flagged), texts_screened (chunks, repeats included), messages_chunked,
  images_not_screened, unique_texts, from_cache, sent, requests, retries {kind: n}, rejected_inputs
  (texts refused with HTTP 400), rejected_input_examples, seconds, inputs_per_second, rate_limit_slowdowns,
  rate_limited_give_up_seconds, rate_budget {requests_per_minute, tokens_per_minute} (in force
  at the end: configured, or announced by the server), flagged_by_category {category: flagged examples},
  decided_by {openai_flag: n, threshold: n} (examples), score_histograms {category: {counts: 10 bin
  counts of the unique texts' scores, edges: [0, 0.1, ..., 1]}}, flagged_examples [≤ 20 {example_id,
  action, detail, categories [..], scores {category: score}, example: JSON of the flagged messages only,
  each clipped to 600 characters}]; preference runs: preference {preference_rejected, rejected_flagged (pairs
  whose rejected reply was flagged)}
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from pipeline.chat import preference
from pipeline.chat.texts import message_text
from pipeline.engine.records import dumps_example
from pipeline.engine.stage import Problem, StageContext, StageOutput, keep_all, with_drops
from pipeline.errors import UserError
from pipeline.stages.moderation.cache import ModerationCache, text_hash
from pipeline.stages.moderation.client import (
    ModerationClient,
    api_key_from_env,
    base_url_from_env,
    endpoint_id,
)
from pipeline.stages.moderation.decision import ExampleDecision, decide
from pipeline.stages.moderation.rate_budget import RateBudget
from pipeline.stages.moderation.screened_texts import USER_AND_ASSISTANT, ExampleTexts, example_texts
from pipeline.stages.moderation.screener import Screener, ScreeningFailed, ScreeningSettings

RUNS = "whole"  # in the main process, on the whole frame: one rate budget paces every request
PREFERENCE = True  # pairs: the prompt, the chosen and the rejected reply are screened (preference_rejected)
REASON = "moderation_flagged"
REFUSED = "moderation_rejected_input"  # the server answered HTTP 400 for one of the example's texts
REJECTED_FLAG = "moderation:rejected_flagged"  # a pair kept with its rejected reply flagged (preference_rejected: keep)
MAX_SAMPLES = 20
BINS = 10
MAX_PLACES = 3  # flagged messages shown per sample
CLIP = 600


def cache_key(params) -> str:
    """Whether a key is set and which endpoint: a run without a key must not be reused once one appears."""
    return f"key={'set' if api_key_from_env() else 'unset'};base={endpoint_id(base_url_from_env())}"


def run(frame: pl.DataFrame, params, ctx: StageContext) -> StageOutput:
    if api_key_from_env() is None:
        return _not_screened(frame, params, ctx)
    roles = None if params.screen == "all" else USER_AND_ASSISTANT
    pairs = ctx.config is not None and ctx.config.is_preference()
    per_example = [example_texts(e, roles, params.chunk_chars, params.chunk_overlap_chars, pairs)
                   for e in frame["example"].to_list()]
    unique: dict[str, str] = {}
    for ex in per_example:
        for t in ex.texts:
            unique.setdefault(text_hash(t.text), t.text)

    client = ModerationClient(params.model, params.timeout_seconds)
    cache_dir = Path(params.cache_dir) if params.cache_dir else Path(ctx.cache_dir) / "moderation"
    cache = ModerationCache(cache_dir, endpoint_id(client.base_url), params.model)
    # one budget for every sender of the run: this process's object locally, an actor on Ray (ctx.executor)
    budget = ctx.executor.shared(RateBudget, params.requests_per_minute, params.tokens_per_minute,
                                 follow_server=params.follow_server_limits)
    settings = ScreeningSettings(params.batch_size, params.batch_max_tokens, params.concurrency, params.max_retries,
                                 params.max_rate_limited_retries, params.rate_limited_give_up_seconds,
                                 params.backoff_seconds)
    screener = Screener(client, cache, budget, settings, ctx.progress)
    try:
        results = screener.screen(unique)
    except ScreeningFailed as e:
        kept = screener.stats.from_cache + screener.stats.sent
        raise UserError(f"moderation: screening stopped — {e}. {kept:,} of {len(unique):,} texts are screened "
                        f"and kept in {cache.path}; rerun to continue from there.") from None
    finally:
        client.close()
        cache.close()

    thresholds = dict(params.thresholds)
    refused = [refused_detail(ex, screener.rejected) for ex in per_example]
    decisions = [decide([], [], thresholds, params.use_flagged) if why else
                 decide(ex.texts, [results[text_hash(t.text)] for t in ex.texts], thresholds, params.use_flagged)
                 for ex, why in zip(per_example, refused)]
    out = _apply_pairs(frame, decisions, params, refused) if pairs else _apply(frame, decisions, params.action, refused)
    facts = _facts(frame, params, per_example, decisions, results, screener, budget)
    facts["rejected_input_examples"] = sum(why is not None for why in refused)
    if pairs:
        facts["preference"] = {"preference_rejected": params.preference_rejected,
                               "rejected_flagged": sum(_on_rejected(d)[1].flagged for d in decisions)}
    return StageOutput(out, facts)


def refused_detail(ex: ExampleTexts, rejected: dict[str, str]) -> str | None:
    """Why the server could not screen this example (a text it refused with HTTP 400), else None."""
    for t in ex.texts:
        message = rejected.get(text_hash(t.text))
        if message is not None:
            return f"{t.where()}: the moderation server refused this text ({message}), so it could not be screened"
    return None


def _apply(frame: pl.DataFrame, decisions: list[ExampleDecision], action: str,
           refused: list[str | None]) -> pl.DataFrame:
    """Refused examples are rejected whatever the action (unscreened); flagged ones dropped or flagged."""
    if action == "drop":
        reasons = [REFUSED if why else REASON if d.flagged else None for d, why in zip(decisions, refused)]
        details = [why or (d.detail() if d.flagged else None) for d, why in zip(decisions, refused)]
        return with_drops(frame, reasons, details)
    flags = [list(old or []) + [f"moderation:{c}" for c in d.categories() if f"moderation:{c}" not in (old or [])]
             for old, d in zip(frame["flags"].to_list(), decisions)]
    flagged = frame.with_columns(pl.Series("flags", flags, pl.List(pl.Utf8)))
    if not any(refused):
        return keep_all(flagged)
    return with_drops(flagged, [REFUSED if why else None for why in refused], refused)


def _on_rejected(decision: ExampleDecision) -> tuple[ExampleDecision, ExampleDecision]:
    """A pair's flagged texts apart: (the prompt's and the chosen reply's, the rejected reply's)."""
    places = decision.places
    return (ExampleDecision([p for p in places if p[0].side != "rejected"]),
            ExampleDecision([p for p in places if p[0].side == "rejected"]))


def _apply_pairs(frame: pl.DataFrame, decisions: list[ExampleDecision], params,
                 refused: list[str | None]) -> pl.DataFrame:
    """_apply for preference pairs: the prompt and the chosen reply follow `action`; a flagged rejected reply
    drops the pair (preference_rejected: drop) or keeps it flagged REJECTED_FLAG (keep)."""
    reasons, details, flags = [], [], []
    for d, why, old in zip(decisions, refused, frame["flags"].to_list(), strict=True):
        chat, rejected = _on_rejected(d)
        drop = why is not None or (params.action == "drop" and chat.flagged) or (
            rejected.flagged and params.preference_rejected == "drop")
        reasons.append(REFUSED if why else REASON if drop else None)
        details.append(why or (d.detail() if drop else None))
        new = [f"moderation:{c}" for c in chat.categories()] if params.action == "flag" and not drop else []
        new += [REJECTED_FLAG] if rejected.flagged and not drop else []
        flags.append(list(old or []) + [f for f in new if f not in (old or [])])
    return with_drops(frame.with_columns(pl.Series("flags", flags, pl.List(pl.Utf8))), reasons, details)


def _not_screened(frame: pl.DataFrame, params, ctx: StageContext) -> StageOutput:
    why = "OPENAI_API_KEY is not set"
    message = (f"NOT SCREENED: {why}, so the moderation stage did not check any of the {frame.height:,} "
               f"examples for unsafe content (OpenAI screens uploaded training files and rejects unsafe ones). "
               f"Set OPENAI_API_KEY (and OPENAI_BASE_URL for a compatible server) and rerun.")
    ctx.warn(message if not params.required else f"{message} (stages.moderation.required is true: this is an error)")
    level = "error" if params.required else "warning"
    facts = {"skipped": why, "model": params.model, "screen": params.screen, "action": params.action,
             "required": params.required, "examples_screened": 0}
    return StageOutput(keep_all(frame), facts, [Problem(level, "moderation_not_run", message)])


def _facts(frame, params, per_example: list[ExampleTexts], decisions: list[ExampleDecision], results,
           screener: Screener, budget) -> dict:
    by_category: dict[str, int] = {}
    decided_by = {"openai_flag": 0, "threshold": 0}
    samples = []
    for eid, example, d in zip(frame["example_id"].to_list(), frame["example"].to_list(), decisions):
        if not d.flagged:
            continue
        categories = d.categories()
        for c in categories:
            by_category[c] = by_category.get(c, 0) + 1
        findings = [f for _, fs in d.places for f in fs]
        decided_by["openai_flag" if any(f.threshold is None for f in findings) else "threshold"] += 1
        if len(samples) < MAX_SAMPLES:
            samples.append({"example_id": eid, "action": params.action, "detail": d.detail(),
                            "categories": list(categories), "scores": {c: round(s, 4) for c, s in categories.items()},
                            "example": _flagged_messages(example, d)})
    counts: dict[str, list[int]] = {}
    for r in results.values():
        for c, s in r.scores.items():
            counts.setdefault(c, [0] * BINS)[min(int(s * BINS), BINS - 1)] += 1
    edges = [round(i / BINS, 2) for i in range(BINS + 1)]
    return {
        "model": params.model, "screen": params.screen, "action": params.action, "required": params.required,
        "examples_screened": frame.height, "flagged": sum(d.flagged for d in decisions),
        "texts_screened": sum(len(ex.texts) for ex in per_example),
        "messages_chunked": sum(1 for ex in per_example for t in ex.texts if t.chunk == 1),
        "images_not_screened": sum(ex.images for ex in per_example),
        **screener.stats.as_facts(), "rate_limit_slowdowns": budget.slowdowns,
        "rate_limited_give_up_seconds": params.rate_limited_give_up_seconds,
        "rate_budget": {"requests_per_minute": budget.requests_per_minute,
                        "tokens_per_minute": budget.tokens_per_minute},
        "flagged_by_category": dict(sorted(by_category.items())), "decided_by": decided_by,
        "score_histograms": {c: {"counts": v, "edges": edges} for c, v in sorted(counts.items())},
        "flagged_examples": samples,
    }


def _flagged_messages(example: str, decision: ExampleDecision) -> str:
    """The flagged messages of an example as a small chat object (each text clipped), for the report."""
    obj = json.loads(example)
    messages = obj.get("messages") or []
    shown = []
    for number in sorted({where.message for where, _ in decision.places})[:MAX_PLACES]:
        rejected = number > len(messages)  # a pair's rejected reply comes after its chat
        msg = preference.rejected(obj) if rejected else messages[number - 1]
        text = message_text(msg)
        shown.append({"role": "assistant (rejected reply)" if rejected else msg.get("role"),
                      "content": text[:CLIP] + ("…" if len(text) > CLIP else "")})
    return dumps_example({"messages": shown})
