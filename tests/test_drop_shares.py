"""Drop shares per stage, per source and per language (stats.json `drop_shares`), and the high_drop_share
warning: the engine's computation (units and hypothesis properties), the language estimate for examples
dropped before the language stage, the escaped previews, the config keys, and whole runs where one filter
hits one source hard and another lightly (console summary, stats.json, report)."""

from __future__ import annotations

import json
import re

import polars as pl
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.cli import summary
from pipeline.engine.drop_shares import DROPPED_AT, drop_shares
from pipeline.errors import UserError
from pipeline.report.drop_review import escaped, estimate_languages, preview_line
from tests.conftest import read_jsonl

STEPS = ["normalize", "heuristics", "language", "export"]


def outcomes(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={DROPPED_AT: pl.Utf8, "source": pl.Utf8, "language": pl.Utf8}, orient="row")


# ----------------------------------------------------------------------------- the engine's computation


def test_shares_chain_through_the_steps_per_source_and_language():
    frame = outcomes([("heuristics", "a.csv", "en"), ("heuristics", "a.csv", "de"), (None, "a.csv", "en"),
                      ("language", "b.csv", "de"), (None, "b.csv", "en"), (None, "b.csv", "en")])
    shares = drop_shares(STEPS, frame, ["source", "language"])
    assert list(shares) == STEPS
    assert shares["normalize"] == {"in": 6, "dropped": 0, "share": 0.0,
                                   "by_source": {"a.csv": {"in": 3, "dropped": 0, "share": 0.0},
                                                 "b.csv": {"in": 3, "dropped": 0, "share": 0.0}},
                                   "by_language": {"en": {"in": 4, "dropped": 0, "share": 0.0},
                                                   "de": {"in": 2, "dropped": 0, "share": 0.0}}}
    h = shares["heuristics"]
    assert (h["in"], h["dropped"], h["share"]) == (6, 2, 0.333333)
    assert h["by_source"] == {"a.csv": {"in": 3, "dropped": 2, "share": 0.666667},
                              "b.csv": {"in": 3, "dropped": 0, "share": 0.0}}
    assert h["by_language"]["de"] == {"in": 2, "dropped": 1, "share": 0.5}
    lang = shares["language"]
    assert lang["by_source"] == {"a.csv": {"in": 1, "dropped": 0, "share": 0.0},
                                 "b.csv": {"in": 3, "dropped": 1, "share": 0.333333}}
    assert lang["by_language"] == {"en": {"in": 3, "dropped": 0, "share": 0.0},
                                   "de": {"in": 1, "dropped": 1, "share": 1.0}}
    assert "de" not in shares["export"]["by_language"]  # a value that no longer enters a step is not listed
    assert shares["export"]["in"] == 3


def test_units_column_and_unknown_steps():
    frame = pl.DataFrame({DROPPED_AT: ["ingest", "convert", None], "source": ["a", "a", "a"], "n": [2, 3, 95]})
    shares = drop_shares(["ingest", "convert"], frame, ["source"])
    assert shares["ingest"]["by_source"]["a"] == {"in": 100, "dropped": 2, "share": 0.02}
    assert shares["convert"]["by_source"]["a"] == {"in": 98, "dropped": 3, "share": 0.030612}
    with pytest.raises(ValueError, match="not in the run"):
        drop_shares(["ingest"], frame, ["source"])
    empty = drop_shares(STEPS, outcomes([]), ["source"])
    assert empty["heuristics"] == {"in": 0, "dropped": 0, "share": 0.0, "by_source": {}}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([None, *STEPS]), st.sampled_from(["a", "b", "c"]),
                          st.sampled_from(["en", "de", None])), max_size=60))
def test_shares_are_exact_counts_that_chain(rows):
    frame = outcomes(rows)
    shares = drop_shares(STEPS, frame, ["source", "language"])
    for key, column in (("source", 1), ("language", 2)):
        values = {("null" if r[column] is None else r[column]) for r in rows}
        for value in values:
            mine = [r for r in rows if ("null" if r[column] is None else r[column]) == value]
            entered = len(mine)
            for step in STEPS:
                dropped = sum(r[0] == step for r in mine)
                entry = shares[step][f"by_{key}"].get(value)
                if entered:
                    assert entry == {"in": entered, "dropped": dropped, "share": round(dropped / entered, 6)}
                else:
                    assert entry is None
                entered -= dropped
        for step in STEPS:  # the values add up to the step's total
            by = shares[step][f"by_{key}"].values()
            assert sum(e["in"] for e in by) == shares[step]["in"]
            assert sum(e["dropped"] for e in by) == shares[step]["dropped"]


