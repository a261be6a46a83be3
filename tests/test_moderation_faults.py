"""The moderation stage against a faulty server, end to end: a 429 on the first request costs about the wait
the server asks (with and without x-ratelimit limit headers), a server answering only 429s is given up on
within rate_limited_give_up_seconds, a 400 for one input rejects only that example (moderation_rejected_input,
the server's message with the key redacted), and a hanging server times out and is retried."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from pipeline.errors import UserError
from pipeline.stages.moderation.cache import text_hash
from pipeline.stages.moderation.screener import MAX_REFUSED_BEFORE_AN_ANSWER
from tests.conftest import read_jsonl
from tests.fake_moderation_server import FakeModerationServer
from tests.recipes import recipe_config
from tests.test_moderation_client import screen, screener

KEY = "sk-test-FAULTS-3b9d1e7c55aa"
BAD = "ZZ-unprocessable-ZZ"


def chats(path: Path, n: int, size: int = 200, bad_at: int | None = None) -> Path:
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            user = f"Question {i} about my bicycle order: " + "the gears click when I pedal uphill. " * (size // 40)
            if i == bad_at:
                user += BAD
            msgs = [{"role": "user", "content": user},
                    {"role": "assistant", "content": f"Answer {i}: " + "please check the cable tension. " * (size // 32)}]
            f.write(json.dumps({"messages": msgs}) + "\n")
    return path


def config(data: Path, **moderation) -> dict:
    stage = {"name": "moderation", "backoff_seconds": 0.02, "requests_per_minute": 60_000, "tokens_per_minute": None,
             **moderation}
    return {"inputs": [{"path": str(data), "layout": "conversations"}],
            "stages": [stage, {"name": "split", "validation_fraction": 0.0}, {"name": "export"}]}


def accounted(result, out: Path) -> tuple[list[dict], list[dict]]:
    kept, rejects = read_jsonl(out / "train.jsonl"), read_jsonl(out / "rejects.jsonl")
    assert result.stats["rows"]["input"] == len(kept) + len(rejects)
    return kept, rejects


@pytest.fixture
def env(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)

    def use(server: FakeModerationServer) -> FakeModerationServer:
        monkeypatch.setenv("OPENAI_BASE_URL", server.start().base_url)
        return server

    return use


@pytest.mark.parametrize("announce_limits", [True, False])
def test_a_429_with_retry_after_ms_200_on_the_first_request_costs_about_that(tmp_path, env, run_config,
                                                                            announce_limits):
    data = chats(tmp_path / "chats.jsonl", 14)
    # tier-1-like pacing where the token clock matters: each batch of 4 texts books ~0.4 s of it
    cfg = config(data, batch_size=4, concurrency=8, requests_per_minute=500, tokens_per_minute=30_000)
    limits = {"rpm": 500, "tpm": 30_000} if announce_limits else {}
    seconds = {}
    for name, faults in (("clean", ()), ("429", ("429ms",))):
        server = env(FakeModerationServer(retry_after_ms=200, retry_after_seconds=5, announce_limits=announce_limits,
                                          **limits))
        try:
            server.script(*faults)
            result, out = run_config({**cfg, "cache": {"dir": str(tmp_path / f"cache-{name}")}}, out=f"out-{name}")
        finally:
            server.stop()
        kept, _ = accounted(result, out)
        assert len(kept) == 14
        facts = result.stats["facts"]["moderation"]
        assert facts["sent"] == 28 and server.answered() == {t: 1 for t in server.answered()}
        assert facts["retries"] == ({"rate_limited": 1} if faults else {})
        seconds[name] = facts["seconds"]
    assert seconds["429"] - seconds["clean"] < 3.0, seconds  # the server asked for 0.2 s (+ the halved pace)


def test_a_server_answering_only_429_is_given_up_within_the_budget(tmp_path, env, run_config):
    data = chats(tmp_path / "chats.jsonl", 6)
    env(FakeModerationServer(fault_rate=1.0, fault_mix=("429ms",), retry_after_ms=300))
    t0 = time.monotonic()
    with pytest.raises(UserError) as e:
        run_config(config(data, batch_size=2, rate_limited_give_up_seconds=2, max_rate_limited_retries=1000))
    assert time.monotonic() - t0 < 2 + 5  # the budget plus slack (imports, the pipeline around it)
    message = str(e.value)
    assert "HTTP 429" in message and "rate_limited_give_up_seconds: 2" in message and "rerun" in message
    assert KEY not in message


def test_a_400_for_one_input_rejects_that_example_and_screens_the_others(tmp_path, env, run_config):
    data = chats(tmp_path / "chats.jsonl", 20, bad_at=13)
    server = env(FakeModerationServer(refuse_text=BAD))
    try:
        result, out = run_config(config(data, batch_size=16))
    finally:
        server.stop()
    kept, rejects = accounted(result, out)
    assert len(kept) == 19
    [reject] = [r for r in rejects if r["stage"] == "moderation"]
    assert reject["reason"] == "moderation_rejected_input"
    assert reject["detail"].startswith("message 1 (user): the moderation server refused this text (HTTP 400: ")
    assert "Invalid input[0]" in reject["detail"] and "[OPENAI_API_KEY]" in reject["detail"]
    assert KEY not in (out / "rejects.jsonl").read_text() + json.dumps(result.stats)
    facts = result.stats["facts"]["moderation"]
    assert facts["rejected_inputs"] == 1 and facts["rejected_input_examples"] == 1
    assert sum(server.answered().values()) == 39  # every other text answered once, bisecting cost no repeats


def test_a_400_for_one_input_with_action_flag_still_rejects_that_example(tmp_path, env, run_config):
    data = chats(tmp_path / "chats.jsonl", 5, bad_at=2)
    env(FakeModerationServer(refuse_text=BAD))
    result, out = run_config(config(data, action="flag"))
    kept, rejects = accounted(result, out)
    assert len(kept) == 4 and [r["reason"] for r in rejects] == ["moderation_rejected_input"]


def test_a_server_refusing_every_input_is_a_wrong_request_not_bad_inputs(tmp_path, env):
    server = env(FakeModerationServer(refuse_text="a"))
    texts = [f"text {i} with an a" for i in range(12)]
    try:
        with pytest.raises(Exception) as e:
            screen(screener(tmp_path, batch_size=4, concurrency=1), texts)
    finally:
        server.stop()
    assert f"refused {MAX_REFUSED_BEFORE_AN_ANSWER} inputs one by one and answered none" in str(e.value)


def test_bisecting_finds_several_refused_inputs_in_one_batch(tmp_path, env):
    server = env(FakeModerationServer(refuse_text=BAD))
    texts = [f"fine text {i}" + (BAD if i in (3, 4, 10) else "") for i in range(16)]
    s = screener(tmp_path, batch_size=16, follow_server=False)
    try:
        results = screen(s, texts)
    finally:
        server.stop()
    assert set(s.rejected) == {text_hash(texts[i]) for i in (3, 4, 10)}
    assert len(results) == 13 and s.stats.rejected_inputs == 3
    assert all(m.startswith("HTTP 400: Invalid input[0]") for m in s.rejected.values())


def test_a_hanging_server_times_out_and_the_retry_succeeds(tmp_path, env, run_config):
    data = chats(tmp_path / "chats.jsonl", 4)
    server = env(FakeModerationServer(hang_seconds=30))
    try:
        server.script("hang")
        t0 = time.monotonic()
        result, out = run_config(config(data, timeout_seconds=0.5))
        assert time.monotonic() - t0 < 10
    finally:
        server.stop()
    kept, _ = accounted(result, out)
    assert len(kept) == 4 and result.stats["facts"]["moderation"]["retries"] == {"timeout": 1}


def test_recipe_chat_logs_moderation_faults_end_to_end(tmp_path, env, run_config):
    data = chats(tmp_path / "chat_logs.jsonl", 6, bad_at=4)
    server = env(FakeModerationServer(refuse_text=BAD))
    try:
        server.script("429ms")
        stages = [{"name": "moderation", "rate_limited_give_up_seconds": 120, "requests_per_minute": 60_000,
                   "tokens_per_minute": None}, {"name": "split", "validation_fraction": 0.0}, {"name": "export"}]
        result, out = run_config(recipe_config("chat-logs-moderation-faults", data, stages))
    finally:
        server.stop()
    kept, rejects = accounted(result, out)
    assert len(kept) == 5 and [r["reason"] for r in rejects] == ["moderation_rejected_input"]
    assert rejects[0]["source"]["rows"] == [5] and rejects[0]["source"]["file"].endswith("chat_logs.jsonl")
