"""The `preference_ratings` layout (several rated replies per prompt -> pairs; docs/preference-design.md, 4):
pairing modes, margin and cap, scores and labels, each reject with its words, property tests (every row in a
pair or in rejects, margin and cap respected, the pairs independent of row order where promised), and the
documented recipe end to end from YAML through dedup, split and export to openai and hf."""

from __future__ import annotations

import csv
import json
import random
from collections import Counter

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from pipeline.chat import preference
from pipeline.convert import convert_table
from pipeline.errors import UserError
from pipeline.ingest import SourceFile, read_table
from schemas.config import ConvertConfig
from schemas.preference_inputs import RatingsInput
from tests.conftest import read_jsonl
from tests.destination_checkers import DESTINATIONS
from tests.recipes import recipe_config

COLUMNS = {"prompt_id": "pid", "prompt": "q", "reply": "a", "score": "s"}


def convert_rows(rows: list[tuple], columns: dict | None = None, cfg: ConvertConfig | None = None, **kw):
    """Rows (pid, prompt, reply, score) as a raw table (the cells as text, as a CSV reads them)."""
    frame = pl.DataFrame({"pid": [str(r[0]) for r in rows], "q": [r[1] for r in rows], "a": [r[2] for r in rows],
                          "s": [None if r[3] is None else str(r[3]) for r in rows],
                          "__row": list(range(1, len(rows) + 1))}, schema_overrides={"s": pl.Utf8})
    inp = RatingsInput(path="r.csv", layout="preference_ratings", columns=columns or COLUMNS, **kw)
    return convert_table(frame, "r.csv", inp, 0, cfg or ConvertConfig(), [])


def pairs(result) -> list[tuple]:
    """(chosen row, rejected row, chosen text, rejected text, chosen score, rejected score) per pair."""
    out = []
    for rows, text in zip(result.examples["source_rows"], result.examples["example"], strict=True):
        ex = json.loads(text)
        info = ex["preference"]
        assert info["signal"] == "ratings"
        out.append((*rows, preference.chosen(ex)["content"], preference.rejected(ex)["content"],
                    info["chosen_score"], info["rejected_score"]))
    return out


def rejects(result) -> dict[int, tuple[str, str]]:
    """row -> (reason, detail) for the single-row rejects; several rows of one reject each get it."""
    out = {}
    for rec in result.rejects.iter_rows(named=True):
        for row in rec["source_rows"]:
            assert row not in out, f"row {row} rejected twice"
            out[row] = (rec["reason"], rec["detail"])
    return out


# ------------------------------------------------------------------ pairing modes


def test_best_vs_worst_pairs_the_extremes_and_says_why_the_middle_is_left():
    r = convert_rows([("c1", "2+2?", "4", 5), ("c1", "2+2?", "five", 1), ("c1", "2+2?", "four", 3)])
    assert pairs(r) == [(1, 2, "4", "five", 5, 1)]
    (ex,) = [json.loads(e) for e in r.examples["example"]]
    assert ex["messages"] == [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]
    reason, detail = rejects(r)[3]
    assert reason == "unpaired_reply"
    assert detail == ("row 3 (score 3) of prompt_id 'c1' is neither the best nor the worst reply: pairs: "
                      "best_vs_worst makes one pair per prompt, row 1 (score 5) over row 2 (score 1); set pairs: "
                      "all to pair it too")
    assert r.facts["preference_ratings"] == {"prompts": 1, "pairs": 1, "replies": 2}


def test_best_vs_worst_on_equal_scores_takes_the_first_row():
    r = convert_rows([("c", "q", "a", 2), ("c", "q", "b", 5), ("c", "q", "c", 2), ("c", "q", "d", 5)])
    assert [p[:2] for p in pairs(r)] == [(2, 1)]
    assert set(rejects(r)) == {3, 4}


def test_all_orders_by_margin_then_row_and_caps():
    rows = [("c", "q", "a", 1), ("c", "q", "b", 4), ("c", "q", "c", 2), ("c", "q", "d", 4), ("c", "q", "e", 3)]
    every = convert_rows(rows, pairs="all")
    # margin 3: b-a, d-a; 2: b-c, d-c, e-a; 1: b-e, c-a, d-e, e-c (equal margins: by chosen row, then rejected)
    assert [p[:2] for p in pairs(every)] == [(2, 1), (4, 1), (2, 3), (4, 3), (5, 1), (2, 5), (3, 1), (4, 5), (5, 3)]
    assert every.rejects.height == 0
    capped = convert_rows(rows, pairs="all", max_pairs_per_prompt=3)
    assert [p[:2] for p in pairs(capped)] == [(2, 1), (4, 1), (2, 3)]
    reason, detail = rejects(capped)[5]
    assert reason == "unpaired_reply" and "outside max_pairs_per_prompt 3" in detail and "row 5 (score 3)" in detail
    assert capped.facts["preference_ratings"] == {"prompts": 1, "pairs": 3, "replies": 4}
    assert len(set(capped.examples["example_id"])) == 3  # row 2 is chosen twice: the ids still differ


