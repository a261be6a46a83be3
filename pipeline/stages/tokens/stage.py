"""tokens (batch): exact token counts for the target model, the per-example limit, and the cost estimate.

Counting rules and their sources: pipeline/token_counting.py (tools and tool calls are approximations that
err high). Model table (encoding, limit, price): pipeline/chat/model_limits.py. Encodings load offline:
pipeline/encodings.py.

Adds columns `n_tokens` (billed tokens of the example) and `n_assistant_tokens` (trained tokens: assistant
messages with weight != 0). Examples over the limit, by `on_overflow`:
  drop      -> reason `over_token_limit`
  truncate  -> drop the oldest turns after the leading system message(s): the kept part starts with a user
               message and still ends on an assistant message with weight != 0; flag `tokens:truncated`.
               When no cut fits -> reason `over_token_limit_untruncatable`
  keep      -> flag `tokens:over_limit` and a run warning (OpenAI truncates such examples in training)
Rows whose `example` is not a JSON object with a `messages` list -> reason `unreadable_example`.

Facts (`facts.tokens`; typed, so chunks merge exactly; finish_facts derives what is not mergeable from
the merged sums and bins, and the run warning comes from the final facts with problems_from_facts):
  model, base_model, encoding, limit, limit_source, on_overflow
  examples            kept examples counted (after this stage)
  totals              {tokens, assistant_tokens, messages} over kept examples
  value_bins          {tokens|assistant_tokens|messages: [[bin, count], ...]}: kept examples per fixed bin
                      (value_bin: exact below 512, then 64 bins per octave), what the next two are made from
  distribution        {tokens|assistant_tokens|messages: {min, p50, p95, max, mean}}; min, max and mean exact,
                      p50/p95 the nearest-rank value's bin, i.e. exact below 512 and at most 1/64 low above
  histograms          {tokens_per_example|assistant_tokens_per_example: {edges, counts} (power-of-2 bins,
                      bin i = [edges[i], edges[i+1])), messages_per_example: {edges, counts}}; tokens also
                      carries `limit`
  over_limit          examples over the limit before handling; truncated, dropped_over_limit, kept_over_limit
  samples             {over_limit: [...], truncated: [...]} the first 20 each: example_id, n_tokens (+ after, removed);
                      `n_tokens_exact: false` when counting stopped over the limit (then n_tokens is a lower bound)

Counting stops once a long example is over the limit (token_counting.capped): its n_tokens, n_assistant_tokens
and the reject detail ("over N tokens > limit ...") are lower bounds; examples within the limit stay exact.
  training_estimate   over ALL kept examples (this stage runs before split): n_examples, n_epochs,
                      epochs_rule, billed_tokens_per_epoch, billed_tokens, price_per_million, cost_usd,
                      price_source, scope. The report should recompute it on the train split with
                      pipeline.chat.token_counting.training_estimate(train n_tokens, limit, price_per_million, n_epochs).
"""

from __future__ import annotations

import json
from collections import Counter
from itertools import pairwise
from pathlib import Path

import polars as pl

from pipeline.chat.encodings import ensure_encoding
from pipeline.chat.model_limits import base_model
from pipeline.chat.token_counting import capped, counter_for, estimate_from_sums
from pipeline.engine.facts import FirstN, Max, Min, Same, Sum, Tally, render
from pipeline.engine.records import dumps_example
from pipeline.engine.stage import Problem, StageContext, StageOutput, with_drops
from pipeline.errors import UserError
from pipeline.targets import UnknownTargetError, resolve_target, resolve_targets
from pipeline.targets.base import Target
from pipeline.targets.counting import TemplateRejected, count_texts, encoding_of, open_counter, open_spec
from pipeline.targets.target_drops import merged, split_verdicts
from schemas.target import TargetConfig

RUNS = "per_part"
USES_TARGETS = True  # the configured destinations are part of its checkpoint key
CHUNK = 2_000
METRICS = ("tokens", "assistant_tokens", "messages")
SAMPLES = 20
FLAG_TRUNCATED, FLAG_OVER_LIMIT = "tokens:truncated", "tokens:over_limit"


