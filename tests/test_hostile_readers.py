"""Hostile input to the readers: an unclosed CSV quote, binary data, huge headers, deeply nested JSON and
files that are not what their name says. Each case: a unit check, and an end-to-end run (the CLI in a
subprocess for a stopped run: exit 2, the message, no traceback)."""

from __future__ import annotations

import functools
import math
import subprocess
import sys

from hypothesis import given
from hypothesis import strategies as st

from pipeline.ingest.csv_reader import _read_csv_exact, read_csv
from pipeline.ingest.sources import SourceFile
from schemas.inputs import CsvOptions
from tests import ingest_files
from tests.conftest import read_jsonl
from tests.ingest_files import STAGES, assert_stops

cli = functools.partial(ingest_files.cli, timeout=120)

MESSAGES = {"layout": "messages", "columns": {"conversation_id": "cid", "role": "who", "content": "text"},
            "roles": {"customer": "user", "agent": "assistant"}}


def convs(n: int, start: int = 0) -> list[str]:
    return [line for i in range(start, start + n) for line in (f"c{i},customer,question {i}", f"c{i},agent,answer {i}")]


def write(tmp_path, name: str, body: str | bytes):
    p = tmp_path / name
    p.write_bytes(body.encode() if isinstance(body, str) else body)
    return p


def accounted(result) -> None:
    rows = result.stats["rows"]
    assert rows["input"] == rows["exported"] + rows["rejected"]


# ----------------------------------------------------------------------------- unclosed quote (point 1)

def unclosed_csv(n_convs: int, bad_line: str, at: int = 3) -> str:
    lines = ["cid,who,text", *convs(n_convs)]
    lines[at - 1] = bad_line  # physical line `at`
    return "\n".join(lines) + "\n"


def test_unclosed_quote_in_last_column_rejects_the_line_and_reads_on(tmp_path):
    p = write(tmp_path, "q.csv", unclosed_csv(1000, 'c0,customer,"never closed'))
    table = read_csv(SourceFile(0, str(p), "csv"), CsvOptions())
    assert table.n_rows == 2000 and table.frame.height == 1999
    (rej,) = table.rejects
    assert rej.reason == "unclosed_quote" and rej.row == 2
    assert "line 3" in rej.detail and "the end of the file" in rej.detail and "line 4" in rej.detail


def test_unclosed_quote_in_a_middle_column_and_the_exact_path_agree(tmp_path):
    p = write(tmp_path, "q.csv", unclosed_csv(50, 'c0,"customer,never closed'))
    for read in (read_csv, _read_csv_exact):
        table = read(SourceFile(0, str(p), "csv"), CsvOptions())
        assert table.n_rows == 100 and table.frame.height == 99
        assert [r.reason for r in table.rejects] == ["unclosed_quote"]


def test_quote_closed_by_a_stray_quote_later_loses_no_row(tmp_path):
    lines = ["cid,who,text", *convs(20)]
    lines[2] = 'c0,customer,"opens here'
    lines[30] = 'c14,customer,5" tall'  # a stray quote that "closes" it, followed by text
    p = write(tmp_path, "q.csv", "\n".join(lines) + "\n")
    table = read_csv(SourceFile(0, str(p), "csv"), CsvOptions())
    assert table.n_rows == table.frame.height + len(table.rejects) == 40
    assert table.rejects[0].reason == "unclosed_quote" and table.rejects[0].row == 2


def test_unclosed_quote_on_the_last_line(tmp_path):
    p = write(tmp_path, "q.csv", "\n".join(["cid,who,text", *convs(5), 'c9,agent,"open']) + "\n")
    table = read_csv(SourceFile(0, str(p), "csv"), CsvOptions())
    assert table.frame.height == 10 and [r.reason for r in table.rejects] == ["unclosed_quote"]


def test_long_quoted_multiline_cells_still_read(tmp_path):
    cell = "\n".join(f"code line {i}" for i in range(500))
    p = write(tmp_path, "q.csv", "\n".join(["cid,who,text", *convs(3), f'c9,customer,"{cell}"', "c9,agent,ok"]) + "\n")
    table = read_csv(SourceFile(0, str(p), "csv"), CsvOptions())
    assert table.frame.height == 8 and not table.rejects
    assert table.frame["text"][6] == cell


def test_unclosed_quote_end_to_end(run_config, tmp_path):
    p = write(tmp_path, "q.csv", unclosed_csv(1000, 'c0,customer,"never closed'))
    result, out = run_config({"inputs": [{"path": str(p), **MESSAGES}], "stages": STAGES})
    accounted(result)
    assert result.stats["rows"]["input"] == 2000
    rej = [r for r in read_jsonl(out / "rejects.jsonl") if r["reason"] == "unclosed_quote"]
    assert len(rej) == 1 and rej[0]["source"]["rows"] == [2]
    assert result.stats["rows"]["exported"] == 1998  # c0 lost its question: no_user_message for its answer


