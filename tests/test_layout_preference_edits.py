"""The `preference_edits` layout (a model draft and the reply actually sent -> one pair; docs/preference-design.md,
4): the sent reply chosen over the draft, drafts sent as they are counted as accepted, `min_edit` and its edit
distance, the config checks, property tests (every row one pair or one reject), and the documented recipe end
to end from YAML through dedup, split and export to openai and hf."""

from __future__ import annotations

import json
import random

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from pipeline.chat import preference
from pipeline.convert import convert_table
from pipeline.convert.preference_edits import edit_share
from pipeline.errors import UserError
from pipeline.ingest import SourceFile, read_table
from schemas.config import ConvertConfig
from schemas.preference_inputs import EditsInput
from tests.conftest import read_jsonl
from tests.destination_checkers import DESTINATIONS
from tests.recipes import recipe_config

COLUMNS = {"prompt": "q", "draft": "d", "final": "f"}


def convert_rows(rows: list[tuple], columns: dict | None = None, **kw):
    """Rows (prompt, draft, final) as a raw table."""
    frame = pl.DataFrame({"q": [r[0] for r in rows], "d": [r[1] for r in rows], "f": [r[2] for r in rows],
                          "__row": list(range(1, len(rows) + 1))}, schema_overrides={"d": pl.Utf8, "f": pl.Utf8})
    inp = EditsInput(path="e.csv", layout="preference_edits", columns=columns or COLUMNS, **kw)
    return convert_table(frame, "e.csv", inp, 0, ConvertConfig(), [])


def examples(result) -> list[dict]:
    return [json.loads(e) for e in result.examples["example"]]


def reasons(result) -> dict[int, tuple[str, str]]:
    return {rec["source_rows"][0]: (rec["reason"], rec["detail"]) for rec in result.rejects.iter_rows(named=True)}


# ------------------------------------------------------------------ pairs and rejects


def test_the_sent_reply_is_chosen_over_the_draft():
    r = convert_rows([("Can I return shoes?", "No.", " Yes, within 30 days, unworn. ")])
    (ex,) = examples(r)
    assert ex == {"messages": [{"role": "user", "content": "Can I return shoes?"},
                               {"role": "assistant", "content": "Yes, within 30 days, unworn."}],
                  "preference": {"rejected": {"role": "assistant", "content": "No."}, "signal": "edits"}}
    assert r.examples["source_rows"].to_list() == [[1]]
    assert r.facts["preference_edits"] == {"drafts": 1, "edited": 1}


def test_a_draft_sent_as_it_is_counts_as_accepted_and_makes_no_pair():
    r = convert_rows([("q1", "Sure, done.", "Sure, done. "), ("q2", "Hi", "Hello there"), ("q3", "ok", "ok")])
    assert [e["messages"][-1]["content"] for e in examples(r)] == ["Hello there"]
    got = reasons(r)
    assert got[1] == ("identical_pair", ("row 1: the sent reply ('f') is the draft ('d') as it is: a draft accepted "
                                        "without edits, counted for the acceptance rate; it makes no pair"))
    assert got[3][0] == "identical_pair"
    assert r.facts["preference_edits"] == {"drafts": 3, "accepted_as_is": 2, "edited": 1}


def test_min_edit_rejects_cosmetic_edits_in_words():
    draft = "Your order ships on Monday and arrives within five business days."
    rows = [("q", draft, draft.replace("Monday", "monday")), ("q", draft, "It ships Monday; expect it by Friday.")]
    r = convert_rows(rows, min_edit=0.05)
    assert [e["messages"][-1]["content"] for e in examples(r)] == [rows[1][2]]
    reason, detail = reasons(r)[1]
    assert reason == "trivial_edit"
    assert detail == ("row 1: the sent reply differs from the draft in 1.5% of its characters (normalized edit "
                      "distance 0.015), below min_edit 0.05: a cosmetic edit")
    assert r.facts["preference_edits"] == {"drafts": 2, "edited": 1, "trivial_edit": 1}
    assert convert_rows(rows).examples.height == 2  # min_edit 0: every edited draft is a pair


@pytest.mark.parametrize("a, b, share", [
    ("abc", "abc", 0.0), ("abc", "abd", 1 / 3), ("abc", "", 1.0), ("", "xy", 1.0), ("kitten", "sitting", 3 / 7),
    ("abcdef", "abcxef", 1 / 6), ("hello world", "hello, world!", 2 / 13),
])
def test_edit_share_is_a_normalized_edit_distance(a, b, share):
    assert edit_share(a, b) == pytest.approx(share)
    assert edit_share(b, a) == pytest.approx(share)