NO_LIMIT = 2**62  # a target that publishes no per-example limit: nothing is over it


def run_targets(ctx: StageContext, params) -> list[Target]:
    """The run's targets; a stage run alone (no run config) counts for the openai model of its params."""
    try:
        if ctx.config is None:
            return [resolve_target(TargetConfig(model=params.model), params)]
        return resolve_targets(ctx.config)
    except UnknownTargetError as e:
        raise UserError(f"target: {e}") from None


def _counter_args(target: Target, cache: Path) -> tuple:
    encoding = encoding_of(target.tokenizer)
    if encoding is not None:
        ensure_encoding(encoding, cache)
        return target.tokenizer, None
    return target.tokenizer, open_spec(target.tokenizer, target.config)


def run(frame: pl.DataFrame, params, ctx: StageContext) -> StageOutput:
    targets = run_targets(ctx, params)
    target = targets[0]  # the first target's counts fill n_tokens; truncation fits its limit
    cache = Path(ctx.cache_dir) / "tiktoken"
    tokenizer, spec = _counter_args(target, cache)
    limit = target.max_example_tokens or NO_LIMIT
    counts = _count_all(frame["example"].to_list(), tokenizer, spec, cache, limit, ctx)
    encoding = encoding_of(tokenizer)
    counter = counter_for(encoding, str(cache)) if encoding else None
    ids = frame["example_id"].to_list()

    n = frame.height
    verdicts: list[list] = [[None] * len(targets) for _ in range(n)]
    totals, assistants, n_messages = [0] * n, [0] * n, [0] * n
    new_examples: dict[int, str] = {}
    new_flags: dict[int, str] = {}
    samples = {"over_limit": [], "truncated": []}
    over = 0
    for i, c in enumerate(counts):
        if c is None:
            verdicts[i] = [("unreadable_example", "example is not a JSON object with a `messages` list")] * len(targets)
            continue
        if isinstance(c, TemplateRejected):
            verdicts[i][0] = ("template_rejected", f"{target.model}'s chat template cannot render it: {c}")
            continue
        totals[i], assistants[i], n_messages[i], exact = c
        if c[0] <= limit:
            continue
        over += 1
        if len(samples["over_limit"]) < SAMPLES:
            samples["over_limit"].append({"example_id": ids[i], "n_tokens": c[0], **_inexact(exact)})
        where = f"{'' if exact else 'over '}{c[0]:,} tokens > limit {limit:,} of {target.model} ({target.limit_source})"
        if params.on_overflow == "keep":
            new_flags[i] = FLAG_OVER_LIMIT
        elif params.on_overflow == "drop":
            verdicts[i][0] = ("over_token_limit", where)
        else:
            text, after, removed = truncate(frame["example"][i], counter, limit, target, spec, str(cache))
            if text is None:
                verdicts[i][0] = ("over_token_limit_untruncatable", f"{where}; {removed}")
                continue
            new_examples[i], new_flags[i] = text, FLAG_TRUNCATED
            if len(samples["truncated"]) < SAMPLES:
                samples["truncated"].append({"example_id": ids[i], "n_tokens": c[0], **_inexact(exact),
                                             "n_tokens_after": after[0], "messages_removed": removed})
            totals[i], assistants[i], n_messages[i] = after

    out = frame.with_columns(pl.Series("n_tokens", totals, pl.Int64),
                             pl.Series("n_assistant_tokens", assistants, pl.Int64))
    if new_examples:
        idx = sorted(new_examples)
        out = out.with_columns(out["example"].scatter(idx, [new_examples[j] for j in idx]))
    out = _other_targets(out, targets, verdicts, params, cache, ctx)
    if new_flags:
        flags = out["flags"].to_list()
        for j, flag in new_flags.items():
            flags[j] = [*(flags[j] or []), flag]
        out = out.with_columns(pl.Series("flags", flags, pl.List(pl.Utf8)))
    folders = [t.folder for t in targets]
    reasons, details, entries = map(list, zip(*(split_verdicts(v, folders, "tokens") for v in verdicts),
                                              strict=True)) if n else ([], [], [])
    out = with_drops(merged(out, entries, len(targets) > 1), reasons, details)

    kept = [j for j in range(n) if reasons[j] is None]
    values = {"tokens": [totals[j] for j in kept], "assistant_tokens": [assistants[j] for j in kept],
              "messages": [n_messages[j] for j in kept]}
    facts = {
        "provider": Same(target.provider), "model": Same(target.model), "base_model": Same(base_model(target.model)),
        "encoding": Same(tokenizer.partition(":")[2]), "tokenizer": Same(tokenizer),
        "tokens_exact": Same(target.exact_tokens), "tokenizer_note": Same(getattr(target.module, "TOKENIZER_NOTE", None)),
        "limit": Same(limit), "limit_source": Same(target.limit_source), "on_overflow": Same(params.on_overflow),
        "examples": Sum(len(kept)),
        "totals": {m: Sum(sum(v)) for m, v in values.items()},
        "value_bins": {m: Tally(_bin_counts(v), "key") for m, v in values.items()},
        "distribution": {m: {"min": Min(min(v, default=None)), "max": Max(max(v, default=None))}
                         for m, v in values.items()},
        "over_limit": Sum(over),
        "truncated": Sum(sum(f == FLAG_TRUNCATED for f in new_flags.values())),
        "dropped_over_limit": Sum(sum(r in ("over_token_limit", "over_token_limit_untruncatable") for r in reasons)),
        "kept_over_limit": Sum(sum(f == FLAG_OVER_LIMIT for f in new_flags.values())),
        "samples": {k: FirstN(SAMPLES, v) for k, v in samples.items()},
        "training_estimate": {"billed_tokens_per_epoch": Sum(sum(min(t, limit) for t in values["tokens"])),
                              "price_per_million": Same(target.price_per_million),
                              "price_source": Same(target.price_source)},
    }
    return StageOutput(out, facts, problems_from_facts(render(facts), params))


