"""language (batch): the language of each example's user side and assistant side, an allowed list, and
a check that the assistant answers in the right language.

Each side's text (all user messages, or all trained assistant messages, joined) is cleaned of URLs,
e-mail addresses and placeholders such as [PERSON_NAME], cut to `sample_chars`, and detected with the
configured backend (pipeline/language_detection.py; py3langid by default, seeded langdetect on request),
through a cache keyed by the text's hash. A side with fewer than `min_letters` letters (a CJK character
counts two) is too short to judge and skipped. System and tool messages are not looked at: a system prompt in English that says
"always answer in German" is normal. Reasons, in order of precedence:
  language_not_allowed     a side is confidently in a language outside `allowed`
  reply_language_mismatch  reply_language 'same': the assistant's language differs from the user's;
                           reply_language '<code>': the assistant's language is not that one
  language_uncertain       a side's confidence is below `min_confidence` (no other check uses that side)
Each reason has an action (drop / flag, and keep for uncertain); flag adds 'language:<reason>'.
Adds a column `language`: the user side's language, else the assistant's, else "und".

Facts:
  backend               backend name and version
  by_language           {lang: examples} by the `language` column
  by_side               {user|assistant: {lang: examples}}; "short" = too short to detect
  uncertain             examples with a side below min_confidence
  not_allowed           {lang: examples}
  mismatches            {count, pairs: {"de->en": n}, samples: [{example_id, user, assistant, user_text,
                        assistant_text}]} (at most 20 samples)
  samples               {lang: [{example_id, text}]}, samples_per_language each
  confidence_histogram  {edges, counts}: detection confidence of every detected side
  cache                 {hits, misses}
"""

from __future__ import annotations

import json
import re
import unicodedata
from bisect import bisect_right
from collections import Counter

import polars as pl

from pipeline.language_detection import UNDETERMINED, DetectionCache, backend_id
from pipeline.stage_api import StageContext, StageOutput, with_drops

SCOPE = "batch"
SIDES = ("user", "assistant")
SHORT = "short"
CONF_EDGES = [0.0, 0.5, 0.8, 0.9, 0.99]
MAX_MISMATCH_SAMPLES = 20
_NOISE = re.compile(r"https?://\S+|www\.\S+|\S+@\S+\.\w+|\[[A-Z][A-Z0-9_]*\]")


def cache_key(params) -> str:
    """A new backend version can change answers: checkpoints must not outlive it."""
    return backend_id(params.backend)


def _text(message: dict) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def side_sample(messages: list[dict], role: str, sample_chars: int) -> str:
    """The bounded, cleaned text of one side that gets detected."""
    parts = [_text(m) for m in messages
             if m.get("role") == role and not (role == "assistant" and m.get("weight", 1) == 0)]
    return " ".join(_NOISE.sub(" ", "\n".join(parts)).split())[:sample_chars]


