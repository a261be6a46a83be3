"""The screener through the real openai SDK over real HTTP to the fake server: batching, concurrency, the
rate budget, every fault survived with nothing lost, the cache, and clear failures."""

from __future__ import annotations

import json
import math
import re

import pytest

from pipeline.stages.moderation.cache import ModerationCache, text_hash
from pipeline.stages.moderation.client import ModerationClient, endpoint_id
from pipeline.stages.moderation.rate_budget import RateBudget
from pipeline.stages.moderation.screener import Screener, ScreeningFailed, ScreeningSettings
from tests.fake_moderation_server import FLAG_AT, LABELS, FakeModerationServer

KEY = "sk-test-client-5f2a9c"


@pytest.fixture
def prompts(realdata) -> list[str]:
    """Real prompts with OpenAI's labels (first occurrence of each)."""
    rows = [json.loads(line) for line in (realdata / "openai-moderation/samples-1680.jsonl").open(encoding="utf-8")]
    return list(dict.fromkeys(r["prompt"] for r in rows))


@pytest.fixture
def fake(monkeypatch, realdata):
    server = FakeModerationServer(samples=realdata / "openai-moderation/samples-1680.jsonl").start()
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    yield server
    server.stop()


def screener(tmp_path, rpm=60_000, tpm=None, timeout=5.0, model="omni-moderation-latest", follow_server=True,
             **kw) -> Screener:
    client = ModerationClient(model, timeout)
    cache = ModerationCache(tmp_path / "cache", endpoint_id(client.base_url), model)
    settings = ScreeningSettings(**{"backoff_seconds": 0.02, "backoff_cap_seconds": 0.2, **kw})
    return Screener(client, cache, RateBudget(rpm, tpm, follow_server=follow_server), settings)


def screen(s: Screener, texts: list[str]):
    try:
        return s.screen({text_hash(t): t for t in texts})
    finally:
        s.client.close()
        s.cache.close()


def expected(fake: FakeModerationServer, text: str) -> bool:
    return any(v >= FLAG_AT for v in fake.model.scores(text).values())


def test_batches_of_n_inputs_make_ceil_n_over_batch_requests(tmp_path, fake, prompts):
    texts = prompts[:100]
    results = screen(screener(tmp_path, batch_size=8, batch_max_tokens=10**6, follow_server=False), texts)
    assert len(fake.records()) == math.ceil(100 / 8)
    assert sorted(len(r.texts) for r in fake.records()) == [4] + [8] * 12
    assert fake.answered() == {t: 1 for t in texts}
    assert all(results[text_hash(t)].flagged == expected(fake, t) for t in texts)


def test_the_first_request_is_a_one_input_probe_that_teaches_the_budget_the_server_limits(tmp_path, fake, prompts):
    fake.rpm, fake.tpm = 30_000, 5_000_000  # announced in x-ratelimit-limit-* headers
    s = screener(tmp_path, rpm=500, tpm=10_000, batch_size=8, batch_max_tokens=10**6)
    screen(s, prompts[:33])
    first, *rest = fake.records()
    assert len(first.texts) == 1 and len(rest) == math.ceil(32 / 8)
    assert (s.budget.requests_per_minute, s.budget.tokens_per_minute) == (30_000, 5_000_000)


def test_after_a_429_on_the_probe_the_batches_start_when_its_wait_ends_without_a_cut(tmp_path, fake, prompts):
    """The probe's 429 already carries the limits, and its wait is in force for everyone: the batches do not
    wait for the probe's own answer; a second 429 in the same busy spell cuts nothing."""
    fake.rpm, fake.tpm, fake.retry_after_ms, fake.latency = 30_000, 5_000_000, 200, 0.3
    fake.script("429ms", "429ms")
    s = screener(tmp_path, rpm=500, tpm=10_000, batch_size=8, batch_max_tokens=10**6)
    assert len(screen(s, prompts[:33])) == 33
    probe, *later = fake.records()
    assert len(probe.texts) == 1 and probe.fault == "429ms"
    assert min(r.arrived for r in later) >= probe.arrived + fake.latency + 0.2  # the wait asked, for everyone
    probe_ok = next(r for r in later if r.texts == probe.texts and r.status == 200)
    batches = [r for r in later if len(r.texts) == 8]
    assert min(r.arrived for r in batches) < probe_ok.arrived + fake.latency  # sent before its answer came
    assert s.budget.slowdowns == 0 and s.stats.retries["rate_limited"] == 2
    assert (s.budget.requests_per_minute, s.budget.tokens_per_minute) == (30_000, 5_000_000)


