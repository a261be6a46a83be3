"""Hostile input to the streamed readers (issue 14, items 7 and 10): pyarrow prints nothing for a
non-UTF-8 CSV."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipeline.errors import UserError
from pipeline.ingest import read_table
from pipeline.ingest.sources import SourceFile
from schemas.inputs import CsvOptions
from tests.ingest_files import MESSAGES, STAGES, messages_csv


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
