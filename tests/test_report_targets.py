"""The report's Targets section, the verdict's per-target parts and the console's per-target lines, from target
summaries made by the real pipeline/targets/summary.py (the openai destination and the test destination of
tests/test_targets_framework.py) over the synthetic run of tests/test_report_data.py."""

from __future__ import annotations

import html as html_lib
import json
import re
from datetime import date
from pathlib import Path

import polars as pl
import pytest
import yaml

from pipeline.chat.token_counting import default_epochs
from pipeline.cli import main, summary
from pipeline.engine.stage import Problem
from pipeline.report import render_report
from pipeline.report.run_data import RunData
from pipeline.report.targets import source_parts, target_cards
from pipeline.report.verdict import verdict
from pipeline.targets import resolve_target
from pipeline.targets.summary import target_summary
from schemas.target import TargetConfig
from tests.conftest import ROOT
from tests.test_report_data import HOSTILE, synthetic_run
from tests.test_targets_framework import strict  # noqa: F401  (the fixture: a destination written in the test)

TODAY = "2026-12-06"
REJECT_SCHEMA = {"stage": pl.Utf8, "reason": pl.Utf8, "detail": pl.Utf8, "source_file": pl.Utf8,
                 "source_rows": pl.List(pl.Int64), "example_id": pl.Utf8, "example": pl.Utf8}


@pytest.fixture(autouse=True)
def fixed_today(monkeypatch):
    monkeypatch.setenv("CHATPREP_TODAY", TODAY)  # deadline notices count days from today


def _own_rejects(rows: dict[str, int]) -> pl.DataFrame:
    reasons = [r for r, n in rows.items() for _ in range(n)]
    return pl.DataFrame({"stage": ["validate"] * len(reasons), "reason": reasons, "detail": reasons,
                         "source_file": ["x"] * len(reasons), "source_rows": [[1]] * len(reasons),
                         "example_id": [None] * len(reasons), "example": [None] * len(reasons)}, schema=REJECT_SCHEMA)


def _with_targets(run, configs: list[TargetConfig], own: dict | None = None, problems: dict | None = None,
                  losses: dict | None = None, sizes: dict | None = None):
    """The synthetic run with stats["targets"] as outputs.py builds it (the first target counts in n_tokens, the
    others in n_tokens:<folder>, here copies of it); problems of a target go into stats problems too."""
    stats, manifest, examples, rejects = run
    stats["targets"] = {}
    for j, cfg in enumerate(configs):
        t = resolve_target(cfg)
        if j:
            examples = examples.with_columns(pl.col("n_tokens").alias(f"n_tokens:{t.folder}"),
                                             pl.col("n_assistant_tokens").alias(f"n_assistant_tokens:{t.folder}"))
        facts = {"validate": {"targets": {t.folder: {"losses": (losses or {}).get(t.folder, {})}}}}
        mine = [Problem(*p) for p in (problems or {}).get(t.folder, [])]
        stats["problems"] += [p.__dict__ for p in mine]
        stats["targets"][t.folder] = target_summary(
            t, j == 0, examples, _own_rejects((own or {}).get(t.folder, {})), facts,
            (sizes or {}).get(t.folder, {"train.jsonl": 2_000_000, "validation.jsonl": 200_000}), [], mine, None)
    return stats, manifest, examples, rejects


def _section(html: str, name: str) -> str:
    return html.split(f'<section id="{name}"')[1].split("</section>")[0]


def _article(html: str, folder: str) -> str:
    return html.split(f'<article class="target" data-target="{folder}"')[1].split("</article>")[0]


def _text(fragment: str) -> str:
    return html_lib.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment)))


OPENAI = "openai-gpt-4o-mini-2024-07-18"