# ----------------------------------------------------------------------------- a huge header (point 8)

def test_duplicate_header_check_is_linear(tmp_path):
    import time

    header = ",".join(f"h{i}" for i in range(100_000)) + ",h7,h9"
    p = write(tmp_path, "wide.csv", header + "\n" + ",".join("x" * 100_002) + "\n")
    start = time.perf_counter()
    proc = cli(tmp_path, {"path": str(p), **MESSAGES})
    assert_stops(proc, "wide.csv", "duplicate column names: h7, h9")
    assert time.perf_counter() - start < 30


# ----------------------------------------------------------------------------- binary data (points 7, 10)

def test_binary_data_stops_before_parsing(tmp_path):
    from pipeline.errors import UserError
    from pipeline.ingest.binary_sniff import check_text_data

    nul = write(tmp_path, "nul.csv", b"\x00" * (3 << 20))
    try:
        check_text_data(SourceFile(0, str(nul), "csv"), "utf-8")
        raise AssertionError("no error")
    except UserError as e:
        assert "binary data, not csv text: 1,048,576 NUL bytes in its first 1,048,576 bytes" in str(e)
    check_text_data(SourceFile(0, str(nul), "csv"), "utf-16")  # UTF-16 holds NULs: the decoder judges
    one_nul = write(tmp_path, "ok.csv", "cid,who,text\nc1,customer,ok\x00 fine\n" + "\n".join(convs(20)))
    check_text_data(SourceFile(0, str(one_nul), "csv"), "utf-8")
    check_text_data(SourceFile(0, str(write(tmp_path, "tiny.csv", b"\x00" * 100)), "csv"), "utf-8")  # rows judge it
    controls = write(tmp_path, "ctl.jsonl", b"\x01\x02\x03 " * 4096)
    try:
        check_text_data(SourceFile(0, str(controls), "jsonl"), "utf-8")
        raise AssertionError("no error")
    except UserError as e:
        assert "binary data, not jsonl text: 12,288 control bytes" in str(e)


def test_nul_filled_csv_end_to_end_memory_bounded(tmp_path):
    p = tmp_path / "big.csv"
    with open(p, "wb") as f:
        f.write(b"cid,who,text\n")
        f.writelines(b"\x00" * (1 << 20) for _ in range(200))  # 200 MiB of NULs
    assert_stops(cli(tmp_path, {"path": str(p), **MESSAGES}), "big.csv", "binary data, not csv text", "NUL bytes")
    # the run's peak memory, measured in a process of its own (KiB): far below the 200 MiB × 11 it used to take
    probe = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], capture_output=True); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    peak = subprocess.run([sys.executable, "-c", probe, sys.executable, "-m", "pipeline", "prepare", "--config",
                           str(tmp_path / "run.yaml"), "--out", str(tmp_path / "o")],
                          check=True, capture_output=True, text=True, timeout=120)
    assert int(peak.stdout) < 600_000


def test_parquet_named_csv_says_parquet(tmp_path):
    import polars as pl

    p = tmp_path / "chats.csv"
    pl.DataFrame({"cid": ["c1"], "who": ["customer"], "text": ["hi"]}).write_parquet(p)
    assert_stops(cli(tmp_path, {"path": str(p), **MESSAGES}), "chats.csv", "Parquet", "format: parquet")


def test_utf16_text_says_set_the_encoding(tmp_path):
    p = write(tmp_path, "wide.csv", "cid,who,text\nc1,customer,hi\n".encode("utf-16"))
    assert_stops(cli(tmp_path, {"path": str(p), **MESSAGES}), "wide.csv", "UTF-16", "csv.encoding: utf-16")


# ----------------------------------------------------------------------------- deeply nested JSON (point 4)

DEEP = "[" * 100_000


def test_deep_json_parses_to_a_clear_error():
    from pipeline.convert.conversation_cells import parse_cell
    from pipeline.ingest.json_text import TooDeeplyNested, loads

    try:
        loads(DEEP)
        raise AssertionError("no error")
    except TooDeeplyNested as e:
        assert "nested too deeply" in str(e)
    assert parse_cell(DEEP, "row 3, column 'm'")[1][0] == "too_deeply_nested"


