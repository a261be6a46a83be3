"""Metadata tables joined by key, `where:` filters (a small grammar, never eval), speaker roles by
number labels, position and per-conversation column."""

from __future__ import annotations

import json

import polars as pl
import pytest

from pipeline.convert import convert_table
from pipeline.convert.where_expressions import where_mask
from pipeline.errors import UserError
from schemas.config import ConvertConfig
from schemas.inputs import MessagesInput
from schemas.where_syntax import WhereSyntaxError, parse_where
from tests.conftest import read_jsonl

STAGES = [{"name": "split", "validation_fraction": 0.25}, {"name": "export"}]


# ------------------------------------------------------------------ where expressions

TABLE = pl.DataFrame({"outcome": ["resolved", "open", None, "resolved", " resolved "],
                      "score": ["4.5", "2", "5", "x", "3"], "vip": ["true", "False", "true", None, "false"]})


@pytest.mark.parametrize("text, rows", [
    ("outcome == 'resolved'", [0, 3, 4]),
    ("outcome = \"resolved\" and score >= 4", [0]),
    ("score > 2.5 or vip == true", [0, 2, 4]),
    ("not score < 3", [0, 2, 4]),  # 'x' is not a number: the test is false, also under not
    ("outcome in ('open', 'closed')", [1]),
    ("outcome not in ['open']", [0, 3, 4]),
    ("outcome is null", [2]),
    ("`outcome` is not null and (score == 2 or score == 3)", [1, 4]),
    ("outcome matches '^res' and not vip == false", [0]),
    ("outcome contains 'solv' AND score in (3, 4.5)", [0, 4]),
])
def test_where_expressions(text, rows):
    mask = where_mask(TABLE, text, lambda name: name)
    assert [i for i, m in enumerate(mask.to_list()) if m] == rows


@pytest.mark.parametrize("text, words", [
    ("", "empty"), ("score >", "expected a value"), ("score > 1 and", "expected a column name"),
    ("(score > 1", r"expected '\)'"), ("score ~ 1", "cannot read"), ("score 1", "expected an operator"),
    ("__import__('os').system('x')", "cannot read"), ("__import__('os')", "expected an operator"), ("outcome matches '['", "invalid regex"),
    ("score > 1 score", "expected and / or / the end"),
])
def test_where_syntax_errors_say_where(text, words):
    with pytest.raises(WhereSyntaxError, match=words):
        parse_where(text)


# ------------------------------------------------------------------ joins, filters and stratify, end to end


def write(path, frame: pl.DataFrame):
    frame.write_csv(path)
    return str(path)


@pytest.fixture
def support(tmp_path):
    chats = pl.DataFrame({
        "cid": [c for c in ("a", "b", "c", "d", "e", "f", "g", "h") for _ in range(2)],
        "who": ["customer", "agent"] * 8,
        "text": [f"{w} {c}" for c in "abcdefgh" for w in ("question", "answer")],
    })
    info = pl.DataFrame({"conversation": ["a", "b", "c", "d", "e", "f", "g", "x"],
                         "outcome": ["resolved", "resolved", "open", "resolved", "open", "resolved", "open", "open"],
                         "csat": ["5", "4", "1", "5", "2", "3", "1", "5"]})
    return write(tmp_path / "chats.csv", chats), write(tmp_path / "info.csv", info)


def chats_input(chats, info, **kw):
    return {"path": chats, "layout": "messages", "columns": {"conversation_id": "cid", "role": "who", "content": "text"},
            "roles": {"customer": "user", "agent": "assistant"},
            "metadata_join": {"path": info, "key": "cid", "table_key": "conversation",
                              "columns": kw.pop("columns", ["outcome", "csat"]), **kw.pop("join", {})}, **kw}


def test_join_where_and_stratify_end_to_end(support, run_config):
    chats, info = support
    result, out = run_config({"inputs": [chats_input(chats, info, where="outcome == 'resolved' and csat >= 4")],
                              "stages": [{**STAGES[0], "stratify": "outcome"}, STAGES[1]]})
    stats = result.stats
    assert stats["rows"] == {"input": 16, "exported": 6, "rejected": 10}
    kept = [p["meta"] for p in read_jsonl(out / "provenance.jsonl")]
    assert sorted(m["csat"] for m in kept) == ["4", "5", "5"] and {m["outcome"] for m in kept} == {"resolved"}
    rejects = read_jsonl(out / "rejects.jsonl")
    assert Counter_of(rejects) == {"excluded_by_where": 5}
    detail = next(r["detail"] for r in rejects if r["source"]["rows"] == [15, 16])  # h: not in the table
    assert detail == ("excluded by inputs[0].where (outcome == 'resolved' and csat >= 4): "
                      "meta.outcome=(empty), meta.csat=(empty)")
    (join,) = stats["sources"][0]["metadata"]["joins"]
    assert join["unmatched_rows"] == 2 and join["unmatched_keys_sample"] == ["h"] and join["matched_rows"] == 14
    assert stats["sources"][0]["metadata"]["where"] == {"where": "outcome == 'resolved' and csat >= 4",
                                                        "examples_in": 8, "excluded": 5}


