"""The "Preference pairs" section (preference runs only; docs/preference-design.md, 5): pairs per split and
signal, per source, the score margin, the length bias (with its warning), per destination the preference file
written or the pairs it refused, and SAMPLES pairs side by side.

Everything comes from stats.json `preference` (pipeline/report/preference_stats.py) except the samples: the
exported pairs with the lowest example ids (ids are hashes, so this is the stable pseudo-random pick the sample
viewer makes), read by id. Texts are returned raw and clipped; the template escapes them.
"""

from __future__ import annotations

import json

from pipeline.chat import preference
from pipeline.report import charts
from pipeline.report.chat_preview import clip, shown_text
from pipeline.report.run_data import RunData
from pipeline.report.targets import source_parts
from pipeline.stages.export.preference_facts import length_bias_message

SAMPLES = 5
PROMPT_MESSAGES = 4  # the prompt's last messages shown (the turn both replies answer, and what led to it)
MAX_CHARS = 1_200


def preference_pairs(data: RunData) -> dict:
    p = data.stats.get("preference") or {}
    bias, margin = p.get("length_bias") or {}, p.get("margin")
    specs = [charts.facts_histogram_spec("pref_margin", "Score margin (chosen − rejected) per pair",
                                         margin.get("histogram") or {}, "chosen score − rejected score")
             if margin else None,
             charts.facts_histogram_spec("pref_length_ratio", "Length of the chosen reply / the rejected reply",
                                         bias.get("histogram") or {}, "chosen characters / rejected characters")]
    pairs = p.get("pairs") or {}
    return {"pairs": pairs, "total": sum(v for v in pairs.values() if isinstance(v, int)),
            "by_signal": p.get("by_signal") or {}, "sources": _sources(p.get("by_source") or {}, data.stats),
            "margin": margin, "bias": bias, "edits": p.get("edits"),
            "warning": length_bias_message(bias) if bias.get("warning") else None,
            "targets": _targets(p.get("targets") or {}), "samples": _samples(data),
            "charts": [s for s in specs if s]}


def _sources(by_source: dict, stats: dict) -> list[dict]:
    rows = stats.get("rows_by_source") or {}
    return [{"file": f, "layout": s.get("layout"), "rows": s.get("rows"), "pairs": s.get("pairs"),
             "rejected": (rows.get(f) or {}).get("rejected")} for f, s in by_source.items() if isinstance(s, dict)]


def _targets(found: dict) -> list[dict]:
    """Per destination: its preference file (names, pairs), its format and source, or why it holds no pair."""
    several = len(found) > 1
    out = []
    for folder, t in found.items():
        pairs = t.get("pairs") or {}
        files = [{"path": f"{folder}/{s}.jsonl" if several else f"{s}.jsonl", "pairs": pairs.get(s, 0)}
                 for s in ("train", "validation")]
        out.append({"folder": folder, "label": t.get("label") or folder, "files": files,
                    "written": sum(v for v in pairs.values() if isinstance(v, int)),
                    "refused": t.get("refused") or {}, "format": t.get("format"),
                    "source": source_parts(t.get("format_source"))})
    return out


def _message(m) -> dict:
    if not isinstance(m, dict):
        return {"role": "?", "text": clip(json.dumps(m, ensure_ascii=False), MAX_CHARS)}
    return {"role": str(m.get("role", "?")), "text": clip(shown_text(m), MAX_CHARS)}


def _samples(data: RunData) -> list[dict]:
    ex = data.examples
    if not ex.height:
        return []
    cols = [c for c in ("example_id", "split", "source_file", "source_rows") if c in ex.columns]
    chosen = data.with_texts(ex.sort("example_id").head(SAMPLES).select(cols))
    out = []
    for r in chosen.iter_rows(named=True):
        try:
            pair = json.loads(r["example"])
            prompt, signal, scores = preference.prompt(pair), preference.signal(pair), preference.scores(pair)
            sides = _message(preference.chosen(pair)), _message(preference.rejected(pair))
        except (TypeError, ValueError, KeyError, IndexError, AttributeError):
            continue  # not a pair (a stats.json of another run): the counts above still show
        shown = prompt[-PROMPT_MESSAGES:]
        out.append({"id": r["example_id"], "split": r.get("split"), "source": r.get("source_file"),
                    "rows": (r.get("source_rows") or [])[:20], "signal": signal,
                    "scores": dict(zip(("chosen", "rejected"), scores or (), strict=False)),
                    "earlier": len(prompt) - len(shown), "prompt": [_message(m) for m in shown],
                    "chosen": sides[0], "rejected": sides[1]})
    return out