def test_deep_jsonl_line_is_rejected_end_to_end(run_config, tmp_path):
    import json

    lines = [json.dumps({"cid": f"c{i // 2}", "who": "customer" if i % 2 == 0 else "agent", "text": f"t{i}"})
             for i in range(20)]
    lines.insert(4, DEEP)
    p = write(tmp_path, "deep.jsonl", "\n".join(lines) + "\n")
    result, out = run_config({"inputs": [{"path": str(p), **MESSAGES}], "stages": STAGES})
    accounted(result)
    (rej,) = [r for r in read_jsonl(out / "rejects.jsonl") if r["reason"] == "too_deeply_nested"]
    assert rej["source"]["rows"] == [5] and "line 5" in rej["detail"]
    assert result.stats["rows"]["input"] == 21


def test_deep_json_cell_is_rejected_end_to_end(run_config, tmp_path):
    good = '"[{""role"": ""user"", ""content"": ""hi""}, {""role"": ""assistant"", ""content"": ""yo""}]"'
    p = write(tmp_path, "deep.csv", "id,messages\n" + "".join(f"{i},{good}\n" for i in range(10)) + f"10,{DEEP}\n")
    inp = {"path": str(p), "layout": "conversations", "columns": {"id": "id", "messages": "messages"}}
    result, out = run_config({"inputs": [inp], "stages": STAGES})
    accounted(result)
    assert result.stats["rows"] == {"input": 11, "exported": 10, "rejected": 1}
    (rej,) = read_jsonl(out / "rejects.jsonl")
    assert rej["reason"] == "too_deeply_nested" and "row 11" in rej["detail"]


def test_deep_json_file_stops(tmp_path):
    p = write(tmp_path, "deep.json", DEEP)
    assert_stops(cli(tmp_path, {"path": str(p), **MESSAGES}), "deep.json", "nested too deeply")


# ----------------------------------------------------------------------------- files that are not what they seem (point 10)

def test_all_invalid_jsonl_says_no_line_is_json(tmp_path):
    p = write(tmp_path, "bad.jsonl", "cid,who,text\nc1,customer,hi\nc1,agent,yo\n")
    assert_stops(cli(tmp_path, {"path": str(p), **MESSAGES}), "bad.jsonl", "none of its 3 lines is a JSON object",
                 "line 1: invalid JSON", "format: csv")


def test_symlink_loop_and_dangling_link(tmp_path):
    (tmp_path / "a.csv").symlink_to(tmp_path / "b.csv")
    (tmp_path / "b.csv").symlink_to(tmp_path / "a.csv")
    assert_stops(cli(tmp_path, {"path": str(tmp_path / "a.csv"), **MESSAGES}), "a.csv", "loop of symbolic links")
    (tmp_path / "c.csv").symlink_to(tmp_path / "gone.csv")
    assert_stops(cli(tmp_path, {"path": str(tmp_path / "c.csv"), **MESSAGES}), "c.csv", "gone.csv, which does not exist")


def test_fifo_is_not_a_regular_file(tmp_path):
    import os

    os.mkfifo(tmp_path / "pipe.csv")
    assert_stops(cli(tmp_path, {"path": str(tmp_path / "pipe.csv"), **MESSAGES}), "pipe.csv",
                 "named pipe (FIFO), not a regular file")


def test_bad_byte_in_the_header_names_its_line(tmp_path):
    p = write(tmp_path, "h.csv", b"cid,who,te\xe9xt\n" + "\n".join(convs(5)).encode() + b"\n")
    assert_stops(cli(tmp_path, {"path": str(p), **MESSAGES}), "h.csv", "line 1: byte 0xe9", "csv.encoding")


# ----------------------------------------------------------------------------- turn numbers (point 11)

TURNS = {**MESSAGES, "columns": {**MESSAGES["columns"], "order": "n"}}


def test_int_of_text_accepts_integral_floats_only():
    import polars as pl

    from schemas.raw_tables import int_of_text

    s = pl.Series("n", ["0", " 2 ", "1.0", "3.00", "1.5", "abc", None, "inf", "nan", "9007199254740993"])
    assert pl.select(int_of_text(pl.lit(s))).to_series().to_list() == [0, 2, 1, 3, None, None, None, None, None,
                                                                       9007199254740993]


@given(st.integers(-(2**53), 2**53), st.floats(allow_nan=True, allow_infinity=True))
def test_int_of_text_property(k, x):
    import polars as pl

    from schemas.raw_tables import int_of_text

    texts = [str(k), f"{k}.0", f" {k} ", repr(x)]
    got = pl.select(int_of_text(pl.lit(pl.Series(texts)))).to_series().to_list()
    assert got[:3] == [k, k, k]
    assert got[3] == (int(x) if math.isfinite(x) and x == int(x) and abs(x) < 2**63 else None)


