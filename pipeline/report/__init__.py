"""The HTML report: one self-contained page (no network) that says whether the data can be uploaded and why.

Each section's data is prepared by its own module (verdict, targets, preference_pairs, funnel, drop_shares,
distributions, training, duplicates, moderation, pii, language, stage_cards, sample_viewer, run_facts; the preference
section only in preference runs, whose stats.json has `preference`); templates/ holds the Jinja2 templates
(autoescaped), the stylesheet and the script; vendor/ holds Chart.js. drop_review computes stats.json
`drop_shares` and the high_drop_share warnings for the runner. Charts and the sample viewer get their
data through one JSON block (see assets.json_for_script) and render user text with textContent only.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from pipeline.report import assets
from pipeline.report.chat_preview import role_class
from pipeline.report.distributions import distributions
from pipeline.report.drop_shares import drop_shares
from pipeline.report.duplicates import duplicates
from pipeline.report.funnel import drop_reasons, funnel
from pipeline.report.language import language
from pipeline.report.moderation import moderation
from pipeline.report.pii import pii
from pipeline.report.preference_pairs import preference_pairs
from pipeline.report.run_data import RunData
from pipeline.report.run_facts import run_facts
from pipeline.report.sample_viewer import sample_examples
from pipeline.report.stage_cards import stage_cards
from pipeline.report.targets import size_text, source_parts, target_cards, target_entries, target_names
from pipeline.report.training import estimate
from pipeline.report.verdict import verdict

_ENV = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                   autoescape=select_autoescape(default=True, default_for_string=True),
                   undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def _fmt_n(v) -> str:
    if isinstance(v, bool) or v is None:
        return "—" if v is None else str(v)
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:,.0f}" if v.is_integer() and abs(v) >= 1000 else f"{v:,.2f}".rstrip("0").rstrip(".")
    return str(v)


def _fmt_pct(v) -> str:
    return "—" if v is None else f"{v:.1f} %"


def _fmt_usd(v) -> str:
    if not isinstance(v, (int, float)):
        return "—"
    return f"${v:,.2f}" if v >= 0.01 or v == 0 else f"${v:.4f}"


_ENV.filters["n"] = _fmt_n
_ENV.filters["usd"] = _fmt_usd
_ENV.filters["pct"] = _fmt_pct
_ENV.filters["size"] = size_text
_ENV.filters["sources"] = source_parts
_ENV.filters["role_class"] = role_class


SECTION_TITLES = {"verdict": "Verdict", "targets": "Targets", "preference": "Preference pairs", "funnel": "Funnel",
                  "drops": "Why examples were dropped",
                  "drop_shares": "Drop shares per source and language",
                  "distributions": "Distributions", "estimate": "Cost and training estimate",
                  "duplicates": "Duplicates", "moderation": "Moderation", "pii_language": "PII and language",
                  "stages": "Stage details", "viewer": "Sample viewer", "run": "Run facts"}
TOC = [("verdict", "Verdict"), ("targets", "Targets"), ("funnel", "Funnel"), ("drops", "Drops"),
       ("drop-shares", "Drop shares"), ("distributions", "Distributions"), ("estimate", "Cost"),
       ("duplicates", "Duplicates"), ("moderation", "Moderation"), ("pii", "PII"), ("language", "Language"),
       ("stages", "Stage details"), ("viewer", "Samples"), ("run", "Run facts")]
PREFERENCE_TOC = ("preference", "Preference pairs")  # after Targets, in preference runs


def _sections(data: RunData) -> dict:
    """Section name -> function returning that section's template variables."""
    mod, pii_part, lang = (lambda: moderation(data)), (lambda: pii(data)), (lambda: language(data))
    pairs = {"preference": lambda: {"pref": preference_pairs(data)}} if "preference" in data.stats else {}
    return {
        "verdict": lambda: {"verdict": verdict(data)},
        "targets": lambda: {"targets": target_cards(data)},
        **pairs,
        "funnel": lambda: {"funnel": funnel(data)},
        "drops": lambda: {"drops": drop_reasons(data)},
        "drop_shares": lambda: {"shares": drop_shares(data)},
        "distributions": lambda: {"dist": distributions(data)},
        "estimate": lambda: {"estimate": estimate(data)},
        "duplicates": lambda: {"dup": duplicates(data)},
        "moderation": lambda: {"mod": mod()},
        "pii_language": lambda: {"pii": pii_part(), "lang": lang()},
        "stages": lambda: {"cards": stage_cards(data), "configured": data.stage_names(),
                           "ran": [s.get("name") for s in data.stats.get("stages") or []]},
        "viewer": lambda: {"samples_meta": sample_examples(data)},
        "run": lambda: {"run": run_facts(data)},
    }


def render_report(stats: dict, manifest: dict, examples: pl.DataFrame, rejects: pl.DataFrame,
                  strict: bool = False, example_texts=None, memo=None) -> str:
    """The report page for a finished run.

    examples: the exported frame (with `split` and the columns stages added; without `example`, texts come
    from example_texts(ids) -> {example_id: text}); rejects: in rejects.jsonl order; memo: see RunData.
    A section whose data cannot be prepared (e.g. a stage recorded facts of an unexpected shape) shows the
    error in its place instead of failing the run; strict=True (tests) raises instead.
    """
    data = RunData(stats, manifest, examples, rejects, example_texts, memo)
    html, charts_out, samples = [], [], {"examples": []}
    for name, build in _sections(data).items():
        try:
            variables = build()
            html.append(Markup(_ENV.get_template(f"_{name}.j2").render(**variables)))
        except Exception as e:
            if strict:
                raise
            html.append(Markup(_ENV.get_template("_section_error.j2").render(
                name=name, title=SECTION_TITLES[name], error=f"{type(e).__name__}: {e}")))
            continue
        for v in variables.values():
            for part in (v if isinstance(v, list) else [v]):
                if isinstance(part, dict):
                    charts_out += [c for c in part.get("charts", []) if isinstance(c, dict) and "kind" in c]
        if name == "viewer":
            samples = variables["samples_meta"]
    run = _header(data)
    page_data = {"charts": charts_out, "samples": samples}
    chart_js, report_js = assets.chart_library(), assets.report_script()
    toc = [*TOC[:2], PREFERENCE_TOC, *TOC[2:]] if "preference" in stats else TOC
    return _ENV.get_template("report.html.j2").render(
        sections=html, stats=stats, run=run, toc=toc, page_data=assets.json_for_script(page_data),
        style=assets.report_style(), chart_js=chart_js, report_js=report_js,
        script_sources=Markup(" ".join(assets.script_hash(js) for js in (chart_js, report_js))))


def _header(data: RunData) -> dict:
    """Header facts (config file, hash, version), tolerant of a malformed manifest."""
    m = data.manifest if isinstance(data.manifest, dict) else {}
    ex = data.stats.get("examples") or {}
    return {"config_file": m.get("config_file") or "", "config_sha256": str(m.get("config_sha256") or ""),
            "version": (m.get("versions") or {}).get("chatprep", ""), "rows": (data.stats.get("rows") or {}).get("input"),
            "built": ex.get("built"), "train": ex.get("train"), "validation": ex.get("validation"),
            "targets": target_names(data.stats), "several": len(target_entries(data.stats)) > 1}