def problems_from_facts(facts: dict, params) -> list[Problem]:
    """The run warning for examples kept over the limit (on_overflow: keep)."""
    over = facts["over_limit"]
    if params.on_overflow != "keep" or not over:
        return []
    return [Problem("warning", "tokens_over_limit",
                    f"{over} example(s) exceed {facts['limit']:,} tokens for {facts['model']}; kept as asked "
                    f"(flag {FLAG_OVER_LIMIT}); {facts.get('provider', 'openai')} truncates or rejects them in training")]


def finish_facts(facts: dict, params) -> dict:
    """The final facts from the merged ones: value_bins as [[bin, count], ...], the training estimate from its
    sums, distribution (p50, p95, mean) and histograms from value_bins, totals and the extremes."""
    facts = {**facts, "value_bins": {m: [[v, n] for v, n in bins.items()] for m, bins in facts["value_bins"].items()}}
    estimate = facts["training_estimate"]
    facts["training_estimate"] = {
        **estimate_from_sums(facts["examples"], estimate["billed_tokens_per_epoch"], estimate["price_per_million"],
                             params.n_epochs),
        "price_source": estimate["price_source"],
        "scope": "all kept examples before the split; OpenAI bills only the train split"}
    return _derived(facts)


def _inexact(exact: bool) -> dict:
    """What a sample adds when counting stopped over the limit: its n_tokens is a lower bound ("over N")."""
    return {} if exact else {"n_tokens_exact": False}


def truncate(text: str, counter, limit: int, target: Target, spec, cache: str):
    """(new example text, (total, assistant, n_messages) after, messages removed), or (None, None, why) when it
    cannot fit. With a tiktoken counter the cut is computed from per-message counts; an open model's template
    renders the whole conversation, so each candidate cut is counted again (the earliest that fits wins)."""
    obj = json.loads(text)
    if counter is None:
        return _truncate_by_recount(obj, open_counter(spec, cache), limit)
    cut, why = fit_by_dropping_oldest_turns(obj["messages"], counter.example(obj, capped(text, limit)), limit)
    if cut is None:
        return None, None, why
    obj = {**obj, "messages": obj["messages"][:cut[0]] + obj["messages"][cut[1]:]}
    after = counter.example(obj)
    return dumps_example(obj), (after.total, after.assistant, len(after.messages)), cut[1] - cut[0]