def test_answers_follow_openai_labels_of_the_real_prompts(tmp_path, fake, realdata, prompts):
    rows = {}
    for line in (realdata / "openai-moderation/samples-1680.jsonl").open(encoding="utf-8"):
        r = json.loads(line)
        rows.setdefault(r.pop("prompt"), r)
    texts = prompts[:300]
    results = screen(screener(tmp_path, batch_size=32, batch_max_tokens=10**6), texts)
    checked = 0
    for t in texts:
        for code, cat in LABELS.items():
            if rows[t].get(code) == 1 and fake.model.known.get(text_hash(t)) == rows[t]:
                assert cat in results[text_hash(t)].categories
                checked += 1
    assert checked > 20


def test_requests_run_concurrently_up_to_the_limit(tmp_path, fake, prompts):
    fake.latency = 0.15
    screen(screener(tmp_path, batch_size=2, concurrency=4, follow_server=False), prompts[:40])
    assert len(fake.records()) == 20
    assert 3 <= fake.max_in_flight <= 4


def test_throughput_stays_near_but_not_over_the_rpm_budget(tmp_path, fake, prompts):
    """1,200 RPM enforced per 1 s window (20 requests in any second); the client is told the same budget."""
    fake.rpm, fake.window_seconds, fake.latency = 1200, 1.0, 0.01
    texts = prompts[:50]
    results = screen(screener(tmp_path, rpm=1200, batch_size=1, concurrency=8), texts)
    assert len(results) == 50 and fake.answered() == {t: 1 for t in texts}
    rejected = [r for r in fake.records() if r.fault == "rate_limit"]
    assert len(rejected) <= 3
    busiest = fake.max_in_window(1.0, accepted_only=True)
    assert 16 <= busiest <= 20  # near the limit (the client paces at 95 %), never over it


def test_a_client_told_too_high_a_budget_adapts_to_429s_and_loses_nothing(tmp_path, fake, prompts):
    fake.rpm, fake.window_seconds, fake.announce_limits = 1200, 1.0, False
    texts = prompts[:60]
    s = screener(tmp_path, rpm=12_000, batch_size=1, concurrency=8)
    results = screen(s, texts)
    assert len(results) == 60 and set(fake.answered()) == set(texts)
    assert s.budget.slowdowns >= 1 and s.stats.retries["rate_limited"] >= 1
    assert fake.max_in_window(1.0, accepted_only=True) <= 20
    # it did not hammer: most requests were accepted
    assert len([r for r in fake.records() if r.fault == "rate_limit"]) < len(fake.records()) / 2


def test_every_fault_is_survived_with_nothing_lost(tmp_path, fake, prompts):
    fake.slow_seconds, fake.retry_after_ms = 1.0, 80
    fake.script("429ms", "500", "502", "503", "close", "garbage", "short", "noscores", "slow", "429bare", "429")
    fake.fault_rate, fake.seed = 0.25, 7
    texts = prompts[:120]
    s = screener(tmp_path, timeout=0.5, batch_size=4, concurrency=4, max_retries=12, max_rate_limited_retries=20)
    results = screen(s, texts)
    assert set(results) == {text_hash(t) for t in texts}
    assert all(results[text_hash(t)].flagged == expected(fake, t) for t in texts)
    assert set(s.stats.retries) == {"rate_limited", "server_error", "connection", "bad_response", "timeout"}
    faults = {r.fault for r in fake.records()}
    assert {"429ms", "500", "502", "503", "close", "garbage", "short", "noscores", "slow", "429bare", "429"} <= faults