def test_min_margin_leaves_close_scores_unpaired():
    r = convert_rows([("c", "q", "a", 3), ("c", "q", "b", 5), ("c", "q", "c", 4)], pairs="all", min_margin=2)
    assert [p[:2] for p in pairs(r)] == [(2, 1)]
    reason, detail = rejects(r)[3]
    assert reason == "unpaired_reply" and "less than min_margin 2" in detail
    none = convert_rows([("c", "q", "a", 3), ("c", "q", "b", 4)], min_margin=1.5)
    assert none.examples.height == 0
    assert all(reason == "unpaired_reply" and "differ by 1, less than min_margin 1.5" in d
               for reason, d in rejects(none).values())


def test_ties_single_replies_and_same_texts_are_rejected_in_words():
    r = convert_rows([("t", "q", "a", 2), ("t", "q", "b", 2), ("s", "q2", "alone", 4),
                      ("x", "q3", "same", 5), ("x", "q3", " same ", 1), ("x", "q3", "other", 3)], pairs="all")
    got = rejects(r)
    assert got[1] == ("unpaired_reply", ("row 1 (score 2) of prompt_id 't' ties with every other reply of its "
                                        "prompt: no better or worse reply to pair it with"))
    assert got[3] == ("single_reply", ("row 3 is the only reply to prompt_id 's'; a pair needs two rated replies "
                                      "to the same prompt"))
    assert [p[:2] for p in pairs(r)] == [(4, 6), (6, 5)]  # 4 over 5 is the same text after trimming: no pair
    bvw = convert_rows([("x", "q3", "same", 5), ("x", "q3", " same ", 1), ("x", "q3", "other", 3)])
    assert bvw.examples.height == 0
    assert rejects(bvw)[1] == ("unpaired_reply", ("row 1 (score 5) of prompt_id 'x': its reply is the same text as "
                                                 "row 2's, the other side of the best/worst pair"))


def test_a_pair_of_the_same_text_is_skipped_without_using_the_cap():
    rows = [("x", "q", "same", 5), ("x", "q", " same ", 1), ("x", "q", "other", 3)]
    capped = convert_rows(rows, pairs="all", max_pairs_per_prompt=1)
    assert [p[:2] for p in pairs(capped)] == [(1, 3)]
    assert "outside max_pairs_per_prompt 1" in rejects(capped)[2][1]
    alone = convert_rows(rows[:2] + [("y", "q2", "a", 1), ("y", "q2", "a", 2)], pairs="all")
    assert alone.examples.height == 0
    assert rejects(alone)[1] == ("unpaired_reply", ("row 1 (score 5) of prompt_id 'x': its reply is the same text as "
                                                   "row 2, the replies it could pair with"))
    assert rejects(alone)[4][1].endswith("its reply is the same text as row 3, the replies it could pair with")


# ------------------------------------------------------------------ groups and prompts


def test_without_prompt_id_rows_group_by_their_prompt():
    cols = {"prompt": "q", "reply": "a", "score": "s"}
    r = convert_rows([("", "Hi", "hello", 5), ("", "Bye", "ciao", 1), ("", " Hi ", "go away", 1),
                      ("", "Bye", "see you", 4)], columns=cols)
    assert [p[:2] for p in pairs(r)] == [(1, 3), (4, 2)]
    groups = list(r.examples["group_id"])
    assert groups[0] != groups[1]


def test_a_row_with_another_prompt_under_the_same_id_names_both_rows():
    r = convert_rows([("c1", "What is DPO?", "a", 5), ("c1", "What is DPO?", "b", 1), ("c1", "What is RLHF?", "c", 3)])
    reason, detail = rejects(r)[3]
    assert reason == "inconsistent_prompt"
    assert detail.startswith("row 3: its prompt differs from row 1's, and both have prompt_id 'c1'")
    assert "fix the id or the prompt" in detail
    assert [p[:2] for p in pairs(r)] == [(1, 2)]


