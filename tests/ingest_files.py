"""Small files of the shapes the ingest tests read: chat JSONL and CSV bodies, compressed copies in each
codec, zips, and the accounting check every end-to-end test makes."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import subprocess
import sys
import zipfile
from pathlib import Path

import pyarrow as pa
import yaml

CODECS = ("gzip", "bz2", "xz", "zstd")
SUFFIX = {"gzip": ".gz", "bz2": ".bz2", "xz": ".xz", "zstd": ".zst"}
STAGES = [{"name": "split", "validation_fraction": 0.0}, {"name": "export"}]
MESSAGES = {"layout": "messages", "columns": {"conversation_id": "cid", "role": "who", "content": "text"},
            "roles": {"customer": "user", "agent": "assistant"}}


def chat(i: int, extra: str = "") -> dict:
    return {"messages": [{"role": "user", "content": f"question {i}{extra}"},
                         {"role": "assistant", "content": f"answer {i}"}]}


def chat_jsonl(n: int) -> str:
    return "".join(json.dumps(chat(i), ensure_ascii=False) + "\n" for i in range(n))


def messages_csv(n: int) -> str:
    return "cid,who,text\n" + "".join(f"c{i},customer,question {i}\nc{i},agent,answer {i}\n" for i in range(n))


def compress(data: bytes, codec: str) -> bytes:
    if codec == "zstd":
        sink = pa.BufferOutputStream()
        with pa.CompressedOutputStream(sink, "zstd") as f:
            f.write(data)
        return sink.getvalue().to_pybytes()
    return {"gzip": gzip.compress, "bz2": bz2.compress, "xz": lzma.compress}[codec](data)


def write_compressed(folder: Path, name: str, data: bytes, codec: str) -> Path:
    p = folder / (name + SUFFIX[codec])
    p.write_bytes(compress(data, codec))
    return p


def write_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def assert_accounted(result) -> dict:
    rows = result.stats["rows"]
    assert rows["input"] == rows["exported"] + rows["rejected"]
    return rows


def cli(tmp_path: Path, inp: dict, timeout: float = 300) -> subprocess.CompletedProcess:
    """`chatprep prepare` on one input (STAGES), in a subprocess: what a user sees, exit code included."""
    cfg = tmp_path / "run.yaml"
    cfg.write_text(yaml.safe_dump({"inputs": [inp], "stages": STAGES, "cache": {"dir": str(tmp_path / ".c")}}))
    return subprocess.run([sys.executable, "-m", "pipeline", "prepare", "--config", str(cfg), "--out",
                           str(tmp_path / "o")], check=False, capture_output=True, text=True, timeout=timeout)


def assert_stops(proc: subprocess.CompletedProcess, *words: str) -> str:
    """The run stopped with exit 2, no traceback or pyarrow noise, and a message holding `words`."""
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out
    assert "Traceback" not in out and "Exception ignored" not in out, out
    for w in words:
        assert w in out, out
    return out