def _truncate_by_recount(obj: dict, counter, limit: int):
    messages = obj["messages"]
    head = 0
    while head < len(messages) and messages[head].get("role") == "system":
        head += 1
    if not messages or messages[-1].get("role") != "assistant":
        return None, None, "it does not end on an assistant message"
    for k in range(head + 1, len(messages)):
        if messages[k].get("role") != "user":
            continue
        cut = {**obj, "messages": messages[:head] + messages[k:]}
        if not any(m.get("role") == "assistant" and m.get("weight", 1) != 0 for m in cut["messages"]):
            break
        total, trained = counter.count(cut)
        if total <= limit:
            return dumps_example(cut), (total, trained, len(cut["messages"])), k - head
    return None, None, "no later user message starts a part that fits and still has a trained assistant answer"


def fit_by_dropping_oldest_turns(messages: list, count, limit: int) -> tuple[tuple[int, int] | None, str]:
    """The slice [head, start) to remove so the example fits: leading system messages stay, the rest
    starts at the earliest user message that makes it fit, and must still end on an assistant message
    with weight != 0. Returns (None, why) when no such cut exists."""
    head = 0
    while head < len(messages) and isinstance(messages[head], dict) and messages[head].get("role") == "system":
        head += 1
    last = messages[-1] if messages else None
    if not (isinstance(last, dict) and last.get("role") == "assistant"):
        return None, "it does not end on an assistant message"
    trained_after = [False] * (len(messages) + 1)  # trained_after[k]: an assistant with weight != 0 at >= k
    for k in range(len(messages) - 1, -1, -1):
        m = messages[k]
        trained_after[k] = trained_after[k + 1] or (isinstance(m, dict) and m.get("role") == "assistant"
                                                    and m.get("weight", 1) != 0)
    base = sum(count.messages[:head]) + count.fixed
    starts = [k for k in range(head + 1, len(messages))
              if isinstance(messages[k], dict) and messages[k].get("role") == "user" and trained_after[k]]
    if not starts:
        return None, "no later user message starts a part that still has a trained assistant answer"
    suffix = [0] * (len(messages) + 1)
    for k in range(len(messages) - 1, -1, -1):
        suffix[k] = suffix[k + 1] + count.messages[k]
    fitting = [k for k in starts if base + suffix[k] <= limit]
    if fitting:
        return (head, fitting[0]), ""  # the earliest start that fits: the fewest oldest turns removed
    over = "" if count.exact or starts[-1] >= count.first_exact else "over "
    return None, (f"the shortest part that can be kept (system prompt and tools, then messages {starts[-1] + 1}.."
                  f"{len(messages)}) needs {over}{base + suffix[starts[-1]]:,} tokens")


def _count_all(texts: list[str], tokenizer: str, spec, cache: Path, limit: int, ctx) -> list:
    """Counts per example, in input order, CHUNK examples at a time (the engine runs parts in parallel);
    counting an example stops once it is over the limit (exact below it)."""
    bar = ctx.progress(total=len(texts), desc="tokens", unit="ex")
    results: list = []
    try:
        for i in range(0, len(texts), CHUNK):
            part = count_texts(tokenizer, spec, str(cache), texts[i:i + CHUNK], limit)
            results.extend(part)
            bar.update(len(part))
        return results
    finally:
        bar.close()