def test_float_turn_numbers_end_to_end(run_config, tmp_path):
    body = "cid,n,who,text\n" + "".join(f"c{i},1.0,agent,a{i}\nc{i},0.0,customer,q{i}\n" for i in range(12))
    body += "c0,1.5,agent,half\n"
    p = write(tmp_path, "f.csv", body)
    result, out = run_config({"inputs": [{"path": str(p), **TURNS}], "stages": STAGES})
    accounted(result)
    first = read_jsonl(out / "train.jsonl")[0]
    assert [m["role"] for m in first["messages"]] == ["user", "assistant"]
    (rej,) = read_jsonl(out / "rejects.jsonl")
    assert rej["reason"] == "invalid_integer" and rej["source"]["rows"] == [25]


def test_float_turn_numbers_from_parquet(run_config, tmp_path):
    import polars as pl

    p = tmp_path / "f.parquet"
    pl.DataFrame({"cid": [f"c{i // 2}" for i in range(24)], "n": [float(1 - i % 2) for i in range(24)],
                  "who": ["agent" if i % 2 == 0 else "customer" for i in range(24)],
                  "text": [f"t{i}" for i in range(24)]}).write_parquet(p)
    result, out = run_config({"inputs": [{"path": str(p), **TURNS}], "stages": STAGES})
    accounted(result)
    assert result.stats["rows"] == {"input": 24, "exported": 24, "rejected": 0}
    assert read_jsonl(out / "train.jsonl")[0]["messages"][0] == {"role": "user", "content": "t1"}


def test_duplicate_turn_numbers_are_counted(run_config, tmp_path):
    body = "cid,n,who,text\n" + "".join(f"c{i},1,customer,q{i}\nc{i},2,agent,a{i}\n" for i in range(12))
    body += "c0,2,agent,again\nc1,2.0,agent,again\n"
    p = write(tmp_path, "d.csv", body)
    result, _ = run_config({"inputs": [{"path": str(p), **TURNS}], "stages": STAGES})
    accounted(result)
    assert "duplicate_turn_number" in str(result.stats)
    assert _find_count(result.stats, "duplicate_turn_number") == 2


def _find_count(tree, key):
    if isinstance(tree, dict):
        if key in tree and isinstance(tree[key], int):
            return tree[key]
        return next((v for v in (_find_count(t, key) for t in tree.values()) if v is not None), None)
    if isinstance(tree, list):
        return next((v for v in (_find_count(t, key) for t in tree) if v is not None), None)
    return None


def test_recipe_messages_float_turns(run_config, tmp_path):
    from tests.recipes import recipe_config

    lines = ["ticket,turn,speaker,text"]
    for i in range(12):
        lines += [f"t{i},1.0,agent,answer {i}", f"t{i},0.0,customer,question {i}"]
    lines[5] = 't1,"0.0,customer,never closed'
    lines.append("t0,1.0,agent,again")
    p = write(tmp_path, "chats.csv", "\n".join(lines) + "\n")
    result, out = run_config(recipe_config("messages-float-turns", p))
    accounted(result)
    assert _find_count(result.stats, "duplicate_turn_number") == 1
    assert {r["reason"] for r in read_jsonl(out / "rejects.jsonl")} >= {"unclosed_quote"}
    assert result.stats["rows"]["input"] == 25


def test_unclosed_quote_in_a_real_export(realdata, tmp_path):
    """A real message export (rewritten by the test, never copied into the repo) with one line's quote
    left open: that line is rejected and every other record is read, on the path the run takes."""
    import csv
    import io

    with open(realdata / "agentune-insurance-calls" / "messages.csv", newline="", encoding="utf-8") as f:
        records = list(csv.reader(f))
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(records)
    lines = buf.getvalue().split("\n")
    at = next(i for i in range(len(lines) // 3, len(lines)) if '"' not in lines[i] and "," in lines[i])
    head, last = lines[at].rsplit(",", 1)
    lines[at] = f'{head},"{last}'
    p = write(tmp_path, "messages.csv", "\n".join(lines))
    table = read_csv(SourceFile(0, str(p), "csv"), CsvOptions())
    assert table.n_rows == len(records) - 1 and table.frame.height == len(records) - 2
    assert [(r.reason, r.row) for r in table.rejects] == [("unclosed_quote", at)]


def test_non_utf8_csv_in_every_container_stops_cleanly(tmp_path):
    import gzip
    import lzma
    import zipfile

    body = ("cid,who,text\n" + "\n".join(convs(3000)) + "\n").encode() + b"c9,agent,caf\xe9\n"
    (tmp_path / "l.csv.gz").write_bytes(gzip.compress(body))
    (tmp_path / "l.csv.xz").write_bytes(lzma.compress(body))
    with zipfile.ZipFile(tmp_path / "l.zip", "w") as z:
        z.writestr("l.csv", body)
    for name in ("l.csv.gz", "l.csv.xz", "l.zip"):
        assert_stops(cli(tmp_path, {"path": str(tmp_path / name), **MESSAGES}), name, "line 6002: byte 0xe9")
