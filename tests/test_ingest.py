"""Bad input gets a clear message: a bad file stops the run naming it, a bad row is rejected with its reason."""

from __future__ import annotations

import json

import polars as pl
import pytest

from pipeline.errors import UserError
from tests.conftest import read_jsonl

MESSAGES = {"layout": "messages", "columns": {"conversation_id": "cid", "role": "who", "content": "text"},
            "roles": {"customer": "user", "agent": "assistant"}}
STAGES = [{"name": "split", "validation_fraction": 0.0}, {"name": "export"}]


def csv_input(tmp_path, body: bytes | str, name="chats.csv", **extra):
    p = tmp_path / name
    p.write_bytes(body.encode() if isinstance(body, str) else body)
    return {"path": str(p), **MESSAGES, **extra}


def convs(n: int, start: int = 0) -> str:
    return "".join(f"c{i},customer,question {i}\nc{i},agent,answer {i}\n" for i in range(start, start + n))


def run_expect_error(run_config, inp) -> str:
    with pytest.raises(UserError) as e:
        run_config({"inputs": [inp], "stages": STAGES})
    return str(e.value)


def test_missing_file_and_glob(run_config, tmp_path):
    assert "file not found" in run_expect_error(run_config, {"path": str(tmp_path / "nope.csv"), **MESSAGES})
    assert "no file matches the glob" in run_expect_error(run_config, {"path": str(tmp_path / "*.csv"), **MESSAGES})


def test_empty_file_and_header_only(run_config, tmp_path):
    assert "is empty (0 bytes)" in run_expect_error(run_config, csv_input(tmp_path, b""))
    assert "no data rows" in run_expect_error(run_config, csv_input(tmp_path, "cid,who,text\n"))


def test_missing_mapped_column_names_key_and_columns(run_config, tmp_path):
    msg = run_expect_error(run_config, csv_input(tmp_path, "cid,speaker,text\nc1,customer,hi\n"))
    assert "chats.csv: column 'who' (inputs[0].columns.role) not found; the file has columns: cid, speaker, text" in msg


def test_non_utf8_bytes_name_line_and_fix(run_config, tmp_path):
    body = ("cid,who,text\n" + convs(2)).encode() + b"c9,customer,caf\xe9\n"
    msg = run_expect_error(run_config, csv_input(tmp_path, body))
    assert "line 6" in msg and "0xe9" in msg and "encoding" in msg
    result, _ = run_config({"inputs": [csv_input(tmp_path, body, csv={"encoding": "cp1252"})], "stages": STAGES})
    assert result.stats["rows"]["input"] == 5


def test_bom_crlf_nul_and_quoted_newlines(run_config, tmp_path):
    body = "\ufeffcid,who,text\r\nc1,customer,\"line one\r\nline two\"\r\nc1,agent,ok\x00 fine\r\n" + convs(10).replace("\n", "\r\n")
    result, out = run_config({"inputs": [csv_input(tmp_path, body.encode())], "stages": STAGES})
    first = json.loads((out / "train.jsonl").read_text().splitlines()[0])
    assert first["messages"][0]["content"] == "line one\r\nline two"  # kept as-is; the normalize stage owns line endings
    assert result.stats["rows"] == {"input": 22, "exported": 22, "rejected": 0}


def test_malformed_rows_are_rejected_with_line_numbers(run_config, tmp_path):
    body = "cid,who,text\n" + convs(12) + "c1,agent,too,many,fields\nc2,agent\n"
    result, out = run_config({"inputs": [csv_input(tmp_path, body)], "stages": STAGES})
    bad = [r for r in read_jsonl(out / "rejects.jsonl") if r["reason"] == "malformed_csv"]
    assert [r["source"]["rows"] for r in bad] == [[25], [26]]
    assert "line 26: 5 fields where the header has 3" in bad[0]["detail"]
    assert "line 27: 2 fields" in bad[1]["detail"]
    assert result.stats["rows"] == {"input": 26, "exported": 24, "rejected": 2}


def test_bad_integer_in_order_column_rejects_row(run_config, tmp_path):
    body = "cid,n,who,text\n" + "".join(f"c{i},1,customer,q{i}\nc{i},2,agent,a{i}\n" for i in range(12)) + "c0,abc,agent,x\n"
    inp = csv_input(tmp_path, body)
    inp["columns"] = {**inp["columns"], "order": "n"}
    _, out = run_config({"inputs": [inp], "stages": STAGES})
    rej = read_jsonl(out / "rejects.jsonl")
    assert rej[0]["reason"] == "invalid_integer" and "row 25, column 'n': 'abc' is not an integer" in rej[0]["detail"]