# ----------------------------------------------------------------------------- language estimate, previews


def chat(user: str, assistant: str) -> str:
    return json.dumps({"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]},
                      ensure_ascii=False)


def test_estimate_reads_the_user_text_then_the_assistant_text():
    examples = [chat("How do I change the delivery address of my order, please?", "ok"),
                chat("Wie kann ich die Lieferadresse meiner Bestellung ändern, bitte?", "ok"),
                chat("我想查一下九月份的发票，谢谢你的帮助。请问电话号码是多少？", "好"),
                chat("hi", "Sie können die Adresse in Ihrem Konto unter Bestellungen ändern."),
                chat("hi", "ok"), "not json", None, json.dumps({"messages": "nope"})]
    assert estimate_languages(examples) == ["en", "de", "zh", "de", "und", "und", "und", "und"]
    assert estimate_languages([]) == []


def test_estimates_are_stored_where_a_later_run_reads_them(tmp_path, monkeypatch):
    from pipeline.stages.language import detection

    examples = [chat("How do I change the delivery address of my order, please?", "ok"),
                chat("Wie kann ich die Lieferadresse meiner Bestellung ändern, bitte?", "ok")]
    detection._MEMORY.clear()  # answers of earlier tests would not be stored again
    assert estimate_languages(examples, tmp_path) == ["en", "de"]
    detection._MEMORY.clear()  # a later run: a new process
    monkeypatch.setattr(detection, "batch_detector", lambda *a, **k: pytest.fail("detected again"))
    assert estimate_languages(examples, tmp_path) == ["en", "de"]


def test_previews_are_one_escaped_line():
    text = 'say "hi"\nthen\x1b[31mred\u202e and\u2028more'
    assert escaped(text) == 'say \\"hi\\"\\nthen\\u001b[31mred\\u202e and\\u2028more'
    example = json.dumps({"messages": [{"role": "user", "content": "first question"},
                                       {"role": "assistant", "content": "x"},
                                       {"role": "user", "content": "q" * 80},
                                       {"role": "assistant", "content": "No.\nReally."}]})
    line = preview_line(example)
    assert line == 'user: "' + "q" * 59 + '…" → assistant: "No.\\nReally."'
    assert preview_line(None) == preview_line("{") == "(no readable messages)"


# ----------------------------------------------------------------------------- config


def test_config_keys_are_checked(tmp_path):
    from pipeline.config_loader import load_config

    base = {"inputs": [{"path": "x.csv", "layout": "pairs", "columns": {"prompt": "q", "response": "a"}}],
            "stages": [{"name": "heuristics"}, {"name": "export"}]}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(base))
    report = load_config(path).report
    assert (report.drop_warning_share, report.drop_warning_exempt) == (0.02, [])
    for bad, message in [({"drop_warning_exempt": ["dedup"]}, "report.drop_warning_exempt names 'dedup'"),
                         ({"drop_warning_share": 1.5}, "report.drop_warning_share"),
                         ({"drop_warning_share": 0}, "report.drop_warning_share"),
                         ({"warn_share": 0.1}, "report.warn_share")]:
        path.write_text(yaml.safe_dump({**base, "report": bad}))
        with pytest.raises(UserError, match=re.escape(message)):
            load_config(path)
    path.write_text(yaml.safe_dump({**base, "report": {"drop_warning_share": None}}))
    assert load_config(path).report.drop_warning_share is None


# ----------------------------------------------------------------------------- whole runs


EN = [("How do I reset the password for account {i} on my laptop?",
       "Open the settings page, choose security and follow the reset steps for account {i}.")]
DE = [("Wie kann ich das Passwort für das Konto {i} auf meinem Laptop zurücksetzen?",
       "Öffnen Sie die Einstellungen, wählen Sie Sicherheit und folgen Sie den Schritten für Konto {i}.")]


def write_pairs(path, rows: list[tuple[str, str]]) -> None:
    pl.DataFrame({"question": [q for q, _ in rows], "answer": [a for _, a in rows]}).write_csv(path)


