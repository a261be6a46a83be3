"""What export records about the preference pairs it writes (docs/preference-design.md, 5): `facts.export.preference`,
computed on each part from the pairs at least one target takes and typed so the parts merge exactly
(pipeline/engine/facts.py); the runner lifts it to stats.json `preference`.

  pairs         {train, validation}: pairs exported (taken by at least one target)
  targets       {folder: {pairs: {train, validation}, refused: {reason: n}}}: the pairs in each destination's
                preference file, and those its preference writer refused (export's own verdicts)
  by_source     {source file: pairs exported}
  by_signal     {explicit | ratings | edits: pairs exported}
  margin        the pairs with both scores (ratings): {pairs, min, max, mean, histogram of
                chosen_score − rejected_score}; null when no exported pair has scores
  length_bias   {pairs, chosen_longer, rejected_longer, same_length, chosen_longer_share, median_log2_ratio,
                warn_above, warning, histogram of log2(chosen chars / rejected chars)}: the characters of each
                reply's text (chat.texts.message_text), at least 1 so that a reply with only a tool call has a
                ratio; the median is exact to 0.01 (it is taken from the ratios rounded to hundredths)

Histogram edges are fixed; `null` at either end marks an open outer bin.
"""

from __future__ import annotations

import json
import math
from bisect import bisect_right

from pipeline.chat import preference
from pipeline.chat.texts import message_text
from pipeline.engine.facts import Histogram, Max, Min, Sum, Tally
from pipeline.engine.stage import Problem

SPLITS = ("train", "validation")
LENGTH_BIAS_WARN = 0.70  # above this share of pairs with the longer reply chosen, the run warns
RATIO_EDGES = [None, -3, -2, -1, -0.5, -0.1, 0.1, 0.5, 1, 2, 3, None]  # log2(chosen chars / rejected chars)
RATIO_LABELS = ["< 1/8×", "1/8–1/4×", "1/4–1/2×", "1/2–0.71×", "0.71–0.93×", "0.93–1.07×", "1.07–1.41×",
                "1.41–2×", "2–4×", "4–8×", "≥ 8×"]
MARGIN_EDGES = [None, 0, 0.5, 1, 2, 3, 4, 5, 10, 20, 50, 100, None]  # chosen_score − rejected_score
MARGIN_LABELS = ["< 0", "[0, 0.5)", "[0.5, 1)", "[1, 2)", "[2, 3)", "[3, 4)", "[4, 5)", "[5, 10)", "[10, 20)",
                 "[20, 50)", "[50, 100)", "≥ 100"]
_HUNDREDTHS = "log2_ratio_hundredths"  # merge bookkeeping for the median; finish() replaces it


def _bin(edges: list, value: float) -> int:
    """The bin of `value` among fixed edges whose ends are open (None)."""
    return bisect_right(edges[1:-1], value)


def _counts(edges: list, values: list[float]) -> list[int]:
    counts = [0] * (len(edges) - 1)
    for v in values:
        counts[_bin(edges, v)] += 1
    return counts


def _score(value) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
        and math.isfinite(value) else None


