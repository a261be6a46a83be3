"""Bounded memory on binary or garbage input (issue 14, items 7 and 10): binary data after the first MiB
stops the read where it begins (CSV on both paths, JSONL, JSON, compressed), a JSON document is decoded
record by record, and pyarrow prints nothing for a non-UTF-8 CSV. Fast unit and CLI checks here; the
peak-memory checks on files of ~250 MB are marked slow."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.errors import UserError
from pipeline.ingest import csv_reader, raw_table, read_table
from pipeline.ingest.binary_guard import WINDOW_BYTES, BinaryGuard
from pipeline.ingest.csv_reader import _read_csv_exact, read_csv
from pipeline.ingest.json_stream import JsonStream
from pipeline.ingest.sources import SourceFile
from schemas.inputs import CsvOptions
from tests.ingest_files import MESSAGES, STAGES, assert_stops, cli, messages_csv, write_compressed

CLEAN = messages_csv(30_000).encode()  # ~1.2 MB of text, more than the first MiB the head sniff judges
CLEAN_LINES = CLEAN.count(b"\n")


def read(path: Path, fmt: str, **options):
    return read_table(SourceFile(0, str(path), fmt), CsvOptions(**options), 2_000_000)


def stop_message(path: Path, fmt: str, **options) -> str:
    with pytest.raises(UserError) as e:
        read(path, fmt, **options)
    return str(e.value)


# ----------------------------------------------------------------------------- the guard on its own


@pytest.mark.parametrize("garbage", [b"\x00" * 70_000, bytes(range(1, 9)) * 9_000])
@pytest.mark.parametrize("clean_bytes", [5_000, WINDOW_BYTES - 10, WINDOW_BYTES + 123_457, 3 * WINDOW_BYTES])
def test_guard_names_where_binary_data_begins(clean_bytes, garbage):
    text = (b"x" * 99 + b"\n") * (clean_bytes // 100) + b"y" * (clean_bytes % 100)
    guard = BinaryGuard(io.BytesIO(text + garbage + b"more text\n" * 1000), SourceFile(0, "f.csv", "csv"))
    with pytest.raises(UserError) as e:
        while guard.read(8192):  # as a TextIOWrapper reads
            pass
    msg, line = str(e.value), text.count(b"\n") + 1
    assert f"from byte offset {clean_bytes:,} (line {line:,})" in msg, msg
    assert "NUL bytes" in msg if garbage[0] == 0 else "control bytes" in msg


def test_guard_passes_text_with_stray_control_bytes():
    """Shares under the rule (NULs 0.5 %, control bytes 1.5 %) in every window: text, read through."""
    text = b"".join(b"line %06d \x00 and \x01\x02 " % i + b"x" * 178 + b"\n" for i in range(20_000))
    guard = BinaryGuard(io.BytesIO(text), SourceFile(0, "f.csv", "csv"))
    assert b"".join(iter(lambda: guard.read(65536), b"")) == text


# ----------------------------------------------------------------------------- every reader stops


def late_nuls(tmp_path: Path, name: str, top: bytes, nul_rows: bool = False) -> Path:
    """`top` (text, over a MiB), then 3 MiB of NULs: one long line, or rows Arrow can parse."""
    garbage = b"c1,customer," + b"\x00" * 3000 + b"\n" if nul_rows else b"\x00" * 3000
    p = tmp_path / name
    p.write_bytes(top + garbage * 1000)
    return p


@pytest.mark.parametrize("nul_rows", [False, True], ids=["one-long-line", "rows-arrow-parses"])
def test_csv_stops_at_binary_data_after_the_first_mib(tmp_path, nul_rows):
    p = late_nuls(tmp_path, "late.csv", CLEAN, nul_rows)
    first_nul = len(CLEAN) + (len(b"c1,customer,") if nul_rows else 0)
    for options in ({}, {"encoding": "latin-1"}):  # the Arrow path (after a scan) and the exact path
        msg = stop_message(p, "csv", **options)
        assert f"late.csv: binary data, not csv text, from byte offset {first_nul:,} (line {CLEAN_LINES + 1:,})" in msg
        assert f"head -n {CLEAN_LINES} FILE > fixed.csv" in msg


def test_binary_data_stops_a_run_with_exit_2(tmp_path):
    p = late_nuls(tmp_path, "late.csv", CLEAN)
    assert_stops(cli(tmp_path, {"path": str(p), **MESSAGES}), "late.csv", f"from byte offset {len(CLEAN):,}",
                 f"(line {CLEAN_LINES + 1:,})", "export it again")


def test_jsonl_and_json_stop_at_binary_data(tmp_path):
    rows = [json.dumps({"cid": f"c{i}", "who": "customer", "text": f"question {i}"}) for i in range(30_000)]
    jsonl = ("\n".join(rows) + "\n").encode()
    msg = stop_message(late_nuls(tmp_path, "late.jsonl", jsonl), "jsonl")
    assert f"binary data, not jsonl text, from byte offset {len(jsonl):,} (line {len(rows) + 1:,})" in msg
    doc = ("[" + ",\n".join(rows) + ",\n").encode()
    msg = stop_message(late_nuls(tmp_path, "late.json", doc), "json")
    assert f"binary data, not json text, from byte offset {len(doc):,} (line {len(rows) + 1:,})" in msg
    assert "export it again" in msg and "head -n" not in msg  # cutting a JSON document breaks it


def test_binary_data_in_a_compressed_file_is_placed_in_the_decompressed_data(tmp_path):
    p = write_compressed(tmp_path, "late.csv", CLEAN + b"\x00" * (2 << 20), "gzip")
    msg = stop_message(p, "csv")
    assert f"from byte offset {len(CLEAN):,} in the decompressed data (line {CLEAN_LINES + 1:,})" in msg


def test_random_bytes_after_text_are_binary_not_another_encoding(tmp_path):
    """Random bytes are not valid UTF-8 either: the message says binary data, not 'set csv.encoding'."""
    p = tmp_path / "rand.csv"
    p.write_bytes(CLEAN + os.urandom(3 << 20))
    msg = stop_message(p, "csv")
    assert "binary data, not csv text, from byte offset" in msg and "csv.encoding (e.g. cp1252" not in msg
    offset = int(re.search(r"from byte offset ([\d,]+)", msg).group(1).replace(",", ""))
    assert len(CLEAN) <= offset < len(CLEAN) + 8192  # within the first blocks of random bytes
    latin = tmp_path / "latin.csv"  # text in another encoding still gets the encoding's fix
    latin.write_bytes(CLEAN + "c9,agent,café\n".encode("latin-1") * 50_000)
    assert f"line {CLEAN_LINES + 1}: byte 0xe9" in stop_message(latin, "csv")


def test_stray_nul_bytes_in_a_large_file_still_read(tmp_path):
    body = messages_csv(60_000).replace("question 7\n", "question\x00 7\n").replace("answer 12\n", "answer\x01 12\n")
    p = tmp_path / "stray.csv"
    p.write_text(body)
    for options in ({}, {"encoding": "latin-1"}):  # the Arrow path (which scans the file) and the exact path
        table = read(p, "csv", **options)
        assert table.frame.height == 120_000 and not table.rejects
        assert table.frame["text"].to_list()[14:16] == ["question\x00 7", "answer 7"]
        assert table.frame["text"][25] == "answer\x01 12"


# ----------------------------------------------------------------------------- pyarrow's noise (item 10)


def test_non_utf8_row_arrow_cannot_parse_prints_nothing(tmp_path, capfd):
    """pyarrow decodes an invalid row as strict UTF-8 before calling an invalid-row handler and printed
    'Exception ignored ... Traceback' for a non-UTF-8 one; the fast path uses no handler now."""
    body = messages_csv(20).encode() + b"c1,caf\xe9,too,many\n" + messages_csv(5).encode()
    p = tmp_path / "latin.csv"
    p.write_bytes(body)
    msg = stop_message(p, "csv")
    err = capfd.readouterr().err
    assert "Exception ignored" not in err and "Traceback" not in err, err
    assert "line 42: byte 0xe9" in msg
    assert_stops(cli(tmp_path, {"path": str(p), **MESSAGES}), "latin.csv", "line 42: byte 0xe9", "csv.encoding")


# ----------------------------------------------------------------------------- JSON read record by record


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
                           max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(st.lists(json_values, max_size=6), st.sampled_from([None, 0, 2]), st.integers(1, 40))
def test_json_stream_decodes_what_json_loads_does(values, indent, read_chars):
    text = json.dumps(values, indent=indent)
    doc = JsonStream(io.StringIO(text), read_chars=read_chars)
    assert [v for batch in doc.array_batches() for v in batch] == values
    doc.end()
    assert JsonStream(io.StringIO(text), read_chars=read_chars).value() == values


@settings(max_examples=300, deadline=None)
@given(st.lists(json_values, min_size=1, max_size=6), st.sampled_from([None, 2]), st.integers(1, 40),
       st.data())
def test_json_stream_errors_where_json_loads_does(values, indent, read_chars, data):
    text = json.dumps(values, indent=indent)
    at = data.draw(st.integers(0, len(text)))
    bad = text[:at] + data.draw(st.sampled_from(["", ",", "]", "}", "x", '"', ":"])) + text[at + 1:]
    try:
        json.loads(bad)
        return  # still valid JSON
    except json.JSONDecodeError as e:
        expected = (e.msg, e.lineno, e.colno)
    doc = JsonStream(io.StringIO(bad), read_chars=read_chars)
    with pytest.raises(json.JSONDecodeError) as got:
        doc.value()
        doc.end()
    assert (got.value.msg, got.value.lineno, got.value.colno) == expected


def test_duplicate_keys_of_keyed_records_are_rejected_not_lost(tmp_path):
    p = tmp_path / "k.json"
    p.write_text('{"a": {"t": "1"}, "b": {"t": "2"}, "a": {"t": "3"}}')
    table = read_table(SourceFile(0, str(p), "json", key_column="id"), CsvOptions(), 100)
    assert table.frame.to_dicts() == [{"id": "a", "t": "1", "__row": 1}, {"id": "b", "t": "2", "__row": 2}]
    assert [(r.row, r.reason) for r in table.rejects] == [(3, "duplicate_key")] and table.n_rows == 3
    assert "record 3 (key 'a'): the key of record 1 again" in table.rejects[0].detail


def test_json_records_in_batches_keep_column_order_and_rows(tmp_path, monkeypatch):
    from pipeline.ingest import json_reader, json_stream

    monkeypatch.setattr(json_reader, "BATCH_RECORDS", 3)
    monkeypatch.setattr(json_stream, "READ_CHARS", 64)  # many short reads: records cut by the end of the text
    records = [{"a": str(i)} if i % 4 != 3 else {"b": "x" * i, "a": str(i), "*": None} for i in range(30)]
    p = tmp_path / "b.json"
    p.write_text(json.dumps([*records[:15], 7, *records[15:]], indent=1))
    table = read(p, "json")
    assert table.frame.columns == ["a", "b", "*", "__row"] and table.n_rows == 31
    assert table.frame["__row"].to_list() == [*range(1, 16), *range(17, 32)]
    assert table.frame.drop("__row").to_dicts() == [{"b": None, "*": None, **r} for r in records]
    assert [(r.row, r.reason) for r in table.rejects] == [(16, "invalid_record")]


# ----------------------------------------------------------------------------- records over the limit


def test_a_line_over_the_record_limit_is_rejected_unread(tmp_path, monkeypatch):
    monkeypatch.setattr(raw_table, "RECORD_CHARS_FLOOR", 10_000)
    lines = messages_csv(50).splitlines()
    lines[4:4] = ["c9,customer," + "A" * 50_000, "c9,too,many,fields"]
    p = tmp_path / "long.csv"
    p.write_text("\n".join(lines) + "\n")
    for options in ({}, {"encoding": "latin-1"}):
        table = read_csv(SourceFile(0, str(p), "csv"), CsvOptions(**options))
        assert table.n_rows == 102 and table.frame.height == 100
        assert [(r.row, r.reason) for r in table.rejects] == [(4, "record_too_large"), (5, "malformed_csv")]
        assert "line 5: over 10,000 characters without a line break" in table.rejects[0].detail
        assert table.rejects[1].detail.startswith("line 6: 4 fields")
        assert table.frame["text"][4] == "question 2"
    jsonl = tmp_path / "long.jsonl"
    rows = [json.dumps({"t": "x" * n}) for n in (5, 40_000, 7)]
    jsonl.write_text("\n".join(rows) + "\n")
    table = read_table(SourceFile(0, str(jsonl), "jsonl"), CsvOptions(), 1_000)  # limit: max(10,000, 8 × 1,000)
    assert table.frame["t"].to_list() == ["x" * 5, "x" * 7] and table.frame["__row"].to_list() == [1, 3]
    assert [(r.row, r.reason) for r in table.rejects] == [(2, "record_too_large")]


def test_a_json_record_over_the_limit_stops_naming_its_line(tmp_path, monkeypatch):
    from pipeline.ingest import json_stream

    monkeypatch.setattr(raw_table, "RECORD_CHARS_FLOOR", 10_000)
    monkeypatch.setattr(json_stream, "READ_CHARS", 1_000)  # the limit holds for values read on past a read
    p = tmp_path / "long.json"
    p.write_text(json.dumps([{"t": "short"}, {"t": "x" * 50_000}], indent=1))
    with pytest.raises(UserError) as e:
        read_table(SourceFile(0, str(p), "json"), CsvOptions(), 1_000)
    msg = str(e.value)
    assert "long.json: the value at line 5, column 2 runs over 10,000 characters; not read" in msg
    deep = tmp_path / "deep.json"  # skipped on the way to json.path, element by element: no RecursionError
    deep.write_text('{"other": [' + "[" * 100_000 + "]" * 100_000 + '], "data": [{"t": "a"}]}')
    with pytest.raises(UserError, match="nested too deeply"):
        read_table(SourceFile(0, str(deep), "json", json_path=("data",)), CsvOptions(), 100)


def test_a_quote_open_over_the_record_limit_resyncs_as_before(tmp_path, monkeypatch):
    lines = messages_csv(1000).splitlines()
    lines[2] = 'c0,customer,"never closed'
    p = tmp_path / "q.csv"
    p.write_text("\n".join(lines) + "\n")
    whole = _read_csv_exact(SourceFile(0, str(p), "csv"), CsvOptions())
    monkeypatch.setattr(csv_reader, "EXACT_BATCH_ROWS", 7)
    capped = _read_csv_exact(SourceFile(0, str(p), "csv"), CsvOptions(), max_chars=2_000)
    assert capped.frame.equals(whole.frame) and capped.n_rows == whole.n_rows == 2000
    assert [(r.row, r.reason) for r in capped.rejects] == [(r.row, r.reason) for r in whole.rejects] == [
        (2, "unclosed_quote")]
    assert "over 2,000 characters" in capped.rejects[0].detail


# ----------------------------------------------------------------------------- peak memory (slow)

PEAK_PROBE = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
              "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); print(r.returncode); "
              "print(r.stdout + r.stderr)")
READ_TABLE = ("import sys; from pipeline.ingest import read_table; from pipeline.ingest.sources import SourceFile; "
              "from schemas.inputs import CsvOptions; "
              "t = read_table(SourceFile(0, sys.argv[1], sys.argv[2]), CsvOptions(), 2_000_000); "
              "print(t.frame.height, len(t.rejects))")


def peak_kib(*command: str) -> tuple[int, int, str]:
    """(peak resident KiB, exit code, output) of `command` run in a process of its own."""
    out = subprocess.run([sys.executable, "-c", PEAK_PROBE, *command], check=True, capture_output=True,
                         text=True, timeout=600).stdout
    peak, code, text = out.split("\n", 2)
    return int(peak), int(code), text


@pytest.mark.slow
@pytest.mark.parametrize(("nul_rows", "mib"), [(False, 250), (True, 1000)], ids=["one-long-line", "rows-arrow-parses"])
def test_csv_binary_after_the_first_mib_stops_in_bounded_memory(tmp_path, nul_rows, mib):
    """250 MiB of NULs on one line took ~7x the file (1.9 GB) and read on; 1,000 MiB of NUL rows that Arrow
    parses: Arrow read up to 32 of its 64 MiB blocks ahead while the first batch was judged (~1.1 GB). Now
    the run stops within a few MiB of the binary data, holding at most 32 blocks of 8 MiB read ahead
    (256 MiB) plus the interpreter, the libraries and a batch (~300 MB), whatever the file's size: under
    800 MB (it measures ~350-500 MB, a 2 GB file too)."""
    p = tmp_path / "late.csv"
    garbage = (b"c1,customer," + b"\x00" * 1000 + b"\n") * 1000 if nul_rows else b"\x00" * (1 << 20)
    with open(p, "wb") as f:
        f.write(CLEAN)
        f.writelines(garbage for _ in range(mib))
    cfg = tmp_path / "run.yaml"
    cfg.write_text(yaml.safe_dump({"inputs": [{"path": str(p), **MESSAGES}], "stages": STAGES,
                                   "cache": {"dir": str(tmp_path / ".c")}}))
    peak, code, out = peak_kib(sys.executable, "-m", "pipeline", "prepare", "--config", str(cfg), "--out",
                               str(tmp_path / "o"))
    assert code == 2 and "Traceback" not in out and f"(line {CLEAN_LINES + 1:,})" in out, out
    assert peak < 800_000, f"peak {peak:,} KiB"


@pytest.mark.slow
def test_300_mb_json_array_is_read_in_bounded_memory(tmp_path):
    """A JSON array of 3.2 million small records: the old reader held the text, every record as a dict and
    the table at once (1.97 GB). Now: the table (polars columns ≈ the text, ~300 MB), one batch of records
    and a MiB of text, plus the libraries: under 1 GB (it measures ~460 MB)."""
    p = tmp_path / "big.json"
    n = 0
    with open(p, "w") as f:
        f.write("[\n")
        for i in range(1_600_000):
            for who, text in (("customer", f"question {i} lorem ipsum dolor sit amet, consectetur"),
                              ("agent", f"answer {i} sed do eiusmod tempor incididunt ut labore")):
                f.write(("," if n else "") + json.dumps({"cid": f"c{i}", "who": who, "text": text}) + "\n")
                n += 1
        f.write("]\n")
    assert p.stat().st_size > 300_000_000
    peak, code, out = peak_kib(sys.executable, "-c", READ_TABLE, str(p), "json")
    assert code == 0 and out.split()[:2] == [str(n), "0"], out
    assert peak < 1_000_000, f"peak {peak:,} KiB"


@pytest.mark.slow
def test_a_250_mb_line_of_text_is_skipped_in_bounded_memory(tmp_path):
    """250 MiB of letters with no line break after the first MiB: read whole into one record it took 1.7 GB
    (the line, the csv module's 4-byte-per-character field, the record). Now it is read 16 Mi characters
    at a time and rejected as record_too_large: under 800 MB (it measures ~270 MB) and the run goes on."""
    p = tmp_path / "long.csv"
    with open(p, "wb") as f:
        f.write(CLEAN)
        f.writelines(b"A" * (1 << 20) for _ in range(250))
    peak, code, out = peak_kib(sys.executable, "-c", READ_TABLE, str(p), "csv")
    assert code == 0 and out.split()[:2] == [str(CLEAN_LINES - 1), "1"], out
    assert peak < 800_000, f"peak {peak:,} KiB"
