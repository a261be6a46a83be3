"""The messy layouts on real third-party files (../shared/realdata), through the whole pipeline (split +
export): every exported line passes the independent OpenAI format check and every source row is
accounted for (rows.input == exported + rejected, rebuilt from the output files)."""

from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from tests.conftest import read_jsonl
from tests.openai_format_check import check_file

STAGES = [{"name": "split", "validation_fraction": 0.1}, {"name": "export"}]


def exported(out: Path) -> list[tuple[dict, dict]]:
    """(provenance record, example) for every exported line."""
    pairs = []
    for split in ("train", "validation"):
        lines = read_jsonl(out / f"{split}.jsonl")
        prov = [p for p in read_jsonl(out / "provenance.jsonl") if p["file"] == f"{split}.jsonl"]
        assert len(lines) == len(prov)
        pairs += list(zip(prov, lines))
    return pairs


def assert_valid_and_accounted(result, out: Path, n_rows: int) -> None:
    for split in ("train", "validation"):
        assert check_file(out / f"{split}.jsonl") == []
    rows = result.stats["rows"]
    assert rows["input"] == n_rows == rows["exported"] + rows["rejected"]
    out_rows = {(p["source"]["file"], r) for p, _ in exported(out) for r in p["source"]["rows"]}
    rejected = {(r["source"]["file"], row) for r in read_jsonl(out / "rejects.jsonl") for row in r["source"]["rows"]}
    assert len(out_rows) == rows["exported"]
    assert len(out_rows | rejected) == n_rows  # every row is exported or has a reject line saying why
    splits_per_group = defaultdict(set)
    for p, _ in exported(out):
        splits_per_group[p["group_id"]].add(p["file"])
    assert all(len(s) == 1 for s in splits_per_group.values())  # a group never straddles the split


def csv_records(path: Path, **kw) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return [r for r in csv.reader(f, **kw) if r]


# ------------------------------------------------------------------ twcs: reply threads


TWCS = {"layout": "threads", "columns": {"id": "tweet_id", "parent": "in_response_to_tweet_id", "role": "inbound",
                                         "content": "text"},
        "roles": {True: "user", False: "assistant"}, "metadata": ["author_id"]}


def test_twcs_threads_every_path(realdata, run_config):
    path = realdata / "twcs-sample/sample.csv"
    assert b"\r\n" in path.read_bytes()  # the quirks this test is about
    header, *records = csv_records(path)
    texts = {n: dict(zip(header, r))["text"] for n, r in enumerate(records, start=1)}
    assert any("\n" in t for t in texts.values())
    assert any("," in dict(zip(header, r))["response_tweet_id"] for r in records)

    result, out = run_config({"inputs": [{"path": str(path), **TWCS}], "stages": STAGES})
    assert_valid_and_accounted(result, out, len(records))
    pairs = exported(out)
    for prov, line in pairs:  # every exported row's text is in its example, multi-line cells intact
        joined = "\n".join(m["content"] for m in line["messages"])
        assert all(texts[r].strip() in joined for r in prov["source"]["rows"])
    assert any("\n" in m["content"] for _, line in pairs for m in line["messages"])
    groups = Counter(p["group_id"] for p, _ in pairs)
    assert max(groups.values()) >= 2  # a tweet with several replies gives several paths, in one group
    convert = result.stats["stages"][1]
    assert convert["changes"]["orphan_thread"] == 2  # two tweets reply to tweets not in the file


def test_twcs_threads_longest_path_and_rejected_orphans(realdata, run_config):
    path = realdata / "twcs-sample/sample.csv"
    n = len(csv_records(path)) - 1
    inp = {"path": str(path), **TWCS, "tree": {"paths": "longest", "orphans": "reject"}}
    result, out = run_config({"inputs": [inp], "stages": STAGES})
    assert_valid_and_accounted(result, out, n)
    assert len({p["group_id"] for p, _ in exported(out)}) == len(exported(out))  # one path per tree
    reasons = Counter(r["reason"] for r in read_jsonl(out / "rejects.jsonl"))
    assert reasons["missing_parent"] >= 2 and reasons["not_on_longest_path"] >= 1