@pytest.mark.parametrize("row, reason, fragment", [
    (("q", "", "sent"), "missing_rejected", "row 1, column 'd': empty"),
    (("q", "draft", None), "missing_chosen", "row 1, column 'f': empty"),
    (("", "draft", "sent"), "missing_prompt", "row 1, column 'q': empty prompt"),
    (("q", "draft", '{"role": "user", "content": "x"}'), "invalid_chosen", "user message"),
])
def test_each_bad_row_is_rejected_naming_the_column(row, reason, fragment):
    r = convert_rows([row])
    assert r.examples.height == 0
    got_reason, detail = reasons(r)[1]
    assert got_reason == reason and fragment in detail


def test_jsonl_with_a_conversation_message_objects_and_tools(tmp_path):
    tools = [{"type": "function", "function": {"name": "track", "parameters": {"type": "object"}}}]
    line = {"context": [{"role": "system", "content": "You are Acme support."},
                        {"role": "user", "content": "Where is my parcel?", "ts": "09:14"}],
            "model_draft": {"role": "assistant", "content": "I don't know."},
            "sent_reply": {"role": "assistant", "content": "It left our depot today; tracking: AC123."},
            "tools": tools, "agent": "amy"}
    path = tmp_path / "edits.jsonl"
    path.write_text(json.dumps(line) + "\n")
    inp = EditsInput(path=str(path), layout="preference_edits", metadata=["agent"],
                     columns={"messages": "context", "draft": "model_draft", "final": "sent_reply", "tools": "tools"})
    table = read_table(SourceFile(0, str(path), "jsonl"), inp.csv, inp.max_cell_chars)
    r = convert_table(table.frame, str(path), inp, 0, ConvertConfig(), ["agent"])
    (ex,) = examples(r)
    assert preference.prompt(ex) == [line["context"][0], {"role": "user", "content": "Where is my parcel?"}]
    assert ex["tools"] == tools and r.facts["dropped_message_keys"] == {"ts": 1}  # extra_keys: drop, counted
    assert preference.chosen(ex) == line["sent_reply"] and preference.rejected(ex) == line["model_draft"]
    assert r.examples["meta.agent"].to_list() == ["amy"]


# ------------------------------------------------------------------ config


@pytest.mark.parametrize("extra, fragment", [
    ({"columns": {"prompt": "q", "draft": "d"}}, "set columns.final"),
    ({"columns": {"draft": "d", "final": "f"}}, "exactly one of them"),
    ({"min_edit": 1.5}, "less than or equal to 1"),
    ({"min_edit": -0.1}, "greater than or equal to 0"),
    ({"columns": {**COLUMNS, "chosen": "f"}}, "chosen"),
])
def test_config_errors_name_the_key(extra, fragment):
    with pytest.raises(ValidationError, match=fragment):
        EditsInput(**{"path": "e.csv", "layout": "preference_edits", "columns": COLUMNS, **extra})


def test_a_column_not_in_the_file_stops_the_run_naming_it(tmp_path, run_config):
    (tmp_path / "e.csv").write_text("q,draft,f\nhi,a,b\n")
    cfg = {"inputs": [{"path": str(tmp_path / "e.csv"), "layout": "preference_edits", "columns": COLUMNS}],
           "stages": [{"name": "export"}]}
    with pytest.raises(UserError, match=r"column 'd' \(inputs\[0\]\.columns\.draft\) not found; the file has "
                                        r"columns: q, draft, f"):
        run_config(cfg)


# ------------------------------------------------------------------ properties

texts = st.text(alphabet=st.sampled_from("ab \n"), max_size=6)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["q", " ", "hi there"]), texts, texts), min_size=1, max_size=10),
       st.sampled_from([0, 0.2, 0.5]))