def two_sources(tmp_path):
    """hard.csv: 50 pairs, 10 short replies (5 under German questions); light.csv: 100 pairs, 1 short reply."""
    hard = [((DE if i % 5 == 0 else EN)[0][0].format(i=i),
             "ok" if i % 5 in (0, 1) and i < 25 else (DE if i % 5 == 0 else EN)[0][1].format(i=i)) for i in range(50)]
    light = [(EN[0][0].format(i=i), "ok" if i == 7 else EN[0][1].format(i=i)) for i in range(100)]
    write_pairs(tmp_path / "hard.csv", hard)
    write_pairs(tmp_path / "light.csv", light)
    pairs = {"layout": "pairs", "columns": {"prompt": "question", "response": "answer"}}
    return {"inputs": [{"path": str(tmp_path / "hard.csv"), **pairs}, {"path": str(tmp_path / "light.csv"), **pairs}],
            "stages": [{"name": "normalize"}, {"name": "heuristics"}, {"name": "language"}, {"name": "export"}]}


def assert_shares_match_stage_stats(stats: dict) -> None:
    rows = stats["rows"]
    assert rows["input"] == rows["exported"] + rows["rejected"]
    shares = stats["drop_shares"]["stages"]
    assert list(shares) == [s["name"] for s in stats["stages"]]
    for s in stats["stages"]:
        entry = shares[s["name"]]
        if entry["unit"] == "examples":
            assert (entry["in"], entry["dropped"]) == (s["in"], s["in"] - s["out"])
        for by in ("by_source", "by_language"):
            if by in entry:
                assert sum(e["in"] for e in entry[by].values()) == entry["in"]
                assert sum(e["dropped"] for e in entry[by].values()) == entry["dropped"]
    for source, counts in stats["rows_by_source"].items():
        assert shares["ingest"]["by_source"][source]["in"] == counts["input"]


def test_one_filter_hits_one_source_hard(tmp_path, run_config):
    config = two_sources(tmp_path)
    result, out = run_config(config)
    stats = json.loads((out / "stats.json").read_text())
    assert_shares_match_stage_stats(stats)
    hard, light = str(tmp_path / "hard.csv"), str(tmp_path / "light.csv")
    heuristics = stats["drop_shares"]["stages"]["heuristics"]
    warned = heuristics["by_source"][hard]
    assert {k: warned[k] for k in ("in", "dropped", "share", "warning")} == \
        {"in": 50, "dropped": 10, "share": 0.2, "warning": True}
    assert heuristics["by_source"][light] == {"in": 100, "dropped": 1, "share": 0.01}  # under 2 %: no warning
    assert heuristics["by_language"]["de"] == {"in": 10, "dropped": 5, "share": 0.5}  # estimated for the dropped
    assert heuristics["by_language"]["en"] == {"in": 140, "dropped": 6, "share": round(6 / 140, 6)}
    assert heuristics["languages_estimated"] == 11 and stats["drop_shares"]["stages"]["language"]["languages_estimated"] == 0
    assert stats["drop_shares"]["stages"]["language"]["by_language"]["de"]["in"] == 5  # detected by the stage

    rejects = [r for r in read_jsonl(out / "rejects.jsonl") if r["stage"] == "heuristics" and r["source"]["file"] == hard]
    first_five = [r["example_id"] for r in rejects[:5]]
    assert [s["example_id"] for s in warned["samples"]] == first_five
    assert all(s["reason"] == "short_reply" and s["preview"].endswith('assistant: "ok"') for s in warned["samples"])

    (problem,) = [p for p in stats["problems"] if p["code"] == "high_drop_share"]
    assert next(p for p in result.problems if p.code == "high_drop_share").message == problem["message"]
    assert problem["level"] == "warning"
    message = problem["message"]
    assert message.startswith(f"stage heuristics dropped 20.0% of source {hard} (10 of 50 examples; warning above 2.0%)")
    assert all(i in message for i in first_five) and message.count("short_reply") == 5
    assert light not in message
    assert any(w["code"] == "high_drop_share" for w in stats["verdict"]["warnings"])

    console = summary(stats, out)
    assert "WARNING: stage heuristics dropped 20.0% of source" in console.replace("\n  ", " ")
    page = (out / "report.html").read_text(encoding="utf-8")
    verdict = page.split('id="verdict"')[1].split("</section>")[0]
    assert "high_drop_share" in verdict and first_five[0] in verdict
    table = page.split('id="drop-shares"')[1].split("</section>")[0]
    assert 'data-stage="heuristics"' in table and "20.0 %" in table and "⚠ over 2.0 %" in table
    assert all(i in table for i in first_five)


