"""The report in headless Chromium (Debian `chromium`): scripts run without a console message, the sections
and charts are there after JavaScript ran, hostile text runs nothing and shows literally, screenshots in
light and dark are taken (kept in the test's tmp folder; look at them when changing the page)."""

from __future__ import annotations

import html as html_lib
import re
from pathlib import Path

import polars as pl
import pytest
import yaml

from pipeline.report import render_report
from pipeline.report.assets import script_hash
from tests.test_drop_shares import two_sources
from tests.test_report_data import HOSTILE, browser_dom, chromium_or_skip, screenshot, synthetic_run
from tests.test_targets_framework import _sample, strict  # noqa: F401  (strict: a destination written in a test)

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("verdict", "targets", "funnel", "drops", "drop-shares", "distributions", "estimate", "duplicates", "moderation", "pii",
            "language", "stages", "viewer", "run")


@pytest.fixture(scope="module")
def browser() -> str:
    return chromium_or_skip()


def _write(tmp_path: Path, html: str, name: str = "report.html") -> Path:
    page = tmp_path / name
    page.write_text(html, encoding="utf-8")
    return page


def _with_script(html: str, js: str, allowed: bool) -> str:
    """The page with one more inline script before </body>; allowed=True also adds its hash to the page's CSP
    (what a test driving the page needs), allowed=False is what an escaping slip would produce."""
    if allowed:
        html = html.replace("script-src ", f"script-src {script_hash(js)} ", 1)
    return html.replace("</body>", f"<script>{js}</script></body>")


def _dark_copy(page: Path) -> Path:
    """The same page with the dark palette forced (headless Chromium has no switch for prefers-color-scheme)."""
    dark = page.with_name("report-dark.html")
    dark.write_text(page.read_text(encoding="utf-8").replace("@media (prefers-color-scheme:dark){", "@media all{", 1),
                    encoding="utf-8")
    return dark


def _assert_page_ran(dom: str, console: list[str]) -> None:
    assert console == [], "the page logged to the console:\n" + "\n".join(console)
    assert re.search(r'<body[^>]*data-ready="yes"', dom), "the report script did not finish"
    for section in SECTIONS:
        assert f'id="{section}"' in dom, section
    assert "section-error" not in dom


def _assert_nothing_ran(dom: str) -> None:
    assert re.search(r"<title>chatprep report</title>", dom), "a payload changed document.title"
    assert not re.search(r"<body[^>]*data-pwned", dom), "a payload ran and marked <body>"
    page = dom.split('id="report-data"')[0]  # everything before the data block and the scripts
    assert not re.search(r"<(img|svg|iframe)\b", page, re.IGNORECASE), "a payload became an element"


# where each stage's facts are shown: a section of its own, or a card in "Stage details"
STAGE_PLACE = {"tokens": 'id="estimate"', "dedup": 'id="duplicates"', "moderation": 'id="moderation"',
               "pii": 'id="pii"', "language": 'id="language"'}