def test_a_prompt_not_ending_on_the_user_rejects_its_group_once():
    cols = {"prompt_id": "pid", "messages": "q", "reply": "a", "score": "s"}
    convo = json.dumps([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}])
    r = convert_rows([("c", convo, "a", 5), ("c", convo, "b", 1)], columns=cols)
    (rec,) = r.rejects.iter_rows(named=True)
    assert rec["reason"] == "prompt_not_ending_on_user" and rec["source_rows"] == [1, 2]
    assert rec["detail"].startswith("prompt_id 'c' (rows 1, 2): the prompt ends on an assistant message")


def test_bad_rows_are_rejected_with_column_value_and_fix():
    r = convert_rows([("c", "q", "a", "great"), ("c", "q", "b", None), ("", "q", "c", 1), ("c", "q", "", 2),
                      ("c", "q", "d", "inf"), ("c", "q", "e", " 4.0 "), ("c", "q", "f", "1e0")])
    got = rejects(r)
    assert got[1] == ("invalid_score", ("row 1, column 's': 'great' is not a number; fix: map the labels to numbers "
                                       "in inputs[0].scores, e.g. {'👍': 1, '👎': 0}, or correct the cell"))
    assert got[2][0] == "invalid_score" and "row 2, column 's': empty" in got[2][1]
    assert got[3][0] == "missing_prompt_id" and "column 'pid': empty" in got[3][1]
    assert got[4][0] == "missing_reply" and "row 4, column 'a'" in got[4][1]
    assert got[5][0] == "invalid_score"
    assert pairs(r) == [(6, 7, "e", "f", 4, 1)]  # numbers as text; integral scores stay integers


def test_score_labels_are_matched_loosely_and_numbers_still_read():
    thumbs = {"👍": 1, "👎": 0, "Meh": 0.5}
    r = convert_rows([("c", "q", "good", " 👍"), ("c", "q", "bad", "👎"), ("c", "q", "ok", "meh"),
                      ("c", "q", "odd", "sideways")], scores=thumbs, pairs="all")
    assert [(p[2], p[3], p[4], p[5]) for p in pairs(r)] == [("good", "bad", 1, 0), ("good", "ok", 1, 0.5),
                                                            ("ok", "bad", 0.5, 0)]
    reason, detail = rejects(r)[4]
    assert reason == "invalid_score"
    assert detail == ("row 4, column 's': 'sideways' is not a number nor a label of inputs[0].scores ('👍', '👎', "
                      "'Meh'); fix: add it to inputs[0].scores with its number, or correct the cell")


def test_jsonl_with_sharegpt_messages_native_numbers_and_booleans(tmp_path):
    context = [{"from": "human", "value": "Recommend a book", "lang": "en"}]
    lines = [{"conv": 7, "context": context, "reply": {"from": "gpt", "value": "Dune."}, "ok": True, "team": "a"},
             {"conv": 7, "context": context, "reply": {"from": "gpt", "value": "No."}, "ok": False, "team": "b"}]
    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    inp = RatingsInput(path=str(path), layout="preference_ratings", metadata=["team"], scores={True: 1, False: 0},
                       columns={"prompt_id": "conv", "messages": "context", "reply": "reply", "score": "ok",
                                "role_key": "from", "content_key": "value"}, roles={"human": "user", "gpt": "assistant"})
    table = read_table(SourceFile(0, str(path), "jsonl"), inp.csv, inp.max_cell_chars)
    from pipeline.ingest.raw_checks import coerce_scalars
    r = convert_table(coerce_scalars(table.frame, inp), str(path), inp, 0, ConvertConfig(), ["team"])
    assert pairs(r) == [(1, 2, "Dune.", "No.", 1, 0)]
    assert r.examples["meta.team"].to_list() == ["a"]  # the chosen row's metadata
    assert r.facts["dropped_message_keys"] == {"lang": 2}  # once per row in a pair (extra_keys: drop)


# ------------------------------------------------------------------ config


@pytest.mark.parametrize("extra, fragment", [
    ({"columns": {"prompt": "q", "reply": "a"}}, "set columns.score"),
    ({"columns": {"prompt": "q", "messages": "m", "reply": "a", "score": "s"}}, "exactly one of them"),
    ({"max_pairs_per_prompt": 2}, "set pairs: all or remove max_pairs_per_prompt"),
    ({"scores": {"up": 1, " UP": 2}}, "appears twice"),
    ({"scores": {"up": "many"}}, "scores.up"),
    ({"min_margin": -1}, "greater than or equal to 0"),
    ({"pairs": "each"}, "best_vs_worst"),
])
def test_config_errors_name_the_key_and_the_fix(extra, fragment):
    with pytest.raises(ValidationError, match=fragment):
        RatingsInput(**{"path": "r.csv", "layout": "preference_ratings", "columns": COLUMNS, **extra})


