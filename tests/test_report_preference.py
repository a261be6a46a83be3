"""The report's "Preference pairs" section and stats.json `preference` (docs/preference-design.md, 5): export's
facts of the pairs merge to the same numbers however the input is cut, and match a hand count; the edits acceptance
rate comes from the rejects; the section escapes hostile text, warns on length-biased pairs only; end to end on
LLaMA-Factory's DPO demo in headless Chromium, its numbers recounted from the written files."""

from __future__ import annotations

import html as html_lib
import json
import re
from pathlib import Path

import polars as pl
import pytest
from markupsafe import escape

from pipeline.engine.segments import stage_facts
from pipeline.engine.stage import StageContext
from pipeline.report import render_report
from pipeline.report.preference_stats import preference_stats
from pipeline.stages.export import preference_facts
from pipeline.stages.export import stage as export
from pipeline.targets import resolve_targets
from schemas.config import Config
from tests.recipes import recipe_config
from tests.test_report_browser import _assert_nothing_ran, _assert_page_ran
from tests.test_report_data import HOSTILE, browser_dom, chromium_or_skip, synthetic_run

OPENAI, NOVA = "openai-gpt-4.1-mini-2025-04-14", "bedrock-nova-amazon.nova-lite-v1_0"


def pair(chosen: str, rejected: str, signal: str = "explicit", scores: tuple | None = None,
         question: str = "Capital of France?") -> str:
    """An internal preference example (design, 1) as export reads it."""
    info = {"rejected": {"role": "assistant", "content": rejected}, "signal": signal}
    if scores:
        info["chosen_score"], info["rejected_score"] = scores
    return json.dumps({"messages": [{"role": "user", "content": question}, {"role": "assistant", "content": chosen}],
                       "preference": info}, ensure_ascii=False)


# (chosen, rejected, signal, scores, split, source) and, counted by hand: chosen/rejected chars, the length-ratio
# bin, the margin bin
HAND = [
    ("a" * 8, "b" * 2, "ratings", (5, 1), "train", "a.jsonl"),                 # 8/2 = 4: "4–8×"; margin 4: "[4, 5)"
    ("ccc", "ddd", "explicit", None, "train", "a.jsonl"),                       # same length: "0.93–1.07×"
    ("e" * 2, "f" * 8, "ratings", (2, 1.5), "validation", "b.jsonl"),           # 1/4: "1/4–1/2×"; 0.5: "[0.5, 1)"
    ("g" * 10, "h", "ratings", (4, 1), "train", "b.jsonl"),                     # 10: "≥ 8×"; margin 3: "[3, 4)"
    ("i", "j" * 5, "explicit", None, "train", "a.jsonl"),                       # 1/5: "1/8–1/4×"
    ("k" * 6, "l" * 5, "edits", None, "validation", "a.jsonl"),                 # 1.2: "1.07–1.41×"
    ("Paris is the capital", "User: Paris", "explicit", None, "train", "b.jsonl"),  # 20/11: "1.41–2×"; Nova refuses
]


def frame(rows=HAND) -> pl.DataFrame:
    return pl.DataFrame({"example_id": [f"{i:016x}" for i in range(len(rows))],
                         "source_file": [r[5] for r in rows], "source_rows": [[i + 1] for i in range(len(rows))],
                         "split": [r[4] for r in rows], "example": [pair(*r[:4]) for r in rows]},
                        schema_overrides={"source_rows": pl.List(pl.Int64)})


@pytest.fixture
def two_targets(tmp_path) -> StageContext:
    config = Config.model_validate({
        "inputs": [{"path": "pairs.jsonl", "layout": "preference",
                    "columns": {"prompt": "q", "chosen": "good", "rejected": "bad"}}],
        "stages": [{"name": "split"}, {"name": "export"}],
        "targets": [{"provider": "openai"}, {"provider": "bedrock-nova"}]})
    return StageContext(config, tmp_path, tmp_path, lambda **kw: None, lambda m: None)


def exported_facts(ctx: StageContext, cuts: list[int]) -> dict:
    """facts.export of the HAND pairs cut into parts of these sizes, merged and finished as the engine does."""
    params = ctx.config.stage("export")
    whole, parts, at = frame(), [], 0
    for n in cuts:
        parts.append(export.run(whole.slice(at, n), params, ctx).facts)
        at += n
    assert at == whole.height
    return stage_facts(export, params, parts)