def test_openai_card_counts_cost_files_and_deadlines():
    stats, manifest, examples, rejects = _with_targets(synthetic_run(80), [TargetConfig()])
    card = target_cards(RunData(stats, manifest, examples, rejects))["items"][0]
    train = examples.filter(pl.col("split") == "train")
    tokens, trained = int(train["n_tokens"].sum()), int(train["n_assistant_tokens"].sum())
    assert card["label"] == "openai gpt-4o-mini-2024-07-18"
    assert card["examples"] == {"train": train.height, "validation": examples.height - train.height}
    assert card["tokens"]["exact"] and card["tokens"]["train"] == {"value": f"{tokens:,}", "note": None}
    assert card["tokens"]["trained"]["value"] == f"{trained:,}"
    epochs = default_epochs(train.height)
    assert card["cost"] == f"${round(tokens * epochs * 3.0 / 1e6, 4):,.2f}"
    assert card["files"][0] == {"path": "train.jsonl", "bytes": 2_000_000, "limit_bytes": 512 * 2**20,
                                "share": pytest.approx(2_000_000 / (512 * 2**20) * 100), "over": False}
    facts = {f["name"]: f for f in card["facts"]}
    assert facts["last_new_job"]["value"] == "2027-01-06" and facts["shutdown"]["value"] == "2027-01-14"
    assert facts["last_new_job"]["source"][0] == {"url": "https://developers.openai.com/api/docs/deprecations"}
    assert facts["max_file_bytes"]["value"] == "512.0 MiB" and facts["price_per_million"]["value"] == "$3.00"
    assert [n["code"] for n in card["notices"]] == ["last_new_job", "model_shutdown"]
    over = rejects.filter(pl.col("reason") == "over_token_limit").height  # the run's rejects over the limit
    assert card["blocking"] == [] and [(r["reason"], r["n"]) for r in card["rejected"]] == [("over_token_limit",
                                                                                             over)]


def test_an_estimating_target_says_so_at_every_count_and_never_prints_a_price(strict):  # noqa: F811
    run = _with_targets(synthetic_run(80), [TargetConfig(), TargetConfig(provider="strict")],
                        own={"strict-s-1": {"lossy_tools": 3, "role_alternation": 2}},
                        losses={"strict-s-1": {"weights": 4}})
    examples = run[2]
    items = target_cards(RunData(*run))["items"]
    s = items[1]
    note = "(estimate: counted with o200k_base, not strict's own tokenizer)"
    for key in ("train", "trained", "billed", "billed_per_epoch"):
        assert s["tokens"][key]["value"].startswith("≈ ") and s["tokens"][key]["note"] == note, key
    assert s["cost"] == "price not published" and s["files"][0]["path"] == "strict-s-1/train.jsonl"
    assert [(r["reason"], r["n"]) for r in s["rejected"]] == [("lossy_tools", 3), ("role_alternation", 2)]
    assert "lossy: drop_feature" in s["rejected"][0]["what"] and s["rejected"][1]["what"] == ""
    assert s["losses"] == [{"feature": "weights", "n": 4, "what": "assistant turns with weight 0 (trained on "
                                                                  "anyway once the weight is dropped)"}]
    html = render_report(*run, strict=True)
    article = _text(_article(html, "strict-s-1"))
    train_tokens = int(examples.filter(pl.col("split") == "train")["n_tokens"].sum())
    assert f"≈ {train_tokens:,} {note}" in article
    assert "price not published" in article and "$" not in article.split("estimated cost")[1].split("Files")[0]
    assert "≈" not in _text(_article(html, OPENAI)).split("Facts and their sources")[0]
    assert "Token counts marked ≈ are estimates" in _section(html, "targets")


def test_verdict_names_the_targets_and_lists_the_openai_deadlines_first():
    run = _with_targets(synthetic_run(60), [TargetConfig()])
    stats = run[0]
    stats["problems"] += [{"level": "warning", "code": n["code"], "message": n["message"]}
                          for n in stats["targets"][OPENAI]["notices"]]  # as the runner adds them
    v = verdict(RunData(*run))
    assert v["ready"] and v["target_names"] == "openai gpt-4o-mini-2024-07-18"
    assert [w["code"] for w in v["warnings"]] == ["few_examples"]  # the deadlines are listed apart, once
    assert [(d["code"], d["level"]) for d in v["deadlines"]] == [("last_new_job", "warning"),
                                                                ("model_shutdown", "warning")]
    html = render_report(*run, strict=True)
    top = _section(html, "verdict")
    assert "✔ Ready to upload to openai gpt-4o-mini-2024-07-18</h2>" in top
    assert "last day to create a fine-tuning job is 2027-01-06 (31 days from today)" in top
    assert "shut down on 2027-01-14 (39 days from today)" in top
    assert html.index("2027-01-06") < html.index('<section id="targets"')  # in the verdict, above everything


def test_each_target_is_ready_or_blocked_by_its_own_file_rules(strict):  # noqa: F811
    problems = {"strict-s-1": [("error", "target_too_few_examples",
                                "strict s-1: 3 training examples; it needs at least 5 (x)")]}
    run = _with_targets(synthetic_run(60), [TargetConfig(), TargetConfig(provider="strict", max_tokens=1000)],
                        problems=problems)
    v = verdict(RunData(*run))
    assert not v["ready"] and [b["code"] for b in v["blocking"]] == ["target_too_few_examples"]
    ready = {t["folder"]: (t["ready"], t["why"]) for t in v["targets"]}
    assert ready == {OPENAI: (True, []), "strict-s-1": (False, ["target_too_few_examples"])}
    html = render_report(*run, strict=True)
    assert 'data-target="strict-s-1" data-ready="no"' in html and f'data-target="{OPENAI}" data-ready="yes"' in html
    assert "✘ <strong>strict s-1</strong>" in _section(html, "verdict")
    out = summary(run[0] | {"verdict": v}, Path("out"))
    assert "strict s-1: 54 train / 6 validation -> out/strict-s-1/" in out
    assert out.splitlines()[-1].endswith("BLOCKED: target_too_few_examples")