def test_a_column_not_in_the_file_stops_the_run_naming_it(tmp_path, run_config):
    (tmp_path / "r.csv").write_text("pid,q,a,rating\nc,hi,yes,1\n")
    cfg = {"inputs": [{"path": str(tmp_path / "r.csv"), "layout": "preference_ratings", "columns": COLUMNS}],
           "stages": [{"name": "export"}]}
    with pytest.raises(UserError, match=r"column 's' \(inputs\[0\]\.columns\.score\) not found; the file has "
                                        r"columns: pid, q, a, rating"):
        run_config(cfg)


# ------------------------------------------------------------------ properties

group_rows = st.lists(st.tuples(st.sampled_from("abc"), st.integers(0, 4)), min_size=1, max_size=12)


def numbered(raw: list[tuple[str, int]]) -> list[tuple]:
    """Rows with a unique reply text each (so no pair is refused for the same text)."""
    return [(pid, f"prompt {pid}", f"reply {n}", score) for n, (pid, score) in enumerate(raw)]


@settings(max_examples=200, deadline=None)
@given(group_rows, st.sampled_from(["best_vs_worst", "all"]), st.sampled_from([0, 1, 2.5]),
       st.sampled_from([None, 1, 2, 3]))
def test_every_row_is_in_a_pair_or_in_one_reject_and_margin_and_cap_hold(raw, mode, margin, cap):
    rows = numbered(raw)
    r = convert_rows(rows, pairs=mode, min_margin=margin, **({"max_pairs_per_prompt": cap} if mode == "all" else {}))
    made = pairs(r)
    paired = {row for p in made for row in p[:2]}
    rejected = rejects(r)  # asserts no row is rejected twice
    assert not (paired & set(rejected))
    assert paired | set(rejected) == set(range(1, len(rows) + 1))
    per_prompt = Counter(rows[p[0] - 1][0] for p in made)
    for chosen, rejected_row, _, _, cs, rs in made:
        assert rows[chosen - 1][0] == rows[rejected_row - 1][0]  # one prompt
        assert (cs, rs) == (rows[chosen - 1][3], rows[rejected_row - 1][3])
        assert cs - rs > 0 and cs - rs >= margin
    limit = 1 if mode == "best_vs_worst" else cap
    assert all(n <= limit for n in per_prompt.values()) if limit else True
    for pid in {p for p, _ in raw}:  # the pairs made are the largest margins allowed
        scores = [s for p, s in raw if p == pid]
        allowed = sorted((a - b for a in scores for b in scores if a - b > 0 and a - b >= margin), reverse=True)
        if mode == "best_vs_worst":
            allowed = allowed[:1]
        got = sorted((p[4] - p[5] for p in made if rows[p[0] - 1][0] == pid), reverse=True)
        assert got == allowed[:cap] if mode == "all" and cap else got == allowed
    assert set(r.rejects["reason"]) <= {"unpaired_reply", "single_reply"}


@settings(max_examples=150, deadline=None)
@given(group_rows, st.sampled_from(["best_vs_worst", "all"]), st.sampled_from([None, 2]), st.randoms())
def test_shuffled_rows_give_the_same_pairs_where_promised(raw, mode, cap, rnd):
    """Row order only breaks ties: the margins made never depend on it, and without ties (distinct scores in a
    group; `all` without a cap) neither do the pairs themselves."""
    rows = numbered(raw)
    shuffled = rows[:]
    rnd.shuffle(shuffled)
    kw = {"pairs": mode, **({"max_pairs_per_prompt": cap} if mode == "all" and cap else {})}
    a, b = convert_rows(rows, **kw), convert_rows(shuffled, **kw)

    def by_prompt(result, source):
        out = {}
        for p in pairs(result):
            out.setdefault(source[p[0] - 1][0], []).append((p[2], p[3], p[4] - p[5]))
        return out

    pa, pb = by_prompt(a, rows), by_prompt(b, shuffled)
    assert pa.keys() == pb.keys()
    for pid in pa:
        assert sorted(m for *_, m in pa[pid]) == sorted(m for *_, m in pb[pid])
        scores = [s for p, s in raw if p == pid]
        if len(set(scores)) == len(scores) and (mode == "best_vs_worst" or not cap):
            assert sorted(pa[pid]) == sorted(pb[pid])
    assert convert_rows(rows, **kw).examples.equals(a.examples)  # and the same input gives the same bytes


# ------------------------------------------------------------------ end to end from YAML