def test_pair_facts_merge_to_the_same_numbers_however_the_input_is_cut(two_targets):
    whole = exported_facts(two_targets, [7])
    for cuts in ([3, 4], [1, 1, 5], [1] * 7, [6, 1]):
        assert exported_facts(two_targets, cuts) == whole, cuts
    assert set(whole) == {"train", "validation", "min_train", "min_train_by", "preference"}


def test_pair_facts_match_a_hand_count(two_targets):
    p = exported_facts(two_targets, [2, 5])["preference"]
    assert p["pairs"] == {"train": 5, "validation": 2}
    assert p["targets"] == {OPENAI: {"pairs": {"train": 5, "validation": 2}, "refused": {}},
                            NOVA: {"pairs": {"train": 4, "validation": 2}, "refused": {"reserved_string": 1}}}
    assert p["by_source"] == {"a.jsonl": 4, "b.jsonl": 3}
    assert p["by_signal"] == {"explicit": 3, "ratings": 3, "edits": 1}
    margin = p["margin"]
    assert (margin["pairs"], margin["min"], margin["max"], margin["mean"]) == (3, 0.5, 4, 2.5)
    assert dict(zip(margin["histogram"]["labels"], margin["histogram"]["counts"], strict=True)) == {
        **dict.fromkeys(preference_facts.MARGIN_LABELS, 0), "[4, 5)": 1, "[0.5, 1)": 1, "[3, 4)": 1}
    bias = p["length_bias"]
    assert (bias["pairs"], bias["chosen_longer"], bias["rejected_longer"], bias["same_length"]) == (7, 4, 2, 1)
    assert bias["chosen_longer_share"] == round(4 / 7, 4) and bias["warning"] is False
    # log2 ratios sorted: -2.32, -2, 0, 0.26, 0.86, 2, 3.32 -> the middle one, log2(6/5)
    assert (bias["median_log2_ratio"], bias["median_ratio"]) == (0.26, 1.2)
    assert dict(zip(bias["histogram"]["labels"], bias["histogram"]["counts"], strict=True)) == {
        **dict.fromkeys(preference_facts.RATIO_LABELS, 0), "4–8×": 1, "0.93–1.07×": 1, "1/4–1/2×": 1, "≥ 8×": 1,
        "1/8–1/4×": 1, "1.07–1.41×": 1, "1.41–2×": 1}


def test_median_of_an_even_count_and_a_reply_without_text():
    tool_only = json.loads(pair("x", "abcd"))
    tool_only["messages"][-1] = {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}
    texts = [pair("aaaa", "a"), json.dumps(tool_only)]  # log2(4) = 2; a call only counts 1 char: log2(1/4) = -2
    facts = stage_facts(export, None, [{"preference": preference_facts.part_facts(
        texts, ["train", "train"], ["s", "s"], {}, {})}])["preference"]
    assert facts["length_bias"]["median_log2_ratio"] == 0.0  # (2 + -2) / 2
    assert (facts["length_bias"]["chosen_longer"], facts["length_bias"]["rejected_longer"]) == (1, 1)
    assert facts["margin"] is None and facts["targets"] == {}


def test_edits_acceptance_rate_and_sources_from_the_rejects(two_targets):
    pairs = exported_facts(two_targets, [7])["preference"]
    stats = {"sources": [{"file": "a.jsonl", "layout": "preference"}, {"file": "e.csv", "layout": "preference_edits"},
                         {"file": "b.jsonl", "layout": "preference"}],
             "rows_by_source": {"a.jsonl": {"input": 4}, "e.csv": {"input": 8}, "b.jsonl": {"input": 5}}}
    rejects = pl.DataFrame({
        "stage": ["convert", "heuristics", "convert", "convert", "dedup"],
        "reason": ["identical_pair", "identical_pair", "identical_pair", "missing_chosen", "exact_duplicate"],
        "source_file": ["e.csv", "e.csv", "a.jsonl", "e.csv", "e.csv"],
        "source_rows": [[2], [7], [3], [4], [5]]})
    out = preference_stats(pairs, stats, rejects, resolve_targets(two_targets.config))
    assert out["edits"] == {"rows": 8, "accepted_as_is": 2, "acceptance_rate": 0.25}  # a.jsonl is not edits
    assert out["by_source"] == {"a.jsonl": {"layout": "preference", "rows": 4, "pairs": 4},
                                "e.csv": {"layout": "preference_edits", "rows": 8, "pairs": 0},
                                "b.jsonl": {"layout": "preference", "rows": 5, "pairs": 3}}
    assert out["targets"][NOVA]["refused"] == {"reserved_string": 1}
    assert out["targets"][NOVA]["format"].startswith("the final assistant turn holds `candidates`")
    assert out["targets"][OPENAI]["format_source"].startswith("https://developers.openai.com/")
    stats["sources"] = stats["sources"][:1]
    assert preference_stats(pairs, stats, rejects, [])["edits"] is None