@pytest.mark.parametrize("report", [{"drop_warning_share": 0.25}, {"drop_warning_share": None},
                                    {"drop_warning_exempt": ["heuristics"]}])
def test_no_warning_under_the_threshold_or_when_exempt(tmp_path, run_config, report):
    _result, out = run_config({**two_sources(tmp_path), "report": report})
    stats = json.loads((out / "stats.json").read_text())
    assert not [p for p in stats["problems"] if p["code"] == "high_drop_share"]
    entry = stats["drop_shares"]["stages"]["heuristics"]["by_source"][str(tmp_path / "hard.csv")]
    assert entry["share"] == 0.2 and "warning" not in entry
    assert stats["drop_shares"]["warn_above"] == report.get("drop_warning_share", 0.02)
    assert_shares_match_stage_stats(stats)


def test_without_a_language_stage_shares_are_per_source_only(tmp_path, run_config):
    config = two_sources(tmp_path)
    config["stages"] = [s for s in config["stages"] if s["name"] != "language"]
    result, _out = run_config(config)
    stats = result.stats
    assert_shares_match_stage_stats(stats)
    assert all("by_language" not in s and "languages_estimated" not in s
               for s in stats["drop_shares"]["stages"].values())
    assert stats["drop_shares"]["languages"].startswith("no language stage ran")
    assert len([p for p in stats["problems"] if p["code"] == "high_drop_share"]) == 1


def test_shares_do_not_depend_on_workers_or_parts(tmp_path, run_config):
    config = two_sources(tmp_path)
    serial, _ = run_config(config, out="serial")
    parallel, _ = run_config({**config, "cache": {"dir": str(tmp_path / "c2")},
                              "execution": {"workers": 2, "chunk_size": 7, "parallel_min_examples": 1}},
                             out="parallel")
    assert serial.stats["drop_shares"] == parallel.stats["drop_shares"]
    cached, _ = run_config(config, out="cached")  # every stage from its checkpoint
    assert all(s.get("cached") for s in cached.stats["stages"][2:])
    assert cached.stats["drop_shares"] == serial.stats["drop_shares"]


# ----------------------------------------------------------------------------- real files


def test_real_multilingual_transcripts(realdata, run_config):
    """XDailyDialog's de / en / zh translations: each example is dropped or kept by the language stage's
    detection; those heuristics drops before it get an estimate that matches their file's language."""
    inputs = [{"path": str(realdata / f"xdailydialog/{lang}_test_human.txt"), "format": "csv",
               "csv": {"separator": "\t", "has_header": False}, "layout": "transcript",
               "columns": {"text": "column_1"}, "markers": {"separator": "__eou__"}} for lang in ("de", "en", "zh")]
    result, out = run_config({"inputs": inputs, "stages": [{"name": "normalize"}, {"name": "heuristics"},
                                                           {"name": "language"}, {"name": "export"}]})
    stats = result.stats
    assert_shares_match_stage_stats(stats)
    shares = stats["drop_shares"]["stages"]
    for lang in ("de", "en", "zh"):
        source = str(realdata / f"xdailydialog/{lang}_test_human.txt")
        assert shares["normalize"]["by_source"][source]["in"] == 996
        kept = shares["export"]["by_language"][lang]["in"]
        assert kept > 900, (lang, shares["export"]["by_language"])
    rejects = [r for r in read_jsonl(out / "rejects.jsonl") if r["stage"] == "heuristics"]
    assert shares["heuristics"]["languages_estimated"] == len(rejects) > 0
    for lang in ("de", "en", "zh"):
        mine = [json.dumps(r["example"], ensure_ascii=False) for r in rejects if r["source"]["file"].endswith(
            f"{lang}_test_human.txt")]
        guesses = estimate_languages(mine)
        judged = [g for g in guesses if g != "und"]
        assert sum(g == lang for g in judged) >= 0.9 * len(judged), (lang, guesses)