def test_huge_cell_rejected(run_config, tmp_path):
    body = "cid,who,text\n" + convs(12) + "c0,agent," + "x" * 5000 + "\n"
    _, out = run_config({"inputs": [csv_input(tmp_path, body, max_cell_chars=1000)], "stages": STAGES})
    rej = read_jsonl(out / "rejects.jsonl")
    assert rej[0]["reason"] == "cell_too_large" and "5,000 characters" in rej[0]["detail"]


def test_huge_cell_limit_counts_characters_not_bytes(run_config, tmp_path):
    """1,000 two-byte characters (2,000 bytes) are within max_cell_chars 1000; 1,001 are not."""
    body = "cid,who,text\n" + convs(12) + "c0,agent," + "é" * 1000 + "\nc1,agent," + "é" * 1001 + "\n"
    _, out = run_config({"inputs": [csv_input(tmp_path, body, max_cell_chars=1000)], "stages": STAGES})
    rej = [r for r in read_jsonl(out / "rejects.jsonl") if r["reason"] == "cell_too_large"]
    assert len(rej) == 1 and "1,001 characters" in rej[0]["detail"]


def test_jsonl_invalid_lines_and_json_array(run_config, tmp_path):
    lines = [json.dumps({"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]})
             for i in range(12)]
    p = tmp_path / "d.jsonl"
    p.write_text("\n".join(lines[:5] + ["{not json", "", "[1, 2]"] + lines[5:]) + "\n")
    result, out = run_config({"inputs": [{"path": str(p), "layout": "conversations"}], "stages": STAGES})
    rej = read_jsonl(out / "rejects.jsonl")
    assert [(r["reason"], r["source"]["rows"]) for r in rej] == [("invalid_json", [6]), ("invalid_json", [8])]
    assert result.stats["rows"] == {"input": 14, "exported": 12, "rejected": 2}
    j = tmp_path / "d.json"
    j.write_text("{broken")
    msg = run_expect_error(run_config, {"path": str(j), "layout": "conversations"})
    assert "d.json: invalid JSON at line 1" in msg


def test_parquet_wrong_type_and_unknown_extension(run_config, tmp_path):
    p = tmp_path / "p.parquet"
    pl.DataFrame({"cid": ["a"], "who": ["customer"], "text": [[1, 2]]}).write_parquet(p)
    assert "column 'text' (inputs[0].columns.content) holds" in run_expect_error(run_config, {"path": str(p), **MESSAGES})
    x = tmp_path / "data.xlsx"
    x.write_bytes(b"PK")
    assert "set inputs[0].format" in run_expect_error(run_config, {"path": str(x), **MESSAGES})


def test_parquet_numeric_columns_are_read_as_text(run_config, tmp_path):
    p = tmp_path / "p.parquet"
    pl.DataFrame({"cid": [i // 2 for i in range(24)], "who": ["customer", "agent"] * 12,
                  "text": [float(i) for i in range(24)]}).write_parquet(p)
    result, _ = run_config({"inputs": [{"path": str(p), **MESSAGES}], "stages": STAGES})
    assert result.stats["examples"]["train"] == 12


def test_cell_limit_reads_columns_named_like_polars_patterns(tmp_path):
    """A raw column may be called '*' or '^a$' (found by a property test on JSON keys): the limit check
    addresses columns by position, never by a name polars would read as a pattern."""
    import json as _json

    from pipeline.ingest import read_table
    from pipeline.ingest.sources import SourceFile
    from schemas.inputs import CsvOptions

    p = tmp_path / "odd.json"
    p.write_text(_json.dumps([{"*": None, "^a$": "x" * 30}, {"*": "y", "^a$": "z"}]))
    t = read_table(SourceFile(0, str(p), "json"), CsvOptions(), 10)
    assert t.frame.columns[:2] == ["*", "^a$"] and t.frame["__row"].to_list() == [2]
    assert [(r.row, r.reason) for r in t.rejects] == [(1, "cell_too_large")]
    assert "column '^a$': 30 characters" in t.rejects[0].detail


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json", "parquet"])
def test_columns_named_like_polars_patterns_read_in_every_format(tmp_path, fmt):
    """'*' and '^a$' are column names, not patterns, in every reader (found by the peek property test)."""
    import polars as pl

    from pipeline.ingest import read_table
    from pipeline.ingest.sources import SourceFile
    from schemas.inputs import CsvOptions

    frame = pl.DataFrame({"*": ["a", "b"], "^a$": ["c", "d"]})
    path = tmp_path / f"t.{fmt}"
    {"csv": frame.write_csv, "jsonl": frame.write_ndjson, "json": frame.write_json,
     "parquet": frame.write_parquet}[fmt](path)
    t = read_table(SourceFile(0, str(path), fmt), CsvOptions(), 10**6)
    assert t.frame.columns == ["*", "^a$", "__row"] and t.frame["*"].to_list() == ["a", "b"]
