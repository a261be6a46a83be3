"""CSV exports with git merge-conflict markers, repeated headers and lines above the header
(csv.skip_rows), byte-order marks on header lines, and .tsv files read with a tab."""

from __future__ import annotations

import csv
import io
import shutil

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.cli import main as cli_main
from pipeline.errors import UserError
from pipeline.ingest import read_table
from pipeline.ingest.csv_reader import _read_csv_arrow, _read_csv_exact
from pipeline.ingest.sources import SourceFile
from schemas.inputs import CsvOptions
from tests.conftest import read_jsonl
from tests.ingest_files import MESSAGES, STAGES, assert_accounted, messages_csv, write_compressed
from tests.recipes import recipe_config

BOM = "\ufeff"
HEADER = "flags,instruction,category,intent,response\n"


def support_rows(start: int, n: int) -> str:
    return "".join(f"B,question {i},ACCOUNT,intent_{i % 3},answer {i}\n" for i in range(start, start + n))


def conflicted() -> str:
    """What a merge left: a marker above the header, both sides' rows, the other side's header (with a BOM)."""
    return ("<<<<<<< HEAD\n" + BOM + HEADER + support_rows(0, 6) + "=======\n" + BOM + HEADER + support_rows(6, 6)
            + ">>>>>>> export-2024\n")


def _read(path, **options):
    return read_table(SourceFile(0, str(path), "csv"), CsvOptions(**options), 2_000_000)


def test_marker_above_the_header_stops_naming_markers_lines_and_fix(tmp_path):
    p = tmp_path / "support.csv"
    p.write_text(conflicted(), encoding="utf-8")
    with pytest.raises(UserError) as e:
        _read(p)
    msg = str(e.value)
    assert msg.startswith(f"{p}: line 1 is a git merge-conflict marker, not the header")
    assert "line 1 '<<<<<<< HEAD', line 9 '=======', line 17 '>>>>>>> export-2024'" in msg
    assert "set csv.skip_rows: 1" in msg and "header on line 2" in msg


def test_marker_stop_is_exit_2_from_the_command_line(tmp_path, capsys):
    p = tmp_path / "support.csv"
    p.write_text(conflicted(), encoding="utf-8")
    cfg = tmp_path / "c.yaml"
    inp = {"path": str(p), "layout": "pairs", "columns": {"prompt": "instruction", "response": "response"}}
    cfg.write_text(yaml.safe_dump({"inputs": [inp], "stages": STAGES, "cache": {"dir": str(tmp_path / ".c")}}))
    assert cli_main(["prepare", "--config", str(cfg), "--out", str(tmp_path / "out"), "-q"]) == 2
    err = capsys.readouterr().err
    assert "merge-conflict marker" in err and "csv.skip_rows: 1" in err and "Traceback" not in err


def test_skip_rows_rejects_markers_and_repeated_headers_with_exact_rows(tmp_path):
    p = tmp_path / "support.csv"
    p.write_text(conflicted(), encoding="utf-8")
    t = _read(p, skip_rows=1)
    assert t.frame.columns == ["flags", "instruction", "category", "intent", "response", "__row"]
    assert t.frame["instruction"].to_list() == [f"question {i}" for i in range(12)]
    assert t.frame["__row"].to_list() == [*range(1, 7), *range(9, 15)]
    assert [(r.row, r.reason) for r in t.rejects] == [(7, "merge_conflict_marker"), (8, "repeated_header"),
                                                      (15, "merge_conflict_marker")]
    assert t.rejects[0].detail.startswith("line 9: git merge-conflict marker '======='")
    assert t.rejects[1].detail.startswith("line 10: repeats the header line")
    assert t.n_rows == 15