def test_scores_show_as_the_margin_chart_and_on_the_samples(two_targets):
    stats, manifest, _, rejects = synthetic_run(60)
    pairs = exported_facts(two_targets, [7])["preference"]
    stats["preference"] = preference_stats(pairs, stats, rejects, resolve_targets(two_targets.config))
    examples = frame().with_columns(pl.lit(None, pl.List(pl.Utf8)).alias("flags"))  # as the runner's frame has
    part = section(render_report(stats, manifest, examples, rejects, strict=True))
    assert 'data-chart="pref_margin"' in part and 'data-chart="pref_length_ratio"' in part
    assert "3 pairs with scores: margin (chosen − rejected) from 0.5 to 4, mean 2.5." in part
    first = part.split('<article class="example pair" data-example-id="0000000000000000">')[1].split("</article>")[0]
    assert "chosen · score 5</div>" in first and "rejected · score 1</div>" in first and "signal ratings" in first
    assert "score" not in part.split('data-example-id="0000000000000001">')[1].split("</article>")[0]
    nova = part.split(f'<li data-target="{NOVA}">')[1].split("</li>")[0]
    assert f"<code>{NOVA}/train.jsonl</code> 4 pairs, <code>{NOVA}/validation.jsonl</code> 2 pairs" in nova
    assert "Refused by its preference rules: <code>reserved_string</code> 1" in nova


# ---- runs from YAML ---------------------------------------------------------------------------------------------


def pairs_config(tmp_path: Path, rows: list[tuple[str, str, str]]) -> dict:
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps({"q": q, "good": c, "bad": r}, ensure_ascii=False) + "\n" for q, c, r in rows),
                    encoding="utf-8")
    return {"inputs": [{"path": str(path), "layout": "preference",
                        "columns": {"prompt": "q", "chosen": "good", "rejected": "bad"}}],
            "stages": [{"name": "split"}, {"name": "export"}]}


def section(html: str) -> str:
    return html.split('<section id="preference">')[1].split("</section>")[0]


SCRIPT = HOSTILE[0]  # <script>document.title='PWNED'</script>
MARKUP = [h for i, h in enumerate(HOSTILE) if i not in (3, 7)]  # the payloads with markup characters


def sides(part: str, text: str) -> int:
    """How many of the samples' chosen and rejected replies show `text`."""
    replies = [side.split("</div></div></div>")[0] for side in re.split(r'<div class="(?:kept chosen|rejected)">',
                                                                       part)[1:]]
    return sum(text in reply for reply in replies)


def hostile_rows(n: int = 12) -> list[tuple[str, str, str]]:
    """Every text hostile, a <script> element in each reply; the chosen reply always the longer one (so the run
    is length-biased)."""
    return [(f"{HOSTILE[i % len(HOSTILE)]} question {i}", f"{SCRIPT} {HOSTILE[(i + 1) % len(HOSTILE)]} a long answer {i}",
             f"{SCRIPT} no {i}") for i in range(n)]


def test_length_biased_pairs_warn_and_hostile_text_is_escaped(run_config, tmp_path):
    result, out = run_config(pairs_config(tmp_path, hostile_rows()))
    bias = result.stats["preference"]["length_bias"]
    assert (bias["chosen_longer"], bias["pairs"], bias["warning"]) == (12, 12, True)
    assert "preference_length_bias" in {p.code for p in result.problems}
    html = (out / "report.html").read_text(encoding="utf-8")
    part = section(html)
    assert 'data-warning="preference_length_bias"' in part and "the model learns that longer is better" in part
    assert "Balance the lengths" in part and "100.0 %" in part
    assert "<code>preference_length_bias</code>" in html.split('id="verdict"')[1].split("</section>")[0]
    assert part.count('<article class="example pair"') == 5
    assert sides(part, str(escape(SCRIPT))) == 10  # in both replies of each sample, as text
    for payload in MARKUP:
        assert payload not in part, payload
    assert "<script" not in part and "<img" not in part and "<svg" not in part


