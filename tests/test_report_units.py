"""The report's data preparation and page, without a browser: escaping, binning, verdict, stage-not-run notes,
every stage rendered, bounded sizes, determinism of the sample viewer, secrets masked, no network."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.report import render_report
from pipeline.report.assets import chart_library, json_for_script
from pipeline.report.charts import bins_for, histogram, histogram_spec
from pipeline.report.run_data import RunData, rows_text
from pipeline.report.sample_viewer import MAX_EXAMPLES, MIN_PER_SPLIT, sample_examples
from pipeline.report.verdict import verdict
from tests.test_report_data import ALL_STAGES, synthetic_run

VENDOR = Path(__file__).resolve().parents[1] / "pipeline" / "report" / "vendor"


def page_data(html: str) -> dict:
    block = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', html, re.DOTALL)
    assert block, "the page has no data block"
    return json.loads(block.group(1))


@given(st.recursive(st.text() | st.integers() | st.none(),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
                    max_leaves=20))
@settings(max_examples=200)
def test_json_for_script_cannot_close_the_block_and_round_trips(obj):
    text = str(json_for_script(obj))
    assert not re.search("[<>&\u2028\u2029]", text)
    assert json.loads(text) == obj


def test_vendored_chart_js_is_the_published_file_with_its_license():
    raw = (VENDOR / "chart.umd.min.js").read_bytes()
    notes = (VENDOR / "VENDORED.md").read_text()
    assert hashlib.sha256(raw).hexdigest() in notes
    assert raw.startswith(b"/*!\n * Chart.js v4.6.1") and b"Released under the MIT License" in raw[:300]
    assert "MIT License" in (VENDOR / "chart.js-LICENSE.md").read_text()
    inlined = str(chart_library())
    assert "sourceMappingURL" not in inlined and "</script" not in inlined.lower()


@given(st.lists(st.integers(min_value=0, max_value=200_000), min_size=1, max_size=300),
       st.one_of(st.none(), st.integers(min_value=1, max_value=300_000)))
@settings(max_examples=150)
def test_histogram_counts_every_value_once(values, marker):
    series = pl.Series(values)
    width, n_bins, top = bins_for([series], marker)
    counts, overflow = histogram(series, width, n_bins)
    assert sum(counts) + overflow == len(values)
    assert n_bins <= 41 and top == width * n_bins
    spec = histogram_spec("t", "t", {"x": series}, "tokens", (marker, "limit") if marker else None)
    assert len(spec["labels"]) == len(spec["datasets"][0]["data"])
    if marker:
        assert 0 <= spec["marker"]["at"] <= len(spec["labels"])


def test_marker_sits_in_the_bin_holding_the_limit():
    spec = histogram_spec("t", "t", {"x": pl.Series([10, 500, 900, 990])}, "tokens", (1000, "limit 1,000"))
    labels, at = spec["labels"], spec["marker"]["at"]
    lo, hi = (int(x.replace(",", "")) for x in labels[int(at)].split("–"))
    assert lo <= 1000 <= hi
    far = histogram_spec("t", "t", {"x": pl.Series([10, 50, 90])}, "tokens", (65_536, "limit"))
    assert far["marker"]["at"] == len(far["labels"]) and "off scale" in far["marker"]["label"]


def test_rows_text_compresses_runs():
    assert rows_text([9, 10, 11, 12, 40]) == "9–12, 40"
    assert rows_text([3]) == "3"
    assert rows_text(list(range(1, 30, 2))).endswith("(15 rows)")


def _verdict(**kw):
    return verdict(RunData(*synthetic_run(50, **kw)))


def test_verdict_ready_only_when_nothing_blocks():
    v = _verdict()
    assert v["ready"] and not v["blocking"]
    assert [w["code"] for w in v["warnings"]] == ["few_examples"]


def test_verdict_blocks_on_moderation_not_run_or_skipped():
    skipped = _verdict(screened=False)
    assert not skipped["ready"] and [b["code"] for b in skipped["blocking"]] == ["moderation_not_run"]
    absent = _verdict(stages=[s for s in ALL_STAGES if s != "moderation"])
    assert [b["code"] for b in absent["blocking"]] == ["not_screened"]
    assert "NOT screened" in absent["blocking"][0]["message"]


def test_verdict_blocks_on_kept_examples_over_the_limit_and_errors():
    stats, manifest, examples, rejects = synthetic_run(50)
    examples = examples.with_columns(pl.when(pl.col("example_id") == examples["example_id"][0])
                                     .then(5000).otherwise(pl.col("n_tokens")).alias("n_tokens"))
    stats["problems"].append({"level": "error", "code": "too_few_examples", "message": "9 training examples"})
    v = verdict(RunData(stats, manifest, examples, rejects))
    assert {b["code"] for b in v["blocking"]} == {"over_token_limit", "too_few_examples"}
    over = next(b for b in v["blocking"] if b["code"] == "over_token_limit")
    assert "1 exported example is longer than the model's limit of 600 tokens" in over["message"]


def test_sections_say_stage_not_run_when_facts_are_absent():
    html = render_report(*synthetic_run(30, stages=["split", "export"]), strict=True)
    for stage in ("tokens", "dedup", "pii", "language", "normalize", "validate", "heuristics"):
        assert f'data-stage="{stage}"' in html, stage
    assert "NOT SCREENED" in html and "Not ready to upload" in html
    assert 'class="section-error"' not in html


def test_every_stage_of_the_run_is_rendered():
    html = render_report(*synthetic_run(100), strict=True)
    assert "not-run" not in html.split('id="stages"')[0].split('id="distributions"')[1]
    for stage in ("normalize", "validate", "heuristics", "split", "export", "convert"):
        assert f'id="stage-{stage}"' in html, stage
    for section, marker in [("estimate", "billed tokens per epoch"), ("duplicates", "Largest clusters"),
                            ("moderation", "Flagged examples"), ("pii", "Redacted samples"),
                            ("language", "Mismatch samples")]:
        part = html.split(f'<section id="{section}"')[1].split("</section>")[0]
        assert marker in part and "Stage not run" not in part, section
    assert "join: path customers.csv, key cid, matched rows 3, unmatched rows 1" in html  # source metadata notes
    assert "excluded 1" in html.split('id="funnel"')[1].split("</section>")[0]
    charts = {c["id"] for c in page_data(html)["charts"]}
    assert {"tokens", "assistant_tokens", "messages", "message_chars", "languages", "sources", "split_tokens",
            "dup_similarity", "mod_categories", "pii_types", "stage_heuristics_turns_histogram"} <= charts
    assert len(re.findall(r'data-chart="', html)) == len(charts)  # every spec has its canvas and vice versa


def test_cost_is_recomputed_on_the_train_split():
    stats, manifest, examples, rejects = synthetic_run(100)
    html = render_report(stats, manifest, examples, rejects, strict=True)
    train = examples.filter(pl.col("split") == "train")["n_tokens"]
    per_epoch = int(train.clip(upper_bound=600).sum())
    epochs = 3  # 90 training examples: OpenAI's auto rule keeps 3
    assert f"{per_epoch:,}" in html and f"{per_epoch * epochs:,}" in html
    assert f"${per_epoch * epochs * 3.0 / 1e6:,.2f}" in html


def test_odd_fact_shapes_never_cost_the_report():
    stats, manifest, examples, rejects = synthetic_run(40)
    stats["facts"]["dedup"] = {"top_clusters": "not a list", "near": [1, 2], "cluster_sizes": 3}
    stats["facts"]["pii"] = {"detections": ["email"], "samples": {"email": "x"}}
    stats["facts"]["language"] = {"mismatches": [], "by_side": "?"}
    stats["facts"]["moderation"] = {"flagged_examples": [None, "x"], "score_histograms": {"a": [1, 2]}}
    stats["facts"]["heuristics"] = {"samples": {"r": [1, "two", {"a": [1]}]}, "weird": {"x": {"y": 1}}}
    html = render_report(stats, manifest, examples, rejects)
    assert "Ready to upload" in html or "Not ready to upload" in html
    assert html.count('class="section-error"') == 0


def test_a_failing_section_shows_its_error_and_the_rest_renders(monkeypatch):
    from pipeline import report

    def boom(data):
        raise RuntimeError("facts changed shape")

    monkeypatch.setattr(report, "duplicates", boom)
    html = render_report(*synthetic_run(20))
    assert 'class="section-error"' in html and "RuntimeError: facts changed shape" in html
    assert 'id="viewer"' in html and 'id="run"' in html
    with pytest.raises(RuntimeError):
        render_report(*synthetic_run(20), strict=True)


def test_sample_viewer_is_capped_deterministic_and_covers_both_splits():
    stats, manifest, examples, rejects = synthetic_run(3000)
    first = sample_examples(RunData(stats, manifest, examples, rejects))
    shuffled = examples.sample(fraction=1.0, shuffle=True, seed=7)
    again = sample_examples(RunData(stats, manifest, shuffled, rejects))
    assert [e["id"] for e in first["examples"]] == [e["id"] for e in again["examples"]]
    assert first["shown"] == MAX_EXAMPLES and first["total"] == 3000
    assert first["per_split"]["validation"] >= MIN_PER_SPLIT
    counted = [m for e in first["examples"] for m in e["messages"] if "tokens" in m]
    assert all(isinstance(m["tokens"], int) and m["tokens"] > 0 for m in counted)


def test_long_texts_are_clipped_in_the_viewer():
    stats, manifest, examples, rejects = synthetic_run(100, long_text_examples=30)
    shown = sample_examples(RunData(stats, manifest, examples, rejects))["examples"]
    longest = max(len(m["text"]) for e in shown for m in e["messages"])
    assert 2_000 < longest < 2_100 and any("more characters]" in m["text"] for e in shown for m in e["messages"])


def test_secrets_are_masked_and_nothing_loads_from_the_network():
    stats, manifest, examples, rejects = synthetic_run(30)
    manifest["config"]["inputs"][0]["name"] = "key sk-abcdefghijklmnop1234 inside a name"
    html = render_report(stats, manifest, examples, rejects, strict=True)
    assert "sk-should-never-appear" not in html and "sk-abcdefghijklmnop1234" not in html
    assert not re.search(r"<(link|img|iframe)\b", html, re.IGNORECASE)
    assert not re.search(r"""\b(src|href)\s*=\s*["']?(https?:)?//""", html, re.IGNORECASE)
    assert "default-src 'none'" in html and "connect-src 'none'" in html


def test_hostile_text_is_escaped_in_the_markup():
    html = render_report(*synthetic_run(60, hostile=True), strict=True)
    body = html.split('<script type="application/json"')[0]
    assert "<script>document" not in body and "<img" not in body and "<svg" not in body
    assert "&lt;script&gt;document.title=&#39;PWNED&#39;&lt;/script&gt;" in body
    assert "{{ 7*7 }} {% if true %}JINJA{% endif %} {# gone #}" in body
    data = html.split('id="report-data">')[1].split("</script>")[0]
    assert "<" not in data and ">" not in data and "\u2028" not in data
    assert html.count("</script>") == 3  # the data block, Chart.js, our script: nothing else closes one


@pytest.mark.slow
def test_size_stays_bounded_for_a_large_run():
    stats, manifest, examples, rejects = synthetic_run(200_000, long_text_examples=2_000, n_rejects=50_000)
    html = render_report(stats, manifest, examples, rejects, strict=True)
    size = len(html.encode())
    assert size < 10 * 1024 * 1024, f"report is {size / 1e6:.1f} MB"
    assert len(page_data(html)["samples"]["examples"]) <= MAX_EXAMPLES
