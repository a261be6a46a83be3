"""Hostile moderation servers against the CLI in a subprocess (python -m pipeline prepare): each case asserts
the exit code, that no traceback is printed, and what the message says; the API key never appears."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, read_jsonl
from tests.fake_moderation_server import FakeModerationServer

KEY = "sk-test-HOSTILE-MODR-4f2a9c0e1d"
BAD = "ZZ-unprocessable-ZZ"


def chats(path: Path, n: int = 12, bad_at: int | None = None) -> Path:
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            user = f"Where is my order number {i}? It was due last week." + (BAD if i == bad_at else "")
            f.write(json.dumps({"messages": [{"role": "user", "content": user},
                                             {"role": "assistant", "content": f"Order {i} ships tomorrow."}]}) + "\n")
    return path


def prepare(tmp_path: Path, fake: FakeModerationServer, key: str = KEY, **moderation) -> tuple[int, str, float]:
    data = chats(tmp_path / "chats.jsonl", bad_at=moderation.pop("bad_at", None))
    stage = {"name": "moderation", "requests_per_minute": 60_000, "tokens_per_minute": None, "backoff_seconds": 0.02,
             **moderation}
    cfg = {"inputs": [{"path": str(data), "layout": "conversations"}], "cache": {"dir": str(tmp_path / "cache")},
           "stages": [stage, {"name": "split", "validation_fraction": 0.0}, {"name": "export"}]}
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(cfg))
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env |= {"OPENAI_API_KEY": key, "OPENAI_BASE_URL": fake.base_url}
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "pipeline", "prepare", "--config", str(config),
                           "--out", str(tmp_path / "out")], cwd=ROOT, env=env, capture_output=True, text=True, check=False,
                          timeout=120)
    output = proc.stdout + proc.stderr
    assert "Traceback" not in output, output
    assert key not in output
    return proc.returncode, output, time.monotonic() - t0


def test_always_429_gives_up_within_the_budget_with_exit_2(tmp_path):
    with FakeModerationServer(fault_rate=1.0, fault_mix=("429ms",), retry_after_ms=300) as fake:
        code, output, seconds = prepare(tmp_path, fake, rate_limited_give_up_seconds=2, max_rate_limited_retries=999)
    assert code == 2, output
    assert "HTTP 429" in output and "rate_limited_give_up_seconds: 2" in output and "rerun" in output
    assert seconds < 2 + 15  # the budget plus the interpreter, imports and the stages around it


def test_a_429_with_retry_after_ms_200_first_finishes_and_screens_everything(tmp_path):
    with FakeModerationServer(retry_after_ms=200, retry_after_seconds=5, rpm=60_000, tpm=10**9) as fake:
        fake.script("429ms")
        code, output, _ = prepare(tmp_path, fake)
        answered = fake.answered()
    assert code == 0, output
    assert len(answered) == 24 and set(answered.values()) == {1}
    stats = json.loads((tmp_path / "out/stats.json").read_text())
    facts = stats["facts"]["moderation"]
    assert facts["retries"] == {"rate_limited": 1} and facts["seconds"] < 3


def test_a_400_for_one_input_rejects_that_example_and_the_run_goes_on(tmp_path):
    with FakeModerationServer(refuse_text=BAD) as fake:
        code, output, _ = prepare(tmp_path, fake, bad_at=7)
    assert code == 0, output
    out = tmp_path / "out"
    rejects = read_jsonl(out / "rejects.jsonl")
    assert [r["reason"] for r in rejects] == ["moderation_rejected_input"]
    assert "HTTP 400: Invalid input[0]" in rejects[0]["detail"] and "[OPENAI_API_KEY]" in rejects[0]["detail"]
    assert rejects[0]["source"]["rows"] == [8]
    stats = json.loads((out / "stats.json").read_text())
    assert stats["rows"]["input"] == len(read_jsonl(out / "train.jsonl")) + len(rejects) == 12
    assert KEY not in "".join(p.read_text(errors="replace") for p in out.rglob("*") if p.is_file())


def test_a_hanging_server_stops_the_run_with_exit_2_naming_the_timeout(tmp_path):
    with FakeModerationServer(fault_rate=1.0, fault_mix=("hang",), hang_seconds=20) as fake:
        code, output, seconds = prepare(tmp_path, fake, timeout_seconds=0.3, max_retries=1)
    assert code == 2, output
    assert "timed out" in output and "rerun to continue" in output
    assert seconds < 30


@pytest.mark.parametrize("fault,expected", [("500", "HTTP 500"), ("502", "502 Bad Gateway")])
def test_a_server_failing_every_request_stops_with_exit_2_and_its_message(tmp_path, fault, expected):
    with FakeModerationServer(fault_rate=1.0, fault_mix=(fault,)) as fake:
        code, output, _ = prepare(tmp_path, fake, max_retries=1)
    assert code == 2, output
    assert expected in output and "moderation: screening stopped" in output


def test_a_wrong_key_stops_with_exit_2_and_never_prints_it(tmp_path):
    with FakeModerationServer(expected_key="sk-the-right-one") as fake:
        code, output, _ = prepare(tmp_path, fake)
    assert code == 2, output
    assert "rejected OPENAI_API_KEY (HTTP 401" in output