@pytest.mark.slow
def test_hostile_pairs_run_nothing_in_chromium(run_config, tmp_path):
    browser = chromium_or_skip()
    _, out = run_config(pairs_config(tmp_path, hostile_rows()))
    dom, console = browser_dom(browser, out / "report.html")
    _assert_page_ran(dom, console)
    _assert_nothing_ran(dom)
    assert sides(section(dom), html_lib.escape(SCRIPT, quote=False)) == 10  # how a DOM dump serializes text


def test_balanced_pairs_do_not_warn(run_config, tmp_path):
    rows = [(f"question {i}", "short" if i % 2 else "a much longer reply", "a much longer reply" if i % 2 else "short")
            for i in range(12)]
    result, out = run_config(pairs_config(tmp_path, rows))
    bias = result.stats["preference"]["length_bias"]
    assert (bias["chosen_longer"], bias["rejected_longer"], bias["warning"]) == (6, 6, False)
    assert "preference_length_bias" not in {p.code for p in result.problems}
    part = section((out / "report.html").read_text(encoding="utf-8"))
    assert "data-warning" not in part and "longer is better" not in part and "50.0 %" in part


def test_reports_of_other_runs_have_no_preference_section():
    html = render_report(*synthetic_run(60), strict=True)
    assert 'id="preference"' not in html and "Preference pairs" not in html


@pytest.mark.slow
def test_dpo_demo_report_shows_the_section_in_chromium(realdata, run_config, tmp_path):
    browser = chromium_or_skip()
    path = realdata / "llamafactory-demo/dpo_zh_demo.json"
    result, out = run_config(recipe_config("preference-pairs", path,
                                           stages=[{"name": "dedup"}, {"name": "split"}, {"name": "export"}]))
    p = result.stats["preference"]
    counted = {"pairs": {}, "chosen_longer": 0, "rejected_longer": 0, "same_length": 0}
    for split in ("train", "validation"):  # recounted from the written OpenAI preference lines
        lines = [json.loads(x) for x in (out / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()]
        counted["pairs"][split] = len(lines)
        for line in lines:
            c, r = len(line["preferred_output"][0]["content"]), len(line["non_preferred_output"][0]["content"])
            counted["chosen_longer" if c > r else "rejected_longer" if r > c else "same_length"] += 1
    assert p["pairs"] == counted["pairs"] and sum(counted["pairs"].values()) == 289  # 300 rows, 11 duplicates
    assert {k: p["length_bias"][k] for k in ("chosen_longer", "rejected_longer", "same_length")} == \
        {k: counted[k] for k in ("chosen_longer", "rejected_longer", "same_length")}
    assert p["by_source"] == {str(path): {"layout": "preference", "rows": 300, "pairs": 289}}
    assert p["by_signal"] == {"explicit": 289} and p["margin"] is None and p["edits"] is None
    dom, console = browser_dom(browser, out / "report.html")
    _assert_page_ran(dom, console)
    _assert_nothing_ran(dom)
    assert '<a href="#preference">Preference pairs</a>' in dom
    part = dom.split('<section id="preference">')[1].split("</section>")[0]
    assert f'<div class="v">{counted["pairs"]["train"]}</div>' in part
    assert re.search(r'<li data-target="openai-[^"]+"><strong>openai [^<]+</strong>:\s*preference file written', part)
    assert f"<strong>{counted['chosen_longer']}</strong> of 289 pairs" in part
    assert 'data-chart="pref_length_ratio"' in part and 'data-chart="pref_margin"' not in part
    assert part.count('<article class="example pair"') == 5
    ids = re.findall(r'<article class="example pair" data-example-id="([0-9a-f]+)"', part)
    exported = [json.loads(x)["example_id"] for x in (out / "provenance.jsonl").read_text().splitlines()]
    assert ids == sorted(exported)[:5]  # the lowest ids, as the sample viewer picks