def letters(text: str) -> int:
    """Letters in text; a wide (CJK) character counts as two, as it carries about a short word."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text if c.isalpha())


def _snippet(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def run(frame: pl.DataFrame, params, ctx: StageContext) -> StageOutput:
    rows = frame.select("example_id", "example", "flags").rows()
    samples_by_side = []
    for _, example, _ in rows:
        messages = json.loads(example).get("messages") or []
        samples_by_side.append({s: side_sample(messages, s, params.sample_chars) for s in SIDES})
    to_detect = sorted({t for sides in samples_by_side for t in sides.values()
                        if letters(t) >= params.min_letters})
    cache = DetectionCache(params.backend, ctx.cache_dir if params.disk_cache else None, ctx.warn)
    found = dict(zip(to_detect, cache.detect_all(to_detect)))

    allowed = set(params.allowed) if params.allowed else None
    actions = {"language_not_allowed": params.action, "reply_language_mismatch": params.reply_action,
               "language_uncertain": params.uncertain_action}
    by_side = {s: Counter() for s in SIDES}
    by_language, not_allowed, pairs = Counter(), Counter(), Counter()
    confidences: list[float] = []
    mismatch_samples: list[dict] = []
    lang_samples: dict[str, list[dict]] = {}
    uncertain = mismatches = 0
    reasons, details, flags_out, languages = [], [], [], []
    for (ex_id, _, flags), sides in zip(rows, samples_by_side):
        lang, conf = {}, {}
        for s in SIDES:
            d = found.get(sides[s])
            if d is None or d.lang == UNDETERMINED:
                by_side[s][SHORT] += 1
                continue
            by_side[s][d.lang] += 1
            confidences.append(d.confidence)
            if d.confidence >= params.min_confidence:
                lang[s] = d.lang
            conf[s] = d
        hits: list[tuple[str, str]] = []
        if allowed is not None:
            bad = [s for s in SIDES if s in lang and lang[s] not in allowed]
            for s in bad:
                not_allowed[lang[s]] += 1
            if bad:
                hits.append(("language_not_allowed", "; ".join(
                    f"{s} text is {lang[s]!r} ({conf[s].confidence:.2f}): {_snippet(sides[s], 60)!r}" for s in bad)
                    + f" (allowed: {', '.join(sorted(allowed))})"))
        expected = lang.get("user") if params.reply_language == "same" else params.reply_language
        if params.reply_language and expected and "assistant" in lang and lang["assistant"] != expected:
            mismatches += 1
            pairs[f"{lang.get('user', '?')}->{lang['assistant']}"] += 1
            why = "the user writes" if params.reply_language == "same" else "reply_language is"
            hits.append(("reply_language_mismatch", (f"assistant answers in {lang['assistant']!r} but {why} "
                                                    f"{expected!r}: {_snippet(sides['assistant'], 60)!r}")))
            if len(mismatch_samples) < MAX_MISMATCH_SAMPLES:
                mismatch_samples.append({"example_id": ex_id, "user": lang.get("user"),
                                         "assistant": lang["assistant"], "user_text": _snippet(sides["user"]),
                                         "assistant_text": _snippet(sides["assistant"])})
        unsure = [s for s in conf if s not in lang]
        if unsure:
            uncertain += 1
            hits.append(("language_uncertain", "; ".join(
                f"{s} text looks {conf[s].lang!r} with confidence {conf[s].confidence:.2f} "
                f"(min {params.min_confidence:g}): {_snippet(sides[s], 60)!r}" for s in unsure)))
        example_lang = lang.get("user") or lang.get("assistant") or UNDETERMINED
        by_language[example_lang] += 1
        bucket = lang_samples.setdefault(example_lang, [])
        if example_lang != UNDETERMINED and len(bucket) < params.samples_per_language:
            side = "user" if lang.get("user") else "assistant"
            bucket.append({"example_id": ex_id, "text": _snippet(sides[side])})
        flags = list(flags or [])
        reason = detail = None
        for code, text in hits:
            if actions[code] == "drop" and reason is None:
                reason, detail = code, text
            elif actions[code] == "flag" and f"language:{code}" not in flags:
                flags.append(f"language:{code}")
        reasons.append(reason)
        details.append(detail)
        flags_out.append(flags)
        languages.append(example_lang)
    counts = [0] * len(CONF_EDGES)
    for c in confidences:
        counts[max(0, bisect_right(CONF_EDGES, c) - 1)] += 1
    facts = {
        "backend": cache.id,
        "by_language": dict(by_language.most_common()),
        "by_side": {s: dict(by_side[s].most_common()) for s in SIDES},
        "uncertain": uncertain,
        "not_allowed": dict(not_allowed.most_common()),
        "mismatches": {"count": mismatches, "pairs": dict(pairs.most_common()), "samples": mismatch_samples},
        "samples": {k: v for k, v in lang_samples.items() if v},
        "confidence_histogram": {"edges": CONF_EDGES, "counts": counts},
        "cache": {"hits": cache.hits, "misses": cache.misses},
    }
    out = frame.with_columns(pl.Series("flags", flags_out, pl.List(pl.Utf8)),
                             pl.Series("language", languages, pl.Utf8))
    return StageOutput(with_drops(out, reasons, details), facts)
