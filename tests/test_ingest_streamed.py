"""Bounded memory on binary or garbage input (issue 14, items 7 and 10): binary data after the first MiB
stops the read where it begins (CSV on both paths, JSONL, JSON, compressed), and pyarrow prints nothing
for a non-UTF-8 CSV. Fast unit and CLI checks here; the
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

from pipeline.errors import UserError
from pipeline.ingest import read_table
from pipeline.ingest.binary_guard import WINDOW_BYTES, BinaryGuard
from pipeline.ingest.sources import SourceFile
from schemas.inputs import CsvOptions
from tests.ingest_files import MESSAGES, STAGES, messages_csv, write_compressed

CLEAN = messages_csv(30_000).encode()  # ~1.2 MB of text, more than the first MiB the head sniff judges
CLEAN_LINES = CLEAN.count(b"\n")


def cli(tmp_path: Path, inp: dict) -> subprocess.CompletedProcess:
    cfg = tmp_path / "run.yaml"
    cfg.write_text(yaml.safe_dump({"inputs": [inp], "stages": STAGES, "cache": {"dir": str(tmp_path / ".c")}}))
    return subprocess.run([sys.executable, "-m", "pipeline", "prepare", "--config", str(cfg), "--out",
                           str(tmp_path / "o")], check=False, capture_output=True, text=True, timeout=300)


def assert_stops(proc: subprocess.CompletedProcess, *words: str) -> str:
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out
    assert "Traceback" not in out and "Exception ignored" not in out, out
    for w in words:
        assert w in out, out
    return out


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


# ----------------------------------------------------------------------------- peak memory (slow)

PEAK_PROBE = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
              "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); print(r.returncode); "
              "print(r.stdout + r.stderr)")


def peak_kib(*command: str) -> tuple[int, int, str]:
    """(peak resident KiB, exit code, output) of `command` run in a process of its own."""
    out = subprocess.run([sys.executable, "-c", PEAK_PROBE, *command], check=True, capture_output=True,
                         text=True, timeout=600).stdout
    peak, code, text = out.split("\n", 2)
    return int(peak), int(code), text


@pytest.mark.slow
@pytest.mark.parametrize("nul_rows", [False, True], ids=["one-long-line", "rows-arrow-parses"])
def test_250_mb_csv_binary_after_the_first_mib_stops_in_bounded_memory(tmp_path, nul_rows):
    """It took ~7x the file (1.9 GB for these 250 MB) and read on. Now the run stops within a few MiB of the
    binary data; what it holds is Arrow's 64 MiB blocks in flight and the libraries, whatever the file's
    size: 1 GB is under half of what the old reader took and about twice what this one takes."""
    p = tmp_path / "late.csv"
    garbage = (b"c1,customer," + b"\x00" * 1000 + b"\n") * 1000 if nul_rows else b"\x00" * (1 << 20)
    with open(p, "wb") as f:
        f.write(CLEAN)
        f.writelines(garbage for _ in range(250))
    cfg = tmp_path / "run.yaml"
    cfg.write_text(yaml.safe_dump({"inputs": [{"path": str(p), **MESSAGES}], "stages": STAGES,
                                   "cache": {"dir": str(tmp_path / ".c")}}))
    peak, code, out = peak_kib(sys.executable, "-m", "pipeline", "prepare", "--config", str(cfg), "--out",
                               str(tmp_path / "o"))
    assert code == 2 and "Traceback" not in out and f"(line {CLEAN_LINES + 1:,})" in out, out
    assert peak < 1_000_000, f"peak {peak:,} KiB"
