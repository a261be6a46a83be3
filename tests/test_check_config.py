"""`chatprep check-config` reads each input's columns cheaply (CSV header, Parquet schema, first JSON(L)
records) and reports what a run would: a mapped column that is not in the file stops with the run's words."""

from __future__ import annotations

import json

import polars as pl
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.cli import main
from pipeline.config_loader import load_config
from pipeline.errors import UserError
from pipeline.ingest import SourceFile, read_table
from pipeline.ingest import peek as peek_module
from pipeline.ingest.peek import peek_columns
from pipeline.runner import run_pipeline
from schemas.inputs import CsvOptions

MESSAGES = {"layout": "messages", "columns": {"conversation_id": "cid", "role": "who", "content": "text"},
            "roles": {"customer": "user", "agent": "assistant"}}


def chats_csv(path, header="cid,who,text"):
    rows = "".join(f"{c},{w},{w} says {i}\n" for c in "abcd" for i, w in enumerate(("customer", "agent")))
    path.write_text(header + "\n" + rows, encoding="utf-8")
    return path


def config_file(tmp_path, inputs, name="c.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump({"inputs": inputs, "cache": {"dir": str(tmp_path / ".cache")},
                                    "stages": [{"name": "export"}]}, sort_keys=False))
    return path


def check(path, capsys) -> tuple[int, str, str]:
    code = main(["check-config", str(path)])
    out = capsys.readouterr()
    return code, out.out, out.err


def run_error(path, tmp_path) -> str:
    with pytest.raises(UserError) as e:
        run_pipeline(load_config(path), str(path), tmp_path / "out", quiet=True)
    return str(e.value)


# --------------------------------------------------------------------------- peek, unit


def test_peek_csv_header_parquet_schema_and_json_keys(tmp_path):
    csv_path = chats_csv(tmp_path / "a.csv", "\ufeffcid, who ,text")
    assert list(peek_columns(SourceFile(0, str(csv_path), "csv"), CsvOptions()).columns) == ["cid", "who", "text"]
    no_header = peek_columns(SourceFile(0, str(csv_path), "csv"), CsvOptions(has_header=False))
    assert list(no_header.columns) == ["column_1", "column_2", "column_3"]
    tsv = tmp_path / "a.tsv"
    tsv.write_text("cid\twho\ttext\n1\tx\ty\n")
    assert list(peek_columns(SourceFile(0, str(tsv), "csv"), CsvOptions(separator="\\t")).columns) == \
        ["cid", "who", "text"]

    pq = tmp_path / "a.parquet"
    pl.DataFrame({"cid": [1], "text": ["x"]}).write_parquet(pq)
    assert peek_columns(SourceFile(0, str(pq), "parquet"), CsvOptions()).columns == {"cid": pl.Int64,
                                                                                       "text": pl.String}
    jsonl = tmp_path / "a.jsonl"
    jsonl.write_text('{"a": "x\u2028y"}\nnot json\n\n{"b": 1}\n[1]\n', encoding="utf-8")
    got = peek_columns(SourceFile(0, str(jsonl), "jsonl"), CsvOptions())
    assert list(got.columns) == ["a", "b"] and got.complete and got.records == 2
    array = tmp_path / "a.json"
    array.write_text(json.dumps([{"a": 1}, 3, {"c": [1, 2]}]))
    assert list(peek_columns(SourceFile(0, str(array), "json"), CsvOptions()).columns) == ["a", "c"]


def test_peek_cannot_tell_a_json_object_but_reads_compressed_and_zipped_data(tmp_path):
    import gzip
    import zipfile

    obj = tmp_path / "o.json"
    obj.write_text(json.dumps({"data": [{"a": 1}]}))
    assert peek_columns(SourceFile(0, str(obj), "json"), CsvOptions()) is None
    gz = tmp_path / "x.jsonl.gz"
    gz.write_bytes(gzip.compress(b'{"a": 1, "b": 2}\n'))
    assert list(peek_columns(SourceFile(0, str(gz), "jsonl"), CsvOptions()).columns) == ["a", "b"]
    tsv_in_zip = tmp_path / "x.zip"
    with zipfile.ZipFile(tsv_in_zip, "w") as z:
        z.writestr("chats.tsv", "junk line\nid\ttext\n1\thi\n")
    src = SourceFile(0, f"{tsv_in_zip}:chats.tsv", "csv", archive=str(tsv_in_zip), member="chats.tsv")
    assert list(peek_columns(src, CsvOptions(skip_rows=1)).columns) == ["id", "text"]  # tab by default for .tsv
    damaged = tmp_path / "d.jsonl.gz"
    damaged.write_bytes(b"\x1f\x8b\x08\x00")
    with pytest.raises(UserError, match="gzip data is damaged"):
        peek_columns(SourceFile(0, str(damaged), "jsonl"), CsvOptions())