def test_examples_over_a_later_target_limit_block_that_target_only(strict):  # noqa: F811
    stats, manifest, examples, rejects = _with_targets(synthetic_run(60), [TargetConfig(),
                                                                           TargetConfig(provider="strict")])
    over = int((examples["n_tokens:strict-s-1"] > 300).sum())  # the test destination's limit is 300
    assert over > 0
    v = verdict(RunData(stats, manifest, examples, rejects))
    item = next(b for b in v["blocking"] if b["code"] == "over_token_limit")
    assert item["message"].startswith(f"strict s-1: {over} exported examples are longer than the model's limit "
                                      "of 300 tokens; strict may truncate or reject them")
    ready = {t["folder"]: (t["ready"], t["why"]) for t in v["targets"]}
    assert ready == {OPENAI: (True, []), "strict-s-1": (False, ["over_token_limit"])}  # not openai's problem


def test_sources_become_escaped_links_and_nothing_else_links_or_loads():
    assert source_parts("https://a.test/x (the 2026-10-14 entry), see http://b.test/y.") == [
        {"url": "https://a.test/x"}, {"text": " (the 2026-10-14 entry), see "}, {"url": "http://b.test/y"},
        {"text": "."}]
    assert source_parts("javascript:alert(1) and not published") == [{"text": "javascript:alert(1) and not "
                                                                              "published"}]
    run = _with_targets(synthetic_run(40, hostile=True), [TargetConfig()])
    t = run[0]["targets"][OPENAI]
    t["model"], t["title"] = HOSTILE[0], HOSTILE[1]
    t["notices"][0]["source"] = f'https://x.test/"><script>alert(1)</script> {HOSTILE[6]}'
    t["limit_reference"]["source"] = "javascript:alert(1)"
    html = render_report(*run, strict=True)
    body = html.split('<script type="application/json"')[0]
    assert "<script>alert" not in body and "<svg" not in body and "<img" not in body
    assert "&lt;script&gt;document.title=&#39;PWNED&#39;&lt;/script&gt;" in _section(html, "targets")
    links = re.findall(r"<a\b[^>]*>", body)
    external = [a for a in links if re.search(r"""href\s*=\s*["']?(https?:)?//""", a)]
    assert external and all(re.fullmatch(r'<a href="https?://[^"<>]+" rel="noreferrer">', a) for a in external)
    assert not re.search(r"href=\"javascript", body, re.IGNORECASE)
    assert not re.search(r"""\bsrc\s*=\s*["']?(https?:)?//""", html, re.IGNORECASE)  # no loads
    assert not re.search(r"<(link|img|iframe)\b", html, re.IGNORECASE)


def test_a_single_target_shows_its_own_rejects_and_a_run_without_targets_says_so():
    stats, manifest, examples, rejects = _with_targets(synthetic_run(40), [TargetConfig()])
    rows = [("validate", "lossy_tools", "openai cannot carry tool definitions"), ("validate", "lossy_tools", "x"),
            ("validate", "first_role", "message 2: openai requires the first message to be a user message"),
            ("validate", "special_token", "message 2: <|endoftext|> in openai text"),
            ("tokens", "over_token_limit", "70,000 tokens > limit 65,536 of gpt-4o-mini-2024-07-18"),
            ("heuristics", "short_reply", "message 2: openai would train on 'ok'")]
    extra = pl.DataFrame({"stage": [r[0] for r in rows], "reason": [r[1] for r in rows], "detail": [r[2] for r in rows],
                          "source_file": ["x"] * 6, "source_rows": [[1]] * 6, "example_id": [None] * 6,
                          "example": [None] * 6}, schema=REJECT_SCHEMA)
    run = (stats, manifest, examples, pl.concat([rejects, extra]))
    card = target_cards(RunData(*run))["items"][0]
    over = rejects.filter(pl.col("reason") == "over_token_limit").height + 1
    assert {r["reason"]: r["n"] for r in card["rejected"]} == {"lossy_tools": 2, "first_role": 1,
                                                               "over_token_limit": over}
    html = render_report(*synthetic_run(30), strict=True)
    assert "This run recorded no targets" in _section(html, "targets")
    assert "✔ Ready to upload</h2>" in html  # no target named when none is recorded