def write_ratings_csv(path, n_prompts: int = 30) -> int:
    """The recipe's shape: a conversation id, the context as JSON, the answer, a thumb; some rows unpaired."""
    rng = random.Random(5)
    rows = [("conversation_id", "context", "answer", "rating")]
    for c in range(n_prompts):
        context = json.dumps([{"role": "user", "content": f"Question {c}: how do I reset device model {c * 7}?"}])
        thumbs = ["👍", "👎", rng.choice(["👍", "👎"])] + (["👍"] if c % 5 == 0 else [])
        if c % 9 == 0:
            thumbs = ["👍"]  # a single reply
        rows += [(f"conv-{c}", context, f"Answer {k} to {c}: hold the power button for {k + 3} seconds.", t)
                 for k, t in enumerate(thumbs)]
    rows.append(("conv-x", json.dumps([{"role": "user", "content": "hi"}]), "hello", "meh"))  # invalid_score
    dup = json.dumps([{"role": "user", "content": "Question 99: the same row logged twice?"}])
    rows += [("conv-99", dup, "Answer 0 to 99: yes, twice.", "👍"), ("conv-99", dup, "Answer 1 to 99: no.", "👎"),
             ("conv-99", dup, "Answer 0 to 99: yes, twice.", "👍")]  # its two pairs are one pair: dedup drops one
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    return len(rows) - 1


def assert_every_row_in_a_pair_or_in_rejects(folder, stats: dict, n_rows: int) -> None:
    """From the files alone: provenance and rejects cover every row; the stats count each row once and say how
    many rows were in several pairs, and how many exported rows a reject also cites."""
    cited = Counter(row for p in read_jsonl(folder / "provenance.jsonl") for row in p["source"]["rows"])
    rejected = {row for r in read_jsonl(folder / "rejects.jsonl") for row in r["source"]["rows"]}
    assert set(cited) | rejected == set(range(1, n_rows + 1))
    rows = stats["rows"]
    assert rows["input"] == n_rows == rows["exported"] + rows["rejected"]
    assert rows["exported"] == len(cited) and rows["rejected"] == len(rejected - set(cited))
    assert rows.get("in_several_examples", 0) == sum(1 for n in cited.values() if n > 1)
    assert rows.get("exported_also_rejected", 0) == len(rejected & set(cited))


def test_recipe_end_to_end_through_dedup_split_and_export(tmp_path, run_config):
    path = tmp_path / "rated_replies.csv"
    n_rows = write_ratings_csv(path)
    cfg = recipe_config("preference-ratings", path, stages=[{"name": "dedup"}, {"name": "split", "seed": 3},
                                                            {"name": "export"}])
    cfg["targets"] = [{"provider": "openai"}, {"provider": "hf"}]
    _result, out = run_config(cfg)
    stats = json.loads((out / "stats.json").read_text())
    assert stats["rows"].get("in_several_examples", 0) > 0  # replies in several pairs: the case under test
    assert stats["rejects_by_reason"]["convert"] == {"invalid_score": 1, "single_reply": 4}
    # pairs sharing a reply are not duplicates; only the pair of the row logged twice is (its rejected reply
    # stays in the kept pair: a row exported and also rejected)
    assert stats["rejects_by_reason"]["dedup"] == {"exact_duplicate": 1}
    assert stats["rows"]["exported_also_rejected"] == 1
    pairs_made = stats["facts"]["convert"]["preference_ratings"]["pairs"]
    folders = sorted(d for d in out.iterdir() if d.is_dir())
    assert [d.name.split("-")[0] for d in folders] == ["hf", "openai"]
    for folder in folders:
        provider = folder.name.split("-")[0]
        written = []
        for split in ("train", "validation"):
            assert DESTINATIONS[provider].check_preference_file(folder / f"{split}.jsonl", split=split) == [], folder
            written += [DESTINATIONS[provider].preference_to_pair(line) for line in read_jsonl(folder / f"{split}.jsonl")]
        assert len(written) == pairs_made - 1
        thumbs = {row["answer"]: row["rating"] for row in csv.DictReader(path.open(encoding="utf-8"))}
        for pair in written:  # a thumbs-up reply over a thumbs-down one of the same question
            chosen, rejected = pair["chosen"][0]["content"], pair["rejected"][0]["content"]
            assert (thumbs[chosen], thumbs[rejected]) == ("👍", "👎")
            question = pair["prompt"][-1]["content"].split(":")[0]  # "Question 12"
            assert chosen.split(":")[0].endswith(question.split()[-1]) and rejected.split(":")[0].endswith(
                question.split()[-1])
        assert_every_row_in_a_pair_or_in_rejects(folder, json.loads((folder / "stats.json").read_text()), n_rows)