def test_peek_reads_only_the_top_of_a_big_file(tmp_path, monkeypatch):
    monkeypatch.setattr(peek_module, "PREFIX_CHARS", 64)
    monkeypatch.setattr(peek_module, "PREFIX_RECORDS", 2)
    jsonl = tmp_path / "big.jsonl"
    jsonl.write_text("".join(json.dumps({"a": i}) + "\n" for i in range(50)) + '{"late": 1}\n')
    got = peek_columns(SourceFile(0, str(jsonl), "jsonl"), CsvOptions())
    assert list(got.columns) == ["a"] and not got.complete and got.records == 2
    array = tmp_path / "big.json"
    array.write_text(json.dumps([{"a": i} for i in range(50)]))
    got = peek_columns(SourceFile(0, str(array), "json"), CsvOptions())
    assert list(got.columns) == ["a"] and not got.complete


def test_peek_stops_on_a_bad_byte_with_the_run_words(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("cid,who,text\n1,customer,caf\xe9\n".encode("latin-1"))
    with pytest.raises(UserError, match=r"latin.csv: line 2: byte 0xe9 at offset .* Set the input's csv.encoding"):
        peek_columns(SourceFile(0, str(path), "csv"), CsvOptions())
    assert "text" in peek_columns(SourceFile(0, str(path), "csv"), CsvOptions(encoding="latin-1")).columns


# no line-breaking characters: the JSONL reader splitting at U+0085 / U+2028 is another change
one_line = st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp"))
names = st.text(one_line, min_size=1, max_size=8).map(str.strip).filter(bool)


@settings(max_examples=40, deadline=None)
@given(header=st.lists(names, min_size=1, max_size=6, unique=True),
       rows=st.lists(st.lists(st.text(one_line, max_size=12), min_size=6, max_size=6), min_size=1, max_size=5))
def test_peek_names_the_columns_the_reader_reads(tmp_path_factory, header, rows):
    folder = tmp_path_factory.mktemp("peek")
    frame = pl.DataFrame([r[: len(header)] for r in rows], schema=header, orient="row")
    for fmt, write in (("csv", frame.write_csv), ("jsonl", frame.write_ndjson), ("json", frame.write_json),
                       ("parquet", frame.write_parquet)):
        path = folder / f"t.{fmt}"
        write(path)
        src = SourceFile(0, str(path), fmt)
        try:  # a file the reader refuses (e.g. a header cell that is a git conflict marker) the peek refuses too
            read = [c for c in read_table(src, CsvOptions(), 10**6).frame.columns if c != "__row"]
        except UserError as refused:
            with pytest.raises(UserError) as peeked:
                peek_columns(src, CsvOptions())
            assert str(peeked.value) == str(refused)
            continue
        assert list(peek_columns(src, CsvOptions()).columns) == read


# --------------------------------------------------------------------------- check-config, end to end


def test_check_config_reports_a_missing_column_as_the_run_does(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    chats_csv(tmp_path / "chats.csv", "cid,speaker,text")
    path = config_file(tmp_path, [{"path": "chats.csv", **MESSAGES}])
    code, out, err = check(path, capsys)
    assert code == 2 and out == ""
    expected = "chats.csv: column 'who' (inputs[0].columns.role) not found; the file has columns: cid, speaker, text"
    assert err == f"error: {expected}\n"
    assert run_error(path, tmp_path) == expected  # the run's own words


def test_check_config_reports_every_file_and_parquet_types(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    pl.DataFrame({"q": ["hi"], "a": [3]}).write_parquet(tmp_path / "p.parquet")
    (tmp_path / "c.jsonl").write_text('{"conversations": []}\n')
    path = config_file(tmp_path, [{"path": "p.parquet", "layout": "pairs", "columns": {"prompt": "q", "response": "a"}},
                                  {"path": "c.jsonl", "layout": "conversations", "metadata": ["topic"]}])
    code, _, err = check(path, capsys)
    assert code == 2
    assert "c.jsonl: column 'messages' (inputs[1].columns.messages) not found; the file has columns: conversations" in err
    assert "c.jsonl: column 'topic' (inputs[1].metadata[0]) not found" in err
    assert "p.parquet" not in err  # a number column mapped as text is read as text, as in a run


def test_check_config_ok_and_a_run_agrees(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    chats_csv(tmp_path / "chats.csv")
    (tmp_path / "info.csv").write_text("cid,channel\na,web\nb,mail\nc,web\nd,web\n")
    inp = {"path": "chats.csv", **MESSAGES, "metadata_join": [{"path": "info.csv", "key": "cid", "columns": ["channel"]}]}
    path = config_file(tmp_path, [inp])
    code, out, _ = check(path, capsys)
    assert code == 0 and "OK — 1 input(s), 1 file(s) (1 with their columns checked)" in out
    result = run_pipeline(load_config(path), str(path), tmp_path / "out", quiet=True)
    rows = result.stats["rows"]
    assert rows["input"] == rows["exported"] + rows["rejected"] == 8


def test_a_column_missing_from_the_top_of_a_big_file_is_a_note(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(peek_module, "PREFIX_RECORDS", 3)
    lines = [{"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]}
             for i in range(6)]
    lines[5]["topic"] = "late"
    (tmp_path / "c.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    path = config_file(tmp_path, [{"path": "c.jsonl", "layout": "conversations", "metadata": ["topic"]}])
    code, out, _ = check(path, capsys)
    assert code == 0
    assert "note: c.jsonl: column 'topic' (inputs[0].metadata[0]) not found" in out
    assert "only its first 3 records were read" in out
    result = run_pipeline(load_config(path), str(path), tmp_path / "out", quiet=True)  # the run finds it
    rows = result.stats["rows"]
    assert rows["input"] == rows["exported"] + rows["rejected"] == 6


def test_check_config_names_a_bad_byte_and_a_corrupt_parquet(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "latin.csv").write_bytes("cid,who,text\na,customer,caf\xe9\n".encode("latin-1"))
    (tmp_path / "bad.parquet").write_bytes(b"not parquet at all")
    path = config_file(tmp_path, [{"path": "latin.csv", **MESSAGES},
                                  {"path": "bad.parquet", "layout": "pairs", "columns": {"prompt": "q", "response": "a"}}])
    code, _, err = check(path, capsys)
    assert code == 2
    assert "latin.csv: line 2: byte 0xe9 at offset 27 is not valid utf-8" in err
    assert "bad.parquet: not a readable Parquet file" in err


def test_check_config_on_real_exports(realdata, tmp_path, capsys):
    twcs = {"path": str(realdata / "twcs-sample/sample.csv"), "layout": "threads",
            "columns": {"id": "tweet_id", "parent": "in_response_to_tweet_id", "role": "inbound", "content": "text"},
            "roles": {"true": "user", "false": "assistant"}}
    glaive = {"path": str(realdata / "llamafactory-demo/glaive_toolcall_en_demo.json"), "layout": "conversations",
              "columns": {"messages": "conversations", "role_key": "from", "content_key": "value", "tools": "tools"},
              "roles": {"human": "user", "gpt": "assistant"}}
    code, out, _ = check(config_file(tmp_path, [twcs, glaive]), capsys)
    assert code == 0 and "(2 with their columns checked)" in out
    bad = {**twcs, "columns": {**twcs["columns"], "content": "body"}}
    code, _, err = check(config_file(tmp_path, [bad, {**glaive, "metadata": ["category"]}], "bad.yaml"), capsys)
    assert code == 2
    assert "sample.csv: column 'body' (inputs[0].columns.content) not found; the file has columns: tweet_id," in err
    assert "glaive_toolcall_en_demo.json: column 'category' (inputs[1].metadata[0]) not found" in err


def test_threads_and_transcript_columns_are_checked_before_any_work(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.csv").write_text("id,reply_to,who,text\n1,,customer,hi\n2,1,agent,hello\n")
    threads = {"path": "t.csv", "layout": "threads", "roles": {"customer": "user", "agent": "assistant"},
               "columns": {"id": "id", "parent": "parent", "role": "who", "content": "text"}}
    path = config_file(tmp_path, [threads])
    code, _, err = check(path, capsys)
    expected = "t.csv: column 'parent' (inputs[0].columns.parent) not found; the file has columns: id, reply_to, who, text"
    assert code == 2 and err == f"error: {expected}\n"
    assert run_error(path, tmp_path) == expected
    fixed = config_file(tmp_path, [{**threads, "columns": {**threads["columns"], "parent": "reply_to"}}], "ok.yaml")
    assert check(fixed, capsys)[0] == 0
    result = run_pipeline(load_config(fixed), str(fixed), tmp_path / "out", quiet=True)
    rows = result.stats["rows"]
    assert rows["input"] == rows["exported"] + rows["rejected"] == 2

    (tmp_path / "d.csv").write_text("dialog\nUser: hi\n")
    transcript = {"path": "d.csv", "layout": "transcript", "columns": {"text": "text"},
                  "markers": {"speakers": ["User", "Bot"]}}
    code, _, err = check(config_file(tmp_path, [transcript], "tr.yaml"), capsys)
    assert code == 2 and "d.csv: column 'text' (inputs[0].columns.text) not found; the file has columns: dialog" in err