def test_past_deadlines_block_and_show_as_errors(monkeypatch):
    run = _with_targets(synthetic_run(40), [TargetConfig()])
    t = run[0]["targets"][OPENAI]
    from pipeline.targets.deadlines import notices

    t["notices"] = [n.json() for n in notices(resolve_target(TargetConfig()), date(2027, 1, 8))]
    run[0]["problems"] += [{"level": n["level"], "code": n["code"], "message": n["message"]} for n in t["notices"]]
    v = verdict(RunData(*run))
    assert not v["ready"] and [b["code"] for b in v["blocking"]] == ["last_new_job"]
    card = target_cards(RunData(*run))["items"][0]
    assert [b["code"] for b in card["blocking"]] == ["last_new_job"]
    assert '<li class="notice error" data-code="last_new_job">' in _section(render_report(*run, strict=True),
                                                                            "verdict")


def test_console_names_each_target_with_its_folder_tokens_and_cost(run_config, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    cfg = yaml.safe_load((ROOT / "configs/default.yaml").read_text())
    cfg["stages"] = [s for s in cfg["stages"] if s["name"] != "moderation"]
    cfg["cache"] = {"dir": str(tmp_path / ".cache")}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    code = main(["prepare", "--config", str(path), "--out", str(tmp_path / "out"), "-q",
                 "--set", "target.provider=openai"])
    out = capsys.readouterr().out
    stats = json.loads((tmp_path / "out/stats.json").read_text())
    t = stats["targets"][OPENAI]
    cost = t["tokens"]["estimate"]["cost_usd"]
    line = (f"openai gpt-4o-mini-2024-07-18: {t['examples']['train']} train / {t['examples']['validation']} "
            f"validation -> {tmp_path / 'out'}/ (tokens exact, ~${cost:,.2f})")
    assert code == 0 and out.rstrip().splitlines()[-1] == line  # the target's line comes last
    assert "verdict: NOT READY to upload to openai gpt-4o-mini-2024-07-18 — not_screened" in out


def test_a_run_for_an_estimating_target_says_estimate_in_the_cost_distributions_and_viewer(strict):  # noqa: F811
    run = _with_targets(synthetic_run(60), [TargetConfig(provider="strict", max_tokens=1000)])
    facts = run[0]["facts"]["tokens"]  # what the tokens stage records for this target
    facts.update(provider="strict", model="s-1", tokenizer="estimate:o200k_base", tokens_exact=False,
                 tokenizer_note=None, limit=1000)
    facts["training_estimate"].update(price_per_million=None, cost_usd=None, price_source="price not published")
    html = render_report(*run, strict=True)
    cost = _text(_section(html, "estimate"))
    train = run[2].filter(pl.col("split") == "train")["n_tokens"]
    assert f"billed tokens per epoch ≈ {int(train.sum()):,} (estimate: counted with o200k_base" in cost
    assert "estimated cost price not published" in cost and "$" not in cost
    assert "set stages.tokens.n_epochs to the epochs you will run on strict" in cost
    assert "OpenAI" not in cost.replace("OpenAI's auto rule", "")
    assert "≈ every token count here is an estimate" in _text(_section(html, "distributions"))
    viewer = json.loads(html_lib.unescape(html.split('id="report-data">')[1].split("</script>")[0]))["samples"]
    assert viewer["tokens_estimate"] is True
    assert "OpenAI screens" not in _section(render_report(*_with_targets(
        synthetic_run(30, stages=["split", "export"]), [TargetConfig(provider="strict")]), strict=True), "verdict")


def test_a_destination_note_that_says_estimate_itself_is_not_doubled():
    from pipeline.report.targets import console_line, count_text

    tokens = {"exact": False, "counted_with": "estimate:o200k_base",
              "note": "estimate: counted with o200k_base; Gemini's tokenizer is online only"}
    assert count_text(1234, tokens) == "≈ 1,234 (estimate: counted with o200k_base; Gemini's tokenizer is online only)"
    line = console_line({"provider": "vertex-gemini", "model": "gemini-2.5-flash", "folder": "v", "tokens": tokens,
                         "examples": {"train": 9, "validation": 1}, "price_per_million": None}, "out", True)
    assert line == ("vertex-gemini gemini-2.5-flash: 9 train / 1 validation -> out/v/ (tokens estimated: counted "
                    "with o200k_base; Gemini's tokenizer is online only; price not published)")