def part_facts(examples: list[str], splits: list[str], sources: list[str], taken: dict[str, list[bool]],
               refused: dict[str, list[str | None]]) -> dict:
    """The typed facts of one part's exported pairs. examples, splits, sources: the pairs exported (JSON text,
    split, source file); taken: per target folder, whether that target's file holds each of them; refused:
    per target folder, export's reject reason (None: written or dropped earlier) for every row of the part."""
    by_split, by_source, by_signal = Tally({}, SPLITS), Tally(), Tally({}, "count_then_key")
    ratios, hundredths, margins = [], Tally(), []
    longer = {"chosen_longer": 0, "rejected_longer": 0, "same_length": 0}
    for text, split, source in zip(examples, splits, sources, strict=True):
        pair = json.loads(text)
        by_split.counts[split] = by_split.counts.get(split, 0) + 1
        by_source.counts[source] = by_source.counts.get(source, 0) + 1
        signal = preference.signal(pair)
        by_signal.counts[signal] = by_signal.counts.get(signal, 0) + 1
        chosen, rejected = len(message_text(preference.chosen(pair))), len(message_text(preference.rejected(pair)))
        longer["chosen_longer" if chosen > rejected else "rejected_longer" if rejected > chosen else "same_length"] += 1
        ratio = math.log2(max(chosen, 1) / max(rejected, 1))
        ratios.append(ratio)
        key = round(ratio * 100)
        hundredths.counts[key] = hundredths.counts.get(key, 0) + 1
        scores = [_score(v) for v in preference.scores(pair) or (None, None)]
        if None not in scores:
            margins.append(scores[0] - scores[1])
    per_target = {}
    for folder, mask in taken.items():
        kept = Tally({}, SPLITS)
        for split, yes in zip(splits, mask, strict=True):
            if yes:
                kept.counts[split] = kept.counts.get(split, 0) + 1
        reasons = Tally({}, "count_then_key")
        for reason in refused.get(folder, []):
            if reason is not None:
                reasons.counts[reason] = reasons.counts.get(reason, 0) + 1
        per_target[folder] = {"pairs": kept, "refused": reasons}
    return {
        "pairs": by_split, "targets": per_target, "by_source": by_source, "by_signal": by_signal,
        "margin": {"pairs": Sum(len(margins)), "min": Min(min(margins, default=None)),
                   "max": Max(max(margins, default=None)), "sum": Sum(sum(margins)),
                   "histogram": Histogram(MARGIN_EDGES, _counts(MARGIN_EDGES, margins), MARGIN_LABELS)},
        "length_bias": {"pairs": Sum(len(ratios)), **{k: Sum(n) for k, n in longer.items()},
                        "histogram": Histogram(RATIO_EDGES, _counts(RATIO_EDGES, ratios), RATIO_LABELS),
                        _HUNDREDTHS: hundredths},
    }


def _median(counts: dict) -> float | None:
    """The median of values given as {value in hundredths: count} (the mean of the two middle ones when even)."""
    n = sum(counts.values())
    if not n:
        return None
    wanted, seen, middle = {(n - 1) // 2, n // 2}, 0, []
    for value, k in sorted(counts.items()):
        middle += [value for i in wanted if seen <= i < seen + k]
        seen += k
    return round(sum(middle) / len(middle) / 100, 2)


def finish(facts: dict) -> dict:
    """The merged, rendered facts completed: both splits named, the margin's mean (null margin without scored
    pairs), the length bias's share, median and warning."""
    out = dict(facts)
    out["pairs"] = {s: facts.get("pairs", {}).get(s, 0) for s in SPLITS}
    out["targets"] = {folder: {"pairs": {s: t["pairs"].get(s, 0) for s in SPLITS}, "refused": t["refused"]}
                      for folder, t in (facts.get("targets") or {}).items()}
    margin = dict(facts["margin"])
    total = margin.pop("sum")
    out["margin"] = {**margin, "mean": round(total / margin["pairs"], 3)} if margin["pairs"] else None
    bias = dict(facts["length_bias"])
    median = _median(bias.pop(_HUNDREDTHS))
    share = bias["chosen_longer"] / bias["pairs"] if bias["pairs"] else None
    out["length_bias"] = {**bias, "chosen_longer_share": None if share is None else round(share, 4),
                          "median_log2_ratio": median,
                          "median_ratio": None if median is None else round(2 ** median, 2),
                          "warn_above": LENGTH_BIAS_WARN, "warning": share is not None and share > LENGTH_BIAS_WARN}
    return out


def problems(facts: dict) -> list[Problem]:
    """The run's warning when most pairs prefer the longer reply."""
    bias = facts.get("length_bias") or {}
    if not bias.get("warning"):
        return []
    return [Problem("warning", "preference_length_bias", length_bias_message(bias))]


def length_bias_message(bias: dict) -> str:
    """The length-bias warning in words (the console, the verdict and the report's section say the same)."""
    return (f"{bias['chosen_longer_share']:.0%} of the {bias['pairs']:,} preference pairs have the longer reply "
            f"chosen (warning above {bias['warn_above']:.0%}): a known DPO pitfall, the model learns that longer is "
            "better. Balance the lengths (add pairs whose shorter reply is chosen) or filter out pairs whose chosen "
            "reply is much longer than the rejected one")
