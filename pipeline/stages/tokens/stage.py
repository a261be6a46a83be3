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
Truncation: truncation.py. Preference runs (pair_counts.py): each reply is counted in its own conversation;
`n_tokens` is the billing estimate prompt + chosen + rejected, the limit applies to the added column
`n_limit_tokens` (prompt + the longer reply), truncation keeps both replies whole; facts.preference says so.

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

from collections import Counter
from itertools import pairwise
from pathlib import Path

import polars as pl

from pipeline.chat.encodings import ensure_encoding
from pipeline.chat.model_limits import base_model
from pipeline.chat.token_counting import counter_for, estimate_from_sums
from pipeline.engine.facts import FirstN, Max, Min, Same, Sum, Tally, render
from pipeline.engine.stage import Problem, StageContext, StageOutput, with_drops
from pipeline.errors import UserError
from pipeline.stages.tokens.pair_counts import BILLING, LIMIT_ON, NOT_A_PAIR, OVER, count_pairs, truncate_pair
from pipeline.stages.tokens.truncation import find_cut, truncate
from pipeline.targets import UnknownTargetError, resolve_target, resolve_targets
from pipeline.targets.base import Target
from pipeline.targets.counting import TemplateRejected, count_texts, encoding_of, open_spec
from pipeline.targets.target_drops import merged, split_verdicts
from schemas.target import TargetConfig

RUNS = "per_part"
PREFERENCE = True  # pairs: the prompt once and each reply counted (pair_counts.py); the limit on the longer side
USES_TARGETS = True  # the configured destinations are part of its checkpoint key
CHUNK = 2_000
METRICS = ("tokens", "assistant_tokens", "messages")
SAMPLES = 20
FLAG_TRUNCATED, FLAG_OVER_LIMIT = "tokens:truncated", "tokens:over_limit"
UNREADABLE = "example is not a JSON object with a `messages` list"


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
    pairs = ctx.config is not None and ctx.config.is_preference()
    texts = frame["example"].to_list()
    counts, billed = _counted(texts, tokenizer, spec, cache, limit, ctx, pairs)  # billed: a pair's n_tokens
    encoding = encoding_of(tokenizer)
    counter = counter_for(encoding, str(cache)) if encoding else None
    ids = frame["example_id"].to_list()

    n = frame.height
    verdicts: list[list] = [[None] * len(targets) for _ in range(n)]
    totals, assistants, n_messages = [0] * n, [0] * n, [0] * n
    new_examples: dict[int, str] = {}
    new_flags: dict[int, str] = {}
    samples = {"over_limit": [], "truncated": []}
    over, counted = 0, "n_limit_tokens" if pairs else "n_tokens"  # what the limit applies to
    for i, c in enumerate(counts):
        if c is None:
            verdicts[i] = [("unreadable_example", NOT_A_PAIR if pairs else UNREADABLE)] * len(targets)
            continue
        if isinstance(c, TemplateRejected):
            verdicts[i][0] = ("template_rejected", f"{target.model}'s chat template cannot render it: {c}")
            continue
        totals[i], assistants[i], n_messages[i], exact = c
        if c[0] <= limit:
            continue
        over += 1
        if len(samples["over_limit"]) < SAMPLES:
            samples["over_limit"].append({"example_id": ids[i], counted: c[0], **_inexact(exact)})
        where = (f"{'' if exact else 'over '}{c[0]:,} tokens{OVER if pairs else ''} "
                 f"> limit {limit:,} of {target.model} ({target.limit_source})")
        if params.on_overflow == "keep":
            new_flags[i] = FLAG_OVER_LIMIT
        elif params.on_overflow == "drop":
            verdicts[i][0] = ("over_token_limit", where)
        else:
            if pairs:
                text, after, removed, pair_billed = truncate_pair(
                    texts[i], limit, lambda chat, t: find_cut(chat, t, counter, limit, spec, str(cache)),
                    lambda chats: count_texts(tokenizer, spec, str(cache), chats, None))
                if text is not None and after[0] > limit:
                    text, removed = None, f"without {removed} prompt messages the pair still needs {after[0]:,} tokens"
                elif text is not None:
                    billed[i] = pair_billed
            else:
                text, after, removed = truncate(texts[i], counter, limit, target, spec, str(cache))
            if text is None:
                verdicts[i][0] = ("over_token_limit_untruncatable", f"{where}; {removed}")
                continue
            new_examples[i], new_flags[i] = text, FLAG_TRUNCATED
            if len(samples["truncated"]) < SAMPLES:
                samples["truncated"].append({"example_id": ids[i], counted: c[0], **_inexact(exact),
                                             f"{counted}_after": after[0], "messages_removed": removed})
            totals[i], assistants[i], n_messages[i] = after

    out = frame.with_columns(pl.Series("n_tokens", billed if pairs else totals, pl.Int64),
                             pl.Series("n_assistant_tokens", assistants, pl.Int64),
                             *([pl.Series("n_limit_tokens", totals, pl.Int64)] if pairs else []))
    if new_examples:
        idx = sorted(new_examples)
        out = out.with_columns(out["example"].scatter(idx, [new_examples[j] for j in idx]))
    out = _other_targets(out, targets, verdicts, params, cache, ctx, pairs)
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
    values = {"tokens": [(billed or totals)[j] for j in kept], "assistant_tokens": [assistants[j] for j in kept],
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
        # a pair's billing estimate is not cut at the limit: the limit holds for each side (n_limit_tokens)
        "training_estimate": {"billed_tokens_per_epoch": Sum(sum(t if pairs else min(t, limit) for t in values["tokens"])),
                              "price_per_million": Same(target.price_per_million),
                              "price_source": Same(target.price_source)},
    }
    if pairs:
        facts["preference"] = {"n_tokens": Same(BILLING), "limit_on": Same(LIMIT_ON),
                               "max_limit_tokens": Max(max((totals[j] for j in kept), default=None))}
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
        "scope": "all kept examples before the split; OpenAI bills only the train split"
                 + ("; " + facts["preference"]["n_tokens"] if "preference" in facts else "")}
    return _derived(facts)