# ------------------------------------------------------------------ XDailyDialog: __eou__ transcripts


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_xdailydialog_transcripts(realdata, run_config, lang):
    path = realdata / f"xdailydialog/{lang}_test_human.txt"
    records = csv_records(path, delimiter="\t")
    assert {len(r) for r in records} == {4}  # text, topic, acts, emotions; no header
    inp = {"path": str(path), "format": "csv", "csv": {"separator": "\t", "has_header": False},
           "layout": "transcript", "columns": {"text": "column_1"}, "markers": {"separator": "__eou__"},
           "metadata": ["column_2"]}
    result, out = run_config({"inputs": [inp], "stages": [{**STAGES[0], "stratify": "column_2"}, STAGES[1]]})
    assert_valid_and_accounted(result, out, len(records))
    for prov, line in exported(out):
        (row,) = prov["source"]["rows"]
        turns = [t.strip() for t in records[row - 1][0].split("__eou__") if t.strip()]
        n = len(turns) - (len(turns) % 2)  # alternating user/assistant; a final user turn is dropped
        assert [m["content"] for m in line["messages"]] == turns[:n]
        assert [m["role"] for m in line["messages"]] == ["user", "assistant"] * (n // 2)
        assert prov["meta"]["column_2"] == records[row - 1][1]


def test_xdailydialog_long_dialogues_as_windows(realdata, run_config):
    path = realdata / "xdailydialog/en_test_human.txt"
    records = csv_records(path, delimiter="\t")
    inp = {"path": str(path), "format": "csv", "csv": {"separator": "\t", "has_header": False},
           "layout": "transcript", "columns": {"text": "column_1"}, "markers": {"separator": "__eou__"}}
    config = {"inputs": [inp], "convert": {"windows": {"max_turns": 4, "overlap": 2}}, "stages": STAGES}
    result, out = run_config(config)
    assert_valid_and_accounted(result, out, len(records))
    by_row = defaultdict(list)
    for prov, line in exported(out):
        by_row[prov["source"]["rows"][0]].append(line["messages"])
    assert max(len(w) for w in by_row.values()) > 3
    for row, windows in by_row.items():
        turns = [t.strip() for t in records[row - 1][0].split("__eou__") if t.strip()]
        answers = [m["content"] for w in windows for m in w if m["role"] == "assistant" and m.get("weight", 1) == 1]
        assert answers == turns[1: len(turns) - (len(turns) % 2): 2]  # every answer trained once, in order
        assert all(len(w) <= 4 and w[-1]["role"] == "assistant" for w in windows)


# ------------------------------------------------------------------ glaive: ShareGPT tool calls


def test_glaive_tool_calls(realdata, run_config):
    path = realdata / "llamafactory-demo/glaive_toolcall_en_demo.json"
    source = json.loads(path.read_text(encoding="utf-8"))
    inp = {"path": str(path), "layout": "conversations",
           "columns": {"messages": "conversations", "role_key": "from", "content_key": "value", "tools": "tools"},
           "roles": {"human": "user", "gpt": "assistant"}, "tool_calls": {"format": "sharegpt"}}
    result, out = run_config({"inputs": [inp], "stages": STAGES})
    assert_valid_and_accounted(result, out, len(source))
    pairs = exported(out)
    assert len(pairs) == len(source)
    for prov, line in pairs:
        (row,) = prov["source"]["rows"]
        raw = source[row - 1]
        calls = [json.loads(t["value"]) for t in raw["conversations"] if t["from"] == "function_call"]
        got = [c["function"] for m in line["messages"] for c in m.get("tool_calls", [])]
        assert [(c["name"], json.loads(c["arguments"])) for c in got] == [(c["name"], c["arguments"]) for c in calls]
        results = [t["value"] for t in raw["conversations"] if t["from"] == "observation"]
        assert [m["content"] for m in line["messages"] if m["role"] == "tool"] == results
        assert [t["function"] for t in line.get("tools", [])] == json.loads(raw["tools"])


# ------------------------------------------------------------------ persuasionforgood: coded roles + info table


@pytest.mark.parametrize("roles_by", ["label", "column"])
def test_persuasionforgood_coded_roles_and_info_table(realdata, run_config, roles_by):
    dialog, info = realdata / "persuasionforgood/full_dialog.csv", realdata / "persuasionforgood/full_info.csv"
    header, *records = csv_records(dialog)
    joins = [{"path": str(info), "key": "B2", "where": "B4 == 1", "columns": {"B6": "donation", "B7": "n_turns"}}]
    inp = {"path": str(dialog), "layout": "messages", "columns": {"conversation_id": "B2", "role": "B4",
                                                                  "content": "Unit"},
           "metadata": ["B2"], "where": "donation > 0"}
    if roles_by == "label":  # 0 = persuader (trained as the assistant), 1 = persuadee; YAML number keys
        inp["roles"] = {0: "assistant", 1: "user"}
    else:  # which code is the persuader comes from the info table
        joins.append({"path": str(info), "key": "B2", "where": "B4 == 0", "columns": {"B4": "persuader_code"}})
        inp["speaker_roles"] = {"by": "column", "column": "persuader_code"}
    inp["metadata_join"] = joins
    result, out = run_config({"inputs": [inp], "stages": [{**STAGES[0], "stratify": "n_turns"}, STAGES[1]]})
    assert_valid_and_accounted(result, out, len(records))
    col = {h: i for i, h in enumerate(header)}
    donations = {r[0]: float(r[3]) for r in csv_records(info)[1:] if r[2] == "1"}
    pairs = exported(out)
    assert len(pairs) == sum(1 for d in donations.values() if d > 0)
    dialogs = defaultdict(list)
    for r in records:
        dialogs[r[col["B2"]]].append(("assistant" if r[col["B4"]] == "0" else "user", r[col["Unit"]].strip()))
    for prov, line in pairs:
        assert float(prov["meta"]["donation"]) == donations[prov["meta"]["B2"]] > 0
        expected: list[dict] = []  # an independent rebuild: file order, merge same speaker, end on the persuader
        for role, text in dialogs[prov["meta"]["B2"]]:
            if not text:
                continue
            if expected and expected[-1]["role"] == role:
                expected[-1]["content"] += "\n" + text
            else:
                expected.append({"role": role, "content": text})
        while expected[-1]["role"] != "assistant":
            expected.pop()
        assert line["messages"] == expected
    excluded = [r for r in read_jsonl(out / "rejects.jsonl") if r["reason"] == "excluded_by_where"]
    assert len(excluded) == sum(1 for d in donations.values() if d <= 0)
    assert result.stats["sources"][0]["metadata"]["where"]["excluded"] == len(excluded)


def test_csv_reader_matches_independent_parse(realdata):
    """Guards the row numbers the tests above rely on: csv module records == pipeline rows."""
    from pipeline.ingest import read_table
    from pipeline.ingest.sources import SourceFile
    from schemas.inputs import CsvOptions

    path = realdata / "twcs-sample/sample.csv"
    table = read_table(SourceFile(0, str(path), "csv"), CsvOptions(), 2_000_000)
    header, *records = csv_records(path)
    assert table.frame["text"].to_list() == [dict(zip(header, r))["text"] for r in records]