def test_skip_rows_past_the_end_and_marker_still_on_the_header_line(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("<<<<<<< HEAD\n<<<<<<< other\nid,text\n1,a\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"line 2 is a git merge-conflict marker.*csv.skip_rows: 2 .*header on line 3"):
        _read(p, skip_rows=1)
    with pytest.raises(UserError, match="csv.skip_rows is 9 but the file has only 4 lines"):
        _read(p, skip_rows=9)


def test_repeated_header_of_concatenated_exports_is_not_a_training_example(run_config, tmp_path):
    p = tmp_path / "intents.csv"
    body = "utterance,intent\n" + "".join(f"text {i},intent {i}\n" for i in range(6))
    p.write_text(BOM + body + BOM + body + body, encoding="utf-8")
    inp = {"path": str(p), "layout": "pairs", "columns": {"prompt": "utterance", "response": "intent"}}
    result, out = run_config({"inputs": [inp], "stages": STAGES})
    assert assert_accounted(result) == {"input": 20, "exported": 18, "rejected": 2}
    rej = read_jsonl(out / "rejects.jsonl")
    assert [(r["reason"], r["source"]["rows"]) for r in rej] == [("repeated_header", [7]), ("repeated_header", [14])]
    assert not any(line["messages"][0]["content"] == "utterance" for line in read_jsonl(out / "train.jsonl"))


def test_bom_on_the_header_line_after_skipped_lines(tmp_path):
    p = tmp_path / "x.csv"
    p.write_bytes(b"exported 2024-05-01\r\n" + (BOM + "id,text\r\n1,a\r\n2,b\r\n").encode())
    t = _read(p, skip_rows=1)
    assert t.frame.to_dicts() == [{"id": "1", "text": "a", "__row": 1}, {"id": "2", "text": "b", "__row": 2}]


def test_one_column_file_markers_leave_the_fast_path(tmp_path):
    p = tmp_path / "one.csv"
    p.write_text("text\nhello\n=======\nworld\n>>>>>>> main\ntext\n", encoding="utf-8")
    src = SourceFile(0, str(p), "csv")
    assert _read_csv_arrow(src, CsvOptions()) is None
    t = _read_csv_exact(src, CsvOptions())
    assert t.frame["text"].to_list() == ["hello", "world"]
    assert [(r.row, r.reason) for r in t.rejects] == [(2, "merge_conflict_marker"), (4, "merge_conflict_marker"),
                                                      (5, "repeated_header")]


def test_conflicted_csv_recipe_end_to_end(run_config, tmp_path):
    p = tmp_path / "support.csv"
    p.write_text(conflicted(), encoding="utf-8")
    result, out = run_config(recipe_config("csv-merge-conflict", p, STAGES))
    assert assert_accounted(result) == {"input": 15, "exported": 12, "rejected": 3}
    reasons = sorted(r["reason"] for r in read_jsonl(out / "rejects.jsonl"))
    assert reasons == ["merge_conflict_marker", "merge_conflict_marker", "repeated_header"]
    assert result.stats["stages"][0]["dropped"] == {"merge_conflict_marker": 2, "repeated_header": 1}


# ------------------------------------------------------------------ TSV


def test_tsv_is_read_with_a_tab_by_default(run_config, tmp_path):
    body = messages_csv(12).replace(",", "\t")
    plain = tmp_path / "chats.tsv"
    plain.write_text(body)
    assert _read(plain).frame.columns == ["cid", "who", "text", "__row"]
    packed = write_compressed(tmp_path, "chats2.tsv", body.encode(), "gzip")
    result, _ = run_config({"inputs": [{"path": str(plain), **MESSAGES}, {"path": str(packed), **MESSAGES}],
                            "stages": STAGES})
    assert assert_accounted(result) == {"input": 48, "exported": 48, "rejected": 0}
    semi = tmp_path / "semi.tsv"
    semi.write_text(messages_csv(2).replace(",", ";"))
    assert _read(semi, separator=";").frame.columns == ["cid", "who", "text", "__row"]
    assert _read(tmp_path / "chats.tsv", separator=",").frame.columns == ["cid\twho\ttext", "__row"]


def test_tsv_recipe_end_to_end(run_config, tmp_path):
    body = "dialog\tspeaker\ttext\n" + "".join(f"d{i}\tcustomer\tq {i}\nd{i}\tagent\ta {i}\n" for i in range(12))
    p = write_compressed(tmp_path, "dialogues.tsv", body.encode(), "gzip")
    result, out = run_config(recipe_config("tsv", p, STAGES))
    assert assert_accounted(result) == {"input": 24, "exported": 24, "rejected": 0}
    assert read_jsonl(out / "train.jsonl")[0]["messages"] == [{"role": "user", "content": "q 0"},
                                                              {"role": "assistant", "content": "a 0"}]


def test_real_tab_separated_file_named_tsv(realdata, run_config, tmp_path):
    p = tmp_path / "en_test_human.tsv"
    shutil.copyfile(realdata / "xdailydialog/en_test_human.txt", p)
    with p.open(encoding="utf-8", newline="") as f:
        n = sum(1 for r in csv.reader(f, delimiter="\t") if r)
    inp = {"path": str(p), "csv": {"has_header": False}, "layout": "transcript", "columns": {"text": "column_1"},
           "markers": {"separator": "__eou__"}}
    result, _ = run_config({"inputs": [inp], "stages": STAGES})
    assert assert_accounted(result)["input"] == n == 996


# ------------------------------------------------------------------ property: skip_rows


cells = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r\n\ufeff"),
                max_size=10)
junk_lines = st.text(alphabet=st.characters(blacklist_categories=("Cs",),
                                            blacklist_characters="\x00\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"),
                     max_size=15)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(cells, cells), min_size=1, max_size=10), st.lists(junk_lines, max_size=4), st.booleans())
def test_skip_rows_reads_what_follows_as_if_it_were_the_whole_file(tmp_path, rows, junk, bom):
    rows = [r for r in rows if any(r)]
    if not rows:
        return
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([("a", "b"), *rows])
    body = buf.getvalue()
    plain, skipped = tmp_path / "plain.csv", tmp_path / "skipped.csv"
    plain.write_text(body, encoding="utf-8")
    skipped.write_text("".join(line + "\n" for line in junk) + (BOM if bom else "") + body, encoding="utf-8")
    results = []
    for path, skip in ((plain, 0), (skipped, len(junk))):
        try:
            t = _read(path, skip_rows=skip)
            results.append((t.frame.to_dicts(), [(r.row, r.reason) for r in t.rejects], t.n_rows))
        except UserError as e:
            results.append(str(e).split(": ", 1)[1])
    assert results[0] == results[1]