def _other_targets(out: pl.DataFrame, targets: list[Target], verdicts: list[list], params, cache: Path,
                   ctx) -> pl.DataFrame:
    """Counts with the second and later targets' tokenizers (columns n_tokens:<folder>, n_assistant_tokens:<folder>)
    and their limits: an example over one target's limit is rejected for that target only (on_overflow keep:
    kept and flagged)."""
    texts = out["example"].to_list()
    for j, t in enumerate(targets[1:], start=1):
        tokenizer, spec = _counter_args(t, cache)
        limit = t.max_example_tokens or NO_LIMIT
        counts = _count_all(texts, tokenizer, spec, cache, limit, ctx)
        counted = [c if isinstance(c, tuple) else None for c in counts]
        out = out.with_columns(pl.Series(f"n_tokens:{t.folder}", [c[0] if c else 0 for c in counted], pl.Int64),
                               pl.Series(f"n_assistant_tokens:{t.folder}", [c[1] if c else 0 for c in counted],
                                         pl.Int64))
        for i, c in enumerate(counts):
            if isinstance(c, TemplateRejected):
                verdicts[i][j] = ("template_rejected", f"{t.model}'s chat template cannot render it: {c}")
            elif c is None:
                verdicts[i][j] = ("unreadable_example", "example is not a JSON object with a `messages` list")
            elif c[0] > limit and params.on_overflow != "keep":
                count = f"{'' if c[3] else 'over '}{c[0]:,}"
                verdicts[i][j] = ("over_token_limit",
                                  f"{count} tokens > limit {limit:,} of {t.provider} {t.model} ({t.limit_source})")
    return out


def value_bin(v: int) -> int:
    """The lower edge of v's fixed bin: v itself below 512; above, v with all but its top 7 bits cleared
    (64 bins per octave, each narrower than 1/64 of the values in it). Bins nest in the power-of-2 bins."""
    if v < 512:
        return v
    shift = v.bit_length() - 7
    return v >> shift << shift


def _bin_counts(values: list[int]) -> Counter:
    out: Counter = Counter()
    for v, n in Counter(values).items():  # distinct values are few: bin those
        out[value_bin(v)] += n
    return out


def _nearest_rank(bins: list[list[int]], n: int, q: float) -> float:
    """The bin of the value polars' quantile(q, "nearest") picks (the one at rank round((n - 1) q))."""
    rank, seen = int((n - 1) * q + 0.5), 0
    for v, c in bins:
        seen += c
        if seen > rank:
            return float(v)
    raise ValueError("rank beyond the counted values")


def _histogram(bins: list[list[int]], edges: list[int]) -> dict:
    counts = [sum(c for v, c in bins if lo <= v < hi) for lo, hi in pairwise(edges)]
    return {"edges": edges, "counts": counts}


def _pow2_histogram(bins: list[list[int]], top: int) -> dict:
    edges = [0, 16]
    while edges[-1] <= top:
        edges.append(edges[-1] * 2)
    return _histogram(bins, edges)


def _linear_histogram(bins: list[list[int]], top: int, cap: int = 20) -> dict:
    """Bins of 1 from 1 to `cap`, then one open bin [cap + 1, 10**9) when needed."""
    return _histogram(bins, list(range(1, min(top, cap) + 2)) + ([10**9] if top > cap else []))


def _derived(facts: dict) -> dict:
    """Fill distribution (p50, p95, mean) and histograms from value_bins, totals and the extremes."""
    n, bins = facts["examples"], facts["value_bins"]
    for m in METRICS:
        d = facts["distribution"][m]
        facts["distribution"][m] = {"min": d["min"], "p50": _nearest_rank(bins[m], n, 0.5) if n else None,
                                    "p95": _nearest_rank(bins[m], n, 0.95) if n else None, "max": d["max"],
                                    "mean": round(facts["totals"][m] / n, 1) if n else None}
    top = {m: facts["distribution"][m]["max"] or 0 for m in METRICS}
    facts["histograms"] = {
        "tokens_per_example": {**_pow2_histogram(bins["tokens"], top["tokens"]), "limit": facts["limit"]},
        "assistant_tokens_per_example": _pow2_histogram(bins["assistant_tokens"], top["assistant_tokens"]),
        "messages_per_example": _linear_histogram(bins["messages"], top["messages"])}
    return facts