@pytest.mark.slow
def test_sample_data_report_renders_in_chromium(browser, run_config, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    config = yaml.safe_load((ROOT / "configs" / "default.yaml").read_text())
    result, out = run_config({k: v for k, v in config.items() if k != "cache"})
    page = out / "report.html"
    dom, console = browser_dom(browser, page)
    _assert_page_ran(dom, console)
    assert int(re.search(r'data-charts="(\d+)"', dom).group(1)) >= 8
    assert len(re.findall(r'<article class="example"', dom)) == 10  # first page of the sample viewer
    assert re.search(r'class="tokens">\d+ tokens<', dom), "per-message token counts"
    assert "NOT SCREENED" in dom and "Not ready to upload" in dom  # no OPENAI_API_KEY in tests
    shares = dom.split('id="drop-shares"')[1].split("</section>")[0]
    for stage in result.stats["stages"]:  # one row per stage, ingest and convert included
        assert f'data-stage="{stage["name"]}"' in shares, stage["name"]
    assert "<details open" in shares and "⚠ over 2.0 %" in shares  # the sample's dedup hits one source
    for stage in result.stats["facts"]:
        place = STAGE_PLACE.get(stage, f'id="stage-{stage}"')
        assert place in dom, stage
        if stage in STAGE_PLACE and stage != "moderation":
            section = dom.split(place)[1].split("</section>")[0]
            assert "Stage not run" not in section, stage
    light = screenshot(browser, page, tmp_path / "report-light.png")
    dark = screenshot(browser, _dark_copy(page), tmp_path / "report-dark.png")
    for png in (light, dark):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 50_000


@pytest.mark.slow
def test_hostile_text_shows_literally_and_runs_nothing(browser, tmp_path):
    page = _write(tmp_path, render_report(*synthetic_run(120, hostile=True), strict=True))
    dom, console = browser_dom(browser, page)
    _assert_page_ran(dom, console)
    _assert_nothing_ran(dom)
    viewer = dom.split('id="viewer-list"')[1]
    server_side = dom.split('id="viewer-list"')[0]
    for payload in HOSTILE[:3] + HOSTILE[4:7]:
        shown = html_lib.escape(payload, quote=False)  # how a DOM dump serializes text
        assert shown in viewer, f"viewer (textContent) lost {payload!r}"
        assert shown in server_side, f"server-rendered sections lost {payload!r}"
    assert "{{ 7*7 }} {% if true %}JINJA{% endif %} {# gone #}" in viewer
    assert "{{ 7*7 }} {% if true %}JINJA{% endif %} {# gone #}" in server_side


@pytest.mark.slow
def test_hostile_text_through_the_real_stages(browser, run_config, tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    rows = ["cid,who,text"]
    for i in range(40):
        payload = HOSTILE[i % len(HOSTILE)].replace('"', '""')
        rows += [f'c{i},customer,"{payload} question {i} about my order, mail me at a{i}@example.com"',
                 f'c{i},agent,"Answer {i}: {payload} we will look into the order today."']
    rows.append('c99,agent,"ok"')  # short reply, trailing turn
    src = tmp_path / "hostile.csv"
    src.write_text("\n".join(rows) + "\n", encoding="utf-8")
    config = yaml.safe_load((ROOT / "configs" / "default.yaml").read_text())
    language = next(s for s in config["stages"] if s["name"] == "language")
    language["allowed"] = None  # the payloads are not English prose
    config["inputs"] = [{"name": HOSTILE[0], "path": str(src), "layout": "messages",
                         "columns": {"conversation_id": "cid", "role": "who", "content": "text"},
                         "roles": {"customer": "user", "agent": "assistant"}}]
    _, out = run_config({k: v for k, v in config.items() if k != "cache"})
    dom, console = browser_dom(browser, out / "report.html")
    _assert_page_ran(dom, console)
    _assert_nothing_ran(dom)
    assert html_lib.escape(HOSTILE[0], quote=False) in dom.split('id="viewer-list"')[1]


@pytest.mark.slow
def test_sample_viewer_search_split_filter_and_paging(browser, tmp_path):
    stats, manifest, examples, rejects = synthetic_run(300)
    target = examples["example_id"][17]
    html = render_report(stats, manifest, examples, rejects, strict=True)
    # what a user does, as a script run after the page's own: type a search; or pick a split and page on
    steps = {
        "search": """var s = document.getElementById('viewer-search'); s.value = 'QUESTION 17: lorem';
                      s.dispatchEvent(new Event('input'));""",
        "split": """var f = document.getElementById('viewer-split'); f.value = 'validation';
                    f.dispatchEvent(new Event('change')); document.getElementById('viewer-next').click();""",
    }
    found = {}
    for name, js in steps.items():
        page = _write(tmp_path, _with_script(html, js, allowed=True), f"{name}.html")
        dom, console = browser_dom(browser, page, "--virtual-time-budget=3000")
        _assert_page_ran(dom, console)
        found[name] = (re.findall(r'<article class="example" data-example-id="([0-9a-f]+)"', dom),
                       re.search(r'id="viewer-status"[^>]*>([^<]*)<', dom).group(1))
    ids, status = found["search"]
    assert ids == [target] and status == "page 1 of 1 · 1 matching"
    ids, status = found["split"]
    n_val = examples.filter(pl.col("split") == "validation").height
    assert status == f"page 2 of {-(-n_val // 10)} · {n_val} matching" and len(ids) == 10
    assert set(ids) <= set(examples.filter(pl.col("split") == "validation")["example_id"])


@pytest.mark.slow
def test_csp_allows_only_the_page_own_scripts(browser, tmp_path):
    """An inline script the page was not rendered with (an escaping slip) does not run; the page's own do."""
    html = render_report(*synthetic_run(60), strict=True)
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', html).group(1)
    assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert len(re.findall(r"'sha256-[A-Za-z0-9+/]+=*'", csp)) == 2  # Chart.js and report.js
    injected = "document.body.setAttribute('data-pwned', 'yes'); document.title = 'pwned';"
    page = _write(tmp_path, _with_script(html, injected, allowed=False))
    dom, console = browser_dom(browser, page)
    assert re.search(r'<body[^>]*data-ready="yes"', dom), "the page's own scripts stopped running"
    assert int(re.search(r'data-charts="(\d+)"', dom).group(1)) >= 1
    _assert_nothing_ran(dom)
    assert any("Content Security Policy" in line for line in console), console
    page = _write(tmp_path, _with_script(html, injected, allowed=True), "allowed.html")
    dom, _ = browser_dom(browser, page)
    assert re.search(r"<body[^>]*data-pwned", dom), "the same script with its hash allowed should run"


@pytest.mark.slow
def test_high_drop_share_warning_and_table_in_chromium(browser, run_config, tmp_path):
    """One filter drops 20 % of one source: the verdict lists the warning, the drop-shares table marks the
    source and shows its five samples, open."""
    result, out = run_config(two_sources(tmp_path))
    dom, console = browser_dom(browser, out / "report.html")
    _assert_page_ran(dom, console)
    verdict = dom.split('id="verdict"')[1].split("</section>")[0]
    assert "<code>high_drop_share</code> stage heuristics dropped 20.0%" in verdict
    shares = dom.split('id="drop-shares"')[1].split("</section>")[0]
    warned = shares.split('data-stage="heuristics"')[1].split('class="share-row')[0]
    assert "<details open" in warned and "⚠ over 2.0 %" in warned
    samples = warned.split('class="share-samples"')[1].split("</ul>")[0]
    assert samples.count("<li>") == 5 and samples.count("short_reply") == 5
    assert all(f"<code>{i}</code>" in samples for i in
               [s["example_id"] for s in result.stats["drop_shares"]["stages"]["heuristics"]["by_source"][
                   str(tmp_path / "hard.csv")]["samples"]])


@pytest.mark.slow
def test_two_target_report_shows_each_target_in_chromium(browser, run_config, tmp_path, monkeypatch,
                                                          strict):  # noqa: F811
    """openai and an estimating destination in one run: the Targets section draws both, the estimate wording is
    on every count of the second, the deadlines sit in the verdict, and the page runs without a console message."""
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("CHATPREP_TODAY", "2026-12-06")
    result, out = run_config(_sample(tmp_path, targets=[{"provider": "openai"}, {"provider": "strict"}]))
    dom, console = browser_dom(browser, out / "report.html")
    _assert_page_ran(dom, console)
    verdict = dom.split('id="verdict"')[1].split("</section>")[0]
    assert "to openai gpt-4o-mini-2024-07-18 and strict s-1</h2>" in verdict
    assert "the last day to create a fine-tuning job is 2027-01-06 (31 days from today)" in verdict
    assert "shut down on 2027-01-14 (39 days from today)" in verdict
    assert re.search(r'<a href="https://developers\.openai\.com/api/docs/deprecations" rel="noreferrer">', verdict)
    section = dom.split('<section id="targets"')[1].split("</section>")[0]
    articles = re.findall(r'<article class="target" data-target="([^"]+)"', section)
    assert articles == ["openai-gpt-4o-mini-2024-07-18", "strict-s-1"]
    strict_card = section.split('data-target="strict-s-1"')[1]
    stats = result.stats["targets"]["strict-s-1"]
    train = stats["tokens"]["train_tokens"]
    assert f'<div class="v">≈ {train:,}</div>' in strict_card
    assert strict_card.count("(estimate: counted with o200k_base, not strict's own tokenizer)") == 1  # said once,
    assert strict_card.count('<div class="mut">(estimate)</div>') == 2  # then on each other count
    assert "price not published" in strict_card and "lossy_names" in strict_card
    openai_card = section.split('data-target="openai-gpt-4o-mini-2024-07-18"')[1].split("</article>")[0]
    assert f'<div class="v">{result.stats["targets"]["openai-gpt-4o-mini-2024-07-18"]["tokens"]["train_tokens"]:,}' \
           in openai_card and "≈" not in openai_card.split("Facts and their sources")[0]
    png = screenshot(browser, out / "report.html", tmp_path / "report-targets.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
