"""The pipeline CLI in a subprocess against the fake server: a run killed with SIGKILL mid-screening resumes
from the cache (sending only the rest) and ends byte-identical to a clean run; the default config
(`make prepare`) against a faulty server screens everything, drops what it flags, and a rerun sends nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, read_jsonl
from tests.fake_moderation_server import FakeModerationServer

pytestmark = pytest.mark.slow
KEY = "sk-test-resume-0d9e8f7a6b"
DATA_FILES = ("train.jsonl", "validation.jsonl", "provenance.jsonl", "rejects.jsonl")


def env_for(fake: FakeModerationServer) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    return {**env, "OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": fake.base_url, "PYTHONUNBUFFERED": "1"}


def prepare(config: Path, out: Path, fake: FakeModerationServer, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "pipeline", "prepare", "--config", str(config), "--out", str(out), *extra]
    return subprocess.Popen(cmd, cwd=ROOT, env=env_for(fake), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def finish(proc: subprocess.Popen, timeout: float = 300) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def test_a_run_killed_mid_screening_resumes_and_equals_a_clean_run(tmp_path, realdata):
    prompts = list(dict.fromkeys(json.loads(line)["prompt"] for line in
                                 (realdata / "openai-moderation/samples-1680.jsonl").open(encoding="utf-8")))[:90]
    data = tmp_path / "chats.jsonl"
    with data.open("w", encoding="utf-8") as f:
        for i, p in enumerate(prompts):
            f.write(json.dumps({"messages": [{"role": "user", "content": p},
                                             {"role": "assistant", "content": f"Noted, case {i}."}]}) + "\n")

    def config(cache: str) -> Path:
        cfg = {"inputs": [{"path": str(data), "layout": "conversations"}],
               "stages": [{"name": "moderation", "batch_size": 2, "concurrency": 2, "requests_per_minute": 60_000,
                           "tokens_per_minute": None, "chunk_chars": 100_000, "chunk_overlap_chars": 0},
                          {"name": "split"}, {"name": "export"}],
               "cache": {"dir": str(tmp_path / cache)}}
        path = tmp_path / f"{cache}.yaml"
        path.write_text(yaml.safe_dump(cfg))
        return path

    with FakeModerationServer(latency=0.08) as fake:
        unique = {p.strip() for p in prompts} | {f"Noted, case {i}." for i in range(len(prompts))}  # trimmed
        proc = prepare(config("cache"), tmp_path / "out1", fake)
        deadline = time.monotonic() + 60
        while len(fake.answered()) < 30:
            assert proc.poll() is None, f"the run ended before it could be killed:\n{proc.stderr.read()}"
            assert time.monotonic() < deadline
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        first = set(fake.answered())
        assert 30 <= len(first) < len(unique)

        fake.reset_log()
        code, _, err = finish(prepare(config("cache"), tmp_path / "out2", fake))
        assert code == 0, err
        resent = {t for r in fake.records() for t in r.texts}
        assert first | resent == unique  # everything screened across the two runs
        # only answers in flight at the kill (at most one batch per worker, plus one finished batch each
        # not yet written) may be asked again
        assert len(first & resent) <= 2 * 2 * 2
        stats = json.loads((tmp_path / "out2" / "stats.json").read_text())
        assert stats["facts"]["moderation"]["from_cache"] >= len(first) - 8

        fake.reset_log()
        code, _, err = finish(prepare(config("clean-cache"), tmp_path / "clean", fake))
        assert code == 0, err
        assert {t for r in fake.records() for t in r.texts} == unique
    for name in DATA_FILES:
        assert (tmp_path / "out2" / name).read_bytes() == (tmp_path / "clean" / name).read_bytes(), name
    assert any(r["stage"] == "moderation" for r in read_jsonl(tmp_path / "clean" / "rejects.jsonl"))


UNSAFE_SAMPLE = {  # data/sample/README.md, "unsafe content": conversation -> a phrase of its third turn
    "conv-0062": "smash the place up", "conv-0100": "want to be alive",
    "conv-0156": "see what happens to the people", "conv-0195": "make you regret it"}


def test_default_config_against_a_faulty_server_screens_everything_and_a_rerun_sends_nothing(tmp_path):
    if not (ROOT / "data/sample/support_chats.csv").is_file():
        pytest.skip("data/sample/ has not been generated")
    with FakeModerationServer(rpm=3000, tpm=400_000, window_seconds=6.0, fault_rate=0.2, seed=11,
                              slow_seconds=1.5, latency=0.01) as fake:
        cache = f"cache.dir={tmp_path / '.cache'}"
        code, out, err = finish(prepare(ROOT / "configs/default.yaml", tmp_path / "out", fake, "--set", cache))
        assert code in (0, 1), err
        faults = {r.fault for r in fake.records()} - {None}
        assert {"500", "502", "close", "garbage"} & faults  # the server really was faulty
        stats = json.loads((tmp_path / "out" / "stats.json").read_text())
        facts = stats["facts"]["moderation"]
        assert "skipped" not in facts and facts["sent"] == facts["unique_texts"] > 1000
        assert len(fake.answered()) == facts["unique_texts"]  # every text got a full, valid answer
        assert sum(facts["retries"].values()) >= 5
        rejects = [r for r in read_jsonl(tmp_path / "out" / "rejects.jsonl") if r["stage"] == "moderation"]
        assert {r["reason"] for r in rejects} == {"moderation_flagged"}
        assert len(rejects) == len(UNSAFE_SAMPLE)
        assert all(r["detail"].startswith("message 3 (user): ") and "(flagged by OpenAI)" in r["detail"]
                   for r in rejects)
        texts = "\n".join(json.dumps(r["example"], ensure_ascii=False) for r in rejects)
        for phrase in UNSAFE_SAMPLE.values():
            assert phrase in texts
        assert KEY not in err + out

        for extra in ([], ["--set", "cache.checkpoints=false"]):  # checkpoint reuse, then the cache alone
            fake.reset_log()
            code, _, err = finish(prepare(ROOT / "configs/default.yaml", tmp_path / "out-again", fake,
                                          "--set", cache, *extra))
            assert code in (0, 1), err
            assert fake.records() == []
            for name in DATA_FILES:
                assert (tmp_path / "out" / name).read_bytes() == (tmp_path / "out-again" / name).read_bytes()