def test_retry_after_ms_is_honoured_before_retrying(tmp_path, fake, prompts):
    fake.retry_after_ms, fake.retry_after_seconds = 300, 5
    fake.script("429ms")
    screen(screener(tmp_path, batch_size=10, concurrency=1), prompts[:10])
    first, second = fake.records()
    assert first.status == 429 and second.status == 200
    assert 0.3 <= second.arrived - first.arrived < 3  # waited the 300 ms asked for, not retry-after's 5 s


def test_a_rerun_is_served_from_the_cache_without_requests(tmp_path, fake, prompts):
    texts = prompts[:50]
    first = screen(screener(tmp_path), texts)
    fake.reset_log()
    again = screener(tmp_path)
    second = screen(again, texts + texts[:5])
    assert fake.records() == []
    assert second == first and again.stats.from_cache == 50 and again.stats.sent == 0
    third = screen(screener(tmp_path), texts + ["one new text"])
    assert [r.texts for r in fake.records()] == [["one new text"]]
    assert len(third) == 51


def test_a_request_too_large_for_the_token_limit_is_split(tmp_path, fake):
    fake.tpm, fake.window_seconds = 12_000, 1.0  # 200 tokens per 1 s window
    texts = [f"text number {i} " + "lorem ipsum " * 19 for i in range(6)]  # ~62 tokens each, 6 make ~370
    s = screener(tmp_path, batch_size=6, batch_max_tokens=10**6)
    results = screen(s, texts)
    assert len(results) == 6 and set(fake.answered()) == set(texts)
    first = fake.records()[0]
    assert (first.status, len(first.texts)) == (429, 6)  # the whole batch was refused as too large...
    assert max(len(r.texts) for r in fake.records() if r.status == 200) == 3  # ...and sent in halves


def test_a_service_that_stays_down_fails_clearly_and_keeps_what_arrived(tmp_path, fake, prompts):
    fake.script("ok", "ok", "ok")
    fake.fault_rate, fake.fault_mix = 1.0, ("500", "502")
    texts = prompts[:40]
    s = screener(tmp_path, batch_size=4, concurrency=1, max_retries=3, follow_server=False)
    with pytest.raises(ScreeningFailed, match=r"gave up on a batch of 4 inputs after 4 failed attempts"):
        screen(s, texts)
    assert s.stats.sent == 12
    cache = ModerationCache(tmp_path / "cache", endpoint_id(fake.base_url), "omni-moderation-latest")
    assert len(cache.get_many([text_hash(t) for t in texts])) == 12
    cache.close()


@pytest.mark.parametrize(("change", "message"), [
    ({"expected_key": "sk-another"}, "rejected OPENAI_API_KEY (HTTP 401, invalid_api_key)"),
    ({"model": "omni-moderation-nope"}, "404 for model 'omni-moderation-nope'"),
])
def test_fatal_answers_stop_at_once_without_retries(tmp_path, fake, prompts, change, message):
    fake.expected_key = change.get("expected_key")
    s = screener(tmp_path, model=change.get("model", "omni-moderation-latest"), batch_size=10, concurrency=1)
    with pytest.raises(ScreeningFailed, match=re.escape(message)) as info:
        screen(s, prompts[:10])
    assert len(fake.records()) <= 1 or fake.records()[0].status == 401
    assert KEY not in str(info.value) and KEY[-6:] not in str(info.value)


def test_legacy_text_moderation_model_answers_are_accepted(tmp_path, fake):
    results = screen(screener(tmp_path, model="text-moderation-latest"), ["I will kill you, you idiot"])
    [r] = results.values()
    assert r.flagged and "illicit" not in r.scores


def test_an_unusable_base_url_fails_at_once(tmp_path, fake, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "localhost:9/v1")
    s = screener(tmp_path, max_retries=50, backoff_seconds=5.0)
    with pytest.raises(ScreeningFailed, match="OPENAI_BASE_URL 'localhost:9/v1' is not a usable URL"):
        screen(s, ["hello"])
    assert s.stats.requests == 1