def _inexact(exact: bool) -> dict:
    """What a sample adds when counting stopped over the limit: its n_tokens is a lower bound ("over N")."""
    return {} if exact else {"n_tokens_exact": False}


def _counted(texts: list[str], tokenizer: str, spec, cache: Path, limit: int, ctx, pairs: bool):
    """(counts, None) per example; for pairs (counts whose total is n_limit_tokens, n_tokens): pair_counts.py."""
    def count(chats: list[str]) -> list:
        return _count_all(chats, tokenizer, spec, cache, limit, ctx)
    return count_pairs(texts, count) if pairs else (count(texts), None)


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
                   ctx, pairs: bool = False) -> pl.DataFrame:
    """Counts with the second and later targets' tokenizers (columns n_tokens:<folder>, n_assistant_tokens:<folder>,
    for pairs n_limit_tokens:<folder>) and their limits: an example over one target's limit is rejected for that
    target only (on_overflow keep: kept and flagged)."""
    texts = out["example"].to_list()
    for j, t in enumerate(targets[1:], start=1):
        tokenizer, spec = _counter_args(t, cache)
        limit = t.max_example_tokens or NO_LIMIT
        counts, billed = _counted(texts, tokenizer, spec, cache, limit, ctx, pairs)
        counted = [c if isinstance(c, tuple) else None for c in counts]
        limits = [c[0] if c else 0 for c in counted]
        out = out.with_columns(pl.Series(f"n_tokens:{t.folder}", billed or limits, pl.Int64),
                               pl.Series(f"n_assistant_tokens:{t.folder}", [c[1] if c else 0 for c in counted],
                                         pl.Int64),
                               *([pl.Series(f"n_limit_tokens:{t.folder}", limits, pl.Int64)] if pairs else []))
        for i, c in enumerate(counts):
            if isinstance(c, TemplateRejected):
                verdicts[i][j] = ("template_rejected", f"{t.model}'s chat template cannot render it: {c}")
            elif c is None:
                verdicts[i][j] = ("unreadable_example", NOT_A_PAIR if pairs else UNREADABLE)
            elif c[0] > limit and params.on_overflow != "keep":
                count = f"{'' if c[3] else 'over '}{c[0]:,}"
                verdicts[i][j] = ("over_token_limit", (f"{count} tokens{OVER if pairs else ''} "
                                                      f"> limit {limit:,} of {t.provider} {t.model} ({t.limit_source})"))
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