def Counter_of(rejects) -> dict:
    out: dict = {}
    for r in rejects:
        out[r["reason"]] = out.get(r["reason"], 0) + 1
    return out


def test_unmatched_reject_and_renamed_columns(support, run_config):
    chats, info = support
    inp = chats_input(chats, info, columns={"outcome": "result"}, join={"unmatched": "reject"})
    result, out = run_config({"inputs": [inp], "stages": STAGES})
    rejects = read_jsonl(out / "rejects.jsonl")
    assert [(r["reason"], r["source"]["rows"]) for r in rejects] == [("metadata_missing", [15]),
                                                                      ("metadata_missing", [16])]
    assert "'h' is not in" in rejects[0]["detail"]
    assert all(set(p["meta"]) == {"result"} for p in read_jsonl(out / "provenance.jsonl"))
    assert result.stats["rows"]["input"] == result.stats["rows"]["exported"] + result.stats["rows"]["rejected"]


def test_join_config_errors_are_clear(support, run_config, tmp_path):
    chats, info = support
    dup = write(tmp_path / "dup.csv", pl.DataFrame({"conversation": ["a", "a"], "outcome": ["x", "y"]}))
    cases = [
        (chats_input(chats, dup, columns=["outcome"]), r"1 keys appear more than once .* \(e\.g\. 'a' x2\)"),
        (chats_input(chats, info, columns=["nope"]), r"metadata_join\[0\]\.columns: column 'nope' not found"),
        (chats_input(chats, info, columns={"outcome": "text"}), r"'text' is already a column"),
        (chats_input(chats, info, join={"where": "color == 'red'"}), r"where: column 'color' not found"),
        (chats_input(chats, info, where="channel == 'x'"), r"inputs\[0\]\.where: 'channel' is not a metadata column"),
        (chats_input(chats, str(tmp_path / "none.csv")), r"metadata table not found"),
    ]
    for inp, words in cases:
        with pytest.raises(UserError, match=words):
            run_config({"inputs": [inp], "stages": STAGES})


def test_where_syntax_error_stops_config_loading(support, run_config):
    chats, info = support
    with pytest.raises(UserError, match=r"inputs\[0\]\.where: .*expected a value"):
        run_config({"inputs": [chats_input(chats, info, where="csat >")], "stages": STAGES})


# ------------------------------------------------------------------ speaker roles


def test_number_labels_from_yaml_are_text(tmp_path, run_config):
    path = write(tmp_path / "d.csv", pl.DataFrame({"d": ["x", "x", "x"], "b4": [0, 1, 0], "u": ["hi", "hello", "bye"]}))
    _, out = run_config({"inputs": [{"path": path, "layout": "messages", "roles": {0: "user", 1: "assistant"},
                                     "columns": {"conversation_id": "d", "role": "b4", "content": "u"}}],
                         "stages": STAGES})
    lines = read_jsonl(out / "train.jsonl") + read_jsonl(out / "validation.jsonl")
    assert lines == [{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}]


def messages_frame(**cols) -> pl.DataFrame:
    n = len(next(iter(cols.values())))
    return pl.DataFrame({**cols, "__row": list(range(1, n + 1))})


def test_roles_by_position_per_conversation():
    f = messages_frame(cid=["a", "a", "a", "b", "b", "c", "c", "c"],
                       who=["Ann", "Shop", "Ann", "Bob", "Shop", "Cy", "Shop", "Dee"],
                       text=["q", "a", "q2", "hi", "hello", "x", "y", "z"])
    inp = MessagesInput(path="m.csv", layout="messages", speaker_roles={"by": "position"},
                        columns={"conversation_id": "cid", "role": "who", "content": "text"})
    r = convert_table(f, "m.csv", inp, 0, ConvertConfig(drop_trailing_turns=False), [])
    roles = [[m["role"] for m in json.loads(e)["messages"]] for e in r.examples["example"]]
    assert roles == [["user", "assistant", "user"], ["user", "assistant"]]
    assert r.rejects.select("reason", "source_rows").rows() == [("too_many_speakers", [6, 7, 8])]
    assert "speakers 'Cy', 'Shop', 'Dee'" in r.rejects["detail"][0]


def test_roles_from_a_per_conversation_column():
    f = messages_frame(cid=["a", "a", "b", "b", "c", "c"], code=["0", "1", "1", "0", "0", "1"],
                       persuader=["0", None, None, "1", None, None], text=["p1", "e1", "p2", "e2", "x", "y"])
    inp = MessagesInput(path="m.csv", layout="messages", speaker_roles={"by": "column", "column": "persuader"},
                        columns={"conversation_id": "cid", "role": "code", "content": "text"})
    r = convert_table(f, "m.csv", inp, 0, ConvertConfig(drop_trailing_turns=False), [])
    roles = [[(m["role"], m["content"]) for m in json.loads(e)["messages"]] for e in r.examples["example"]]
    assert roles == [[("assistant", "p1"), ("user", "e1")], [("assistant", "p2"), ("user", "e2")]]
    assert r.rejects.select("reason", "source_rows").rows() == [("missing_speaker_role", [5, 6])]
    assert "column 'persuader' is empty" in r.rejects["detail"][0]