def test_every_row_is_one_pair_or_one_reject(rows, min_edit):
    r = convert_rows(rows, min_edit=min_edit)
    kept = [rows_[0] for rows_ in r.examples["source_rows"]]
    rejected = [rows_[0] for rows_ in r.rejects["source_rows"]]
    assert sorted(kept + rejected) == list(range(1, len(rows) + 1))
    for row, ex in zip(kept, examples(r), strict=True):
        _, draft, final = rows[row - 1]
        assert preference.chosen(ex)["content"] == final.strip() and preference.rejected(ex)["content"] == draft.strip()
        assert edit_share(final.strip(), draft.strip()) >= min_edit > -1
    for row, (reason, _) in reasons(r).items():
        prompt, draft, final = rows[row - 1]
        if not prompt.strip():
            assert reason == "missing_prompt"
        elif not final.strip() or not draft.strip():
            assert reason in ("missing_chosen", "missing_rejected")
        elif final.strip() == draft.strip():
            assert reason == "identical_pair"
        else:
            assert reason == "trivial_edit" and edit_share(final.strip(), draft.strip()) < min_edit
    facts = r.facts.get("preference_edits", {})
    assert facts.get("drafts", 0) == facts.get("accepted_as_is", 0) + facts.get("edited", 0) + facts.get(
        "trivial_edit", 0)
    assert facts.get("edited", 0) == len(kept)


# ------------------------------------------------------------------ end to end from YAML


def write_edits_jsonl(path, n: int = 40) -> list[dict]:
    """The recipe's shape: a context, the model's draft, the reply the agent sent (some as drafted, some
    cosmetic, one logged twice)."""
    rng = random.Random(3)
    lines = []
    for i in range(n):
        draft = f"Thanks for asking about order {i}. It ships within {i % 5 + 1} days."
        final = (draft if i % 7 == 0 else draft.replace("Thanks", "thanks") if i % 11 == 0 else
                 f"Order {i} ships within {i % 5 + 1} days; you will get a tracking link by email.")
        lines.append({"context": [{"role": "user", "content": f"When does order {i} ship? ({rng.random():.4f})"}],
                      "model_draft": draft, "sent_reply": final})
    lines.append(dict(lines[1]))  # logged twice: dedup keeps one pair
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return lines


def test_recipe_end_to_end_through_dedup_split_and_export(tmp_path, run_config):
    path = tmp_path / "agent_edits.jsonl"
    lines = write_edits_jsonl(path)
    cfg = recipe_config("preference-edits", path, stages=[{"name": "dedup"}, {"name": "split", "seed": 1},
                                                          {"name": "export"}])
    cfg["targets"] = [{"provider": "openai"}, {"provider": "hf"}]
    _, out = run_config(cfg)
    stats = json.loads((out / "stats.json").read_text())
    accepted, cosmetic = sum(1 for i in range(40) if i % 7 == 0), sum(1 for i in range(40) if i % 11 == 0 and i % 7)
    assert stats["rejects_by_reason"] == {"convert": {"identical_pair": accepted, "trivial_edit": cosmetic},
                                          "dedup": {"exact_duplicate": 1}}
    assert stats["facts"]["convert"]["preference_edits"] == {"drafts": 41, "accepted_as_is": accepted,
                                                             "edited": 41 - accepted - cosmetic,
                                                             "trivial_edit": cosmetic}
    folders = sorted(d for d in out.iterdir() if d.is_dir())
    assert [d.name.split("-")[0] for d in folders] == ["hf", "openai"]
    for folder in folders:
        checker = DESTINATIONS[folder.name.split("-")[0]]
        written = []
        for split in ("train", "validation"):
            assert checker.check_preference_file(folder / f"{split}.jsonl", split=split) == [], folder
            written += [checker.preference_to_pair(line) for line in read_jsonl(folder / f"{split}.jsonl")]
        by_prompt = {json.dumps(line["context"]): line for line in lines}
        for pair in written:  # the agent's reply over the model's draft of the same row
            source = by_prompt[json.dumps(pair["prompt"])]
            assert pair["chosen"] == [{"role": "assistant", "content": source["sent_reply"]}]
            assert pair["rejected"] == [{"role": "assistant", "content": source["model_draft"]}]
        provenance = read_jsonl(folder / "provenance.jsonl")
        rejects = read_jsonl(folder / "rejects.jsonl")
        rows = sorted(row for rec in provenance + rejects for row in rec["source"]["rows"])
        assert rows == list(range(1, len(lines) + 1)) and len(written) == len(provenance)  # each row once
        assert json.loads((folder / "stats.json").read_text())["rows"] == {
            "input": len(lines), "exported": len(written), "rejected": len(lines) - len(written)}
