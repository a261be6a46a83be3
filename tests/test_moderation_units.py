"""Moderation building blocks without a server: chunking, retry hints, pacing (AIMD), answer parsing,
decisions, batching and the persistent cache."""

from __future__ import annotations

import itertools
import json
import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.stages.moderation.cache import ModerationCache, text_hash
from pipeline.stages.moderation.chunking import chunk_spans, chunk_text
from pipeline.stages.moderation.decision import decide, findings
from pipeline.stages.moderation.rate_budget import DECREASE, PACE_FRACTION, RECOVERY_PER_SECOND, RateBudget
from pipeline.stages.moderation.response import BadResponse, ModerationResult, parse_results
from pipeline.stages.moderation.retry_policy import MAX_HINT_SECONDS, Backoff, retry_after_seconds
from pipeline.stages.moderation.screened_texts import USER_AND_ASSISTANT, example_texts
from pipeline.stages.moderation.screener import estimate_tokens, make_batches

# --- chunking --------------------------------------------------------------------------------------------

words = st.text(alphabet=st.sampled_from("abcdefgh \n.!?é字"), min_size=0, max_size=3000)


@settings(max_examples=200, deadline=None)
@given(text=words, limit=st.integers(4, 400), overlap_share=st.floats(0, 0.5))
def test_chunks_cover_the_text_in_order_under_the_limit(text, limit, overlap_share):
    overlap = int(limit * overlap_share) if limit // 2 else 0
    overlap = min(overlap, limit // 2)
    spans = chunk_spans(text, limit, overlap)
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    for (a, b), (c, d) in itertools.pairwise(spans):
        assert a < c <= b  # progress, no gap
        assert b - c <= overlap  # overlap bounded
    assert all(0 < b - a <= limit for a, b in spans) or text == ""


def test_short_text_is_one_chunk_and_long_text_cuts_at_sentence_ends():
    assert chunk_text("hello world", 100) == ["hello world"]
    text = " ".join(f"Sentence number {i} is here." for i in range(200))
    chunks = chunk_text(text, 500, 50)
    assert len(chunks) > 1
    assert all(len(c) <= 500 for c in chunks)
    assert all(c.rstrip().endswith(".") for c in chunks[:-1])  # cut after a sentence, not mid-word
    with pytest.raises(ValueError):
        chunk_spans("x", 10, 6)


def test_a_phrase_cut_at_a_chunk_border_is_seen_whole_thanks_to_the_overlap():
    phrase = "i will hurt you"
    split_without_overlap = 0
    for pad in range(150, 200):
        text = "a" * pad + " " + phrase + " " + "word " * 60
        assert any(phrase in c for c in chunk_text(text, 200, 60)), pad
        split_without_overlap += not any(phrase in c for c in chunk_text(text, 200, 0))
    assert split_without_overlap > 0  # the scenario really cuts the phrase when there is no overlap


# --- which texts are screened ------------------------------------------------------------------------------

def test_screened_texts_by_role_and_content_parts():
    ex = json.dumps({"messages": [
        {"role": "system", "content": "You are a helpful agent."},
        {"role": "user", "content": [{"type": "text", "text": "look at this"},
                                     {"type": "image_url", "image_url": {"url": "http://x/y.png"}}]},
        {"role": "assistant", "content": "  "},
        {"role": "assistant", "content": "x" * 250},
    ]})
    everything = example_texts(ex, None, 100, 10)
    assert [(t.message, t.role) for t in everything.texts][:2] == [(1, "system"), (2, "user")]
    assert everything.images == 1
    long = [t for t in everything.texts if t.message == 4]
    assert len(long) == 3 and long[0].where() == "message 4 (assistant), characters 1-100"
    only = example_texts(ex, USER_AND_ASSISTANT, 100, 10)
    assert {t.role for t in only.texts} == {"user", "assistant"}
    assert example_texts("not json", None, 100, 0).texts == []


# --- retry hints and backoff -------------------------------------------------------------------------------

def test_retry_after_headers():
    assert retry_after_seconds({"retry-after-ms": "150", "retry-after": "1"}) == pytest.approx(0.15)
    assert retry_after_seconds({"retry-after": "2"}) == 2.0
    assert retry_after_seconds({"retry-after": "0.5"}) == 0.5
    assert retry_after_seconds({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, now=1445412470.0) == 10.0
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({}) is None
    assert retry_after_seconds({"retry-after": "99999"}) == MAX_HINT_SECONDS
    assert retry_after_seconds({"retry-after": "-3"}) == 0.0


def test_backoff_grows_and_is_capped():
    b = Backoff(base=1.0, cap=8.0)
    for attempt, full in [(0, 1), (1, 2), (2, 4), (3, 8), (7, 8)]:
        d = b.delay(attempt)
        assert full / 2 <= d <= full


# --- pacing -------------------------------------------------------------------------------------------------

class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def test_requests_are_spaced_at_the_paced_rate():
    clock = Clock()
    budget = RateBudget(600, None, clock=clock)
    starts = [budget.reserve(10).send_at for _ in range(5)]
    gap = 60 / (600 * PACE_FRACTION)
    assert starts == pytest.approx([1000 + i * gap for i in range(5)])


def test_token_budget_spaces_big_requests():
    clock = Clock()
    budget = RateBudget(10_000, 6_000, clock=clock)  # 100 tokens/s at full pace
    a, b = budget.reserve(1000), budget.reserve(10)
    assert b.send_at - a.send_at == pytest.approx(1000 * 60 / (6000 * PACE_FRACTION))


def test_429_halves_the_pace_once_per_event_pauses_and_recovers():
    clock = Clock()
    budget = RateBudget(600, None, clock=clock)
    slots = [budget.reserve(1) for _ in range(3)]
    clock.t = slots[-1].send_at
    budget.on_rate_limited(slots[0], wait=2.0)
    budget.on_rate_limited(slots[1], wait=2.0)  # same congestion event: no second cut
    assert budget.factor == DECREASE and budget.slowdowns == 1
    assert not budget.still_valid(slots[2])  # booked before the 429: must book again
    nxt = budget.reserve(1)
    assert nxt.send_at == pytest.approx(clock.t + 2.0)  # the pause is honoured
    later = budget.reserve(1)
    assert later.send_at - nxt.send_at == pytest.approx(60 / (600 * PACE_FRACTION * DECREASE))
    clock.t = nxt.send_at + 0.1
    assert budget.factor == DECREASE  # no growth before the server has answered since the cut
    budget.on_answered(nxt)  # it answered a request sent after the cut: the event is over
    answered_at = clock.t
    clock.t += 1.0
    assert budget.factor == pytest.approx(DECREASE + RECOVERY_PER_SECOND)  # grows back with time
    clock.t = answered_at + (1 - DECREASE) / RECOVERY_PER_SECOND
    assert budget.factor == 1.0  # full speed again
    budget.on_rate_limited(later, wait=0.0)  # sent after the event ended: a new event, cut again
    assert budget.slowdowns == 2
    refused = DECREASE + RECOVERY_PER_SECOND * (later.send_at - answered_at)
    assert budget.factor == pytest.approx(DECREASE * refused)


def test_server_announced_limits_are_adopted():
    budget = RateBudget(5000, 500_000)
    budget.observe_limits(500, 10_000)
    assert (budget.requests_per_minute, budget.tokens_per_minute) == (500, 10_000)
    budget.observe_limits(9000, None)  # the account's real limit, higher than configured
    assert (budget.requests_per_minute, budget.tokens_per_minute) == (9000, 10_000)
    capped = RateBudget(500, 10_000, follow_server=False)
    capped.observe_limits(9000, 2_000_000)
    assert (capped.requests_per_minute, capped.tokens_per_minute) == (500, 10_000)
    capped.observe_limits(100, 5_000)
    assert (capped.requests_per_minute, capped.tokens_per_minute) == (100, 5_000)


# --- answers and decisions ------------------------------------------------------------------------------------

def _answer(n, **over):
    r = {"flagged": False, "categories": {"hate": False, "self-harm": False},
         "category_scores": {"hate": 0.01, "self-harm": 0.3}, **over}
    return json.dumps({"id": "modr-1", "model": "omni-moderation-2024-09-26", "results": [r] * n})


def test_parse_results_accepts_a_good_answer_and_rejects_bad_ones():
    [r] = parse_results(_answer(1), 1)
    assert r == ModerationResult(False, (), {"hate": 0.01, "self-harm": 0.3})
    for body, n in [("<html>", 1), (_answer(2), 1), (_answer(1, flagged="yes"), 1),
                    (_answer(1, category_scores={}), 1), (_answer(1, category_scores={"hate": 1.5}), 1),
                    (_answer(1, category_scores={"hate": True}), 1), (_answer(1, categories=None), 1),
                    ('{"results": "x"}', 1), ("[]", 0)]:
        with pytest.raises(BadResponse):
            parse_results(body, n)
    legacy = parse_results(_answer(1, categories={"hate": False, "illicit": None}), 1)
    assert legacy[0].categories == ()


def test_decision_by_openai_flag_and_by_threshold_names_message_categories_and_scores():
    flagged = ModerationResult(True, ("violence",), {"violence": 0.81, "self-harm": 0.05})
    mild = ModerationResult(False, (), {"violence": 0.1, "self-harm": 0.25})
    assert [f.category for f in findings(flagged, {}, True)] == ["violence"]
    assert findings(flagged, {}, False) == []
    assert [f.category for f in findings(mild, {"self-harm": 0.2}, True)] == ["self-harm"]
    ex = json.dumps({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]})
    texts = example_texts(ex, None, 100, 0).texts
    d = decide(texts, [mild, flagged], {"self-harm": 0.2}, True)
    assert d.flagged and d.categories() == {"self-harm": 0.25, "violence": 0.81}
    assert d.detail() == ("message 1 (user): self-harm 0.250 (≥ threshold 0.2); "
                          "message 2 (assistant): violence 0.810 (flagged by OpenAI)")
    assert not decide(texts, [mild, mild], {}, True).flagged


def test_batches_respect_size_and_token_limits():
    items = [(str(i), "x" * 400) for i in range(10)]  # 100 tokens each
    assert [len(b) for b in make_batches(items, 4, 10_000)] == [4, 4, 2]
    assert [len(b) for b in make_batches(items, 32, 250)] == [2, 2, 2, 2, 2]
    assert [len(b) for b in make_batches([("a", "x" * 4000)], 32, 10)] == [1]  # too big alone: sent alone
    assert estimate_tokens("abcd") == 1 and estimate_tokens("字字字字") == 3


# --- cache ------------------------------------------------------------------------------------------------

def test_cache_persists_by_endpoint_and_model_and_stores_no_text(tmp_path):
    r = ModerationResult(True, ("hate",), {"hate": 0.9})
    secret_text = "a very specific sentence that must not be stored"
    c = ModerationCache(tmp_path, "endpointA", "omni-moderation-latest")
    c.put_many([(text_hash(secret_text), r)])
    c.close()
    again = ModerationCache(tmp_path, "endpointA", "omni-moderation-latest")
    assert again.get_many([text_hash(secret_text), text_hash("other")]) == {text_hash(secret_text): r}
    assert ModerationCache(tmp_path, "endpointB", "omni-moderation-latest").get_many([text_hash(secret_text)]) == {}
    assert ModerationCache(tmp_path, "endpointA", "text-moderation-latest").get_many([text_hash(secret_text)]) == {}
    again.close()
    for f in tmp_path.iterdir():
        assert b"specific sentence" not in f.read_bytes()


def test_cache_ignores_an_unreadable_row_and_reports_a_damaged_file(tmp_path):
    c = ModerationCache(tmp_path, "e", "m")
    c.put_many([("h1", ModerationResult(False, (), {"hate": 0.1}))])
    c.close()
    db = sqlite3.connect(tmp_path / "results.sqlite3")
    db.execute("INSERT INTO results VALUES ('e', 'm', 'h2', '{not json')")
    db.commit()
    db.close()
    c = ModerationCache(tmp_path, "e", "m")
    assert set(c.get_many(["h1", "h2"])) == {"h1"}
    c.close()
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "results.sqlite3").write_bytes(b"this is not a database at all" * 100)
    from pipeline.errors import UserError
    with pytest.raises(UserError, match="cannot be opened"):
        ModerationCache(bad, "e", "m")


def test_new_server_limits_rebook_slots_taken_at_the_old_pace():
    clock = Clock()
    budget = RateBudget(500, 10_000, clock=clock)
    first = budget.reserve(4000)
    waiting = budget.reserve(4000)
    assert waiting.send_at - first.send_at > 20  # 4,000 tokens at ~10k/min
    budget.observe_limits(5000, 500_000)
    assert not budget.still_valid(waiting)
    again = budget.reserve(4000)
    assert again.send_at - clock.t < 1


def test_a_429_returns_the_void_bookings_so_the_retry_waits_only_what_the_server_asks():
    clock = Clock()
    budget = RateBudget(500, 10_000, clock=clock)  # tier 1: the token clock alone spaces 1000-token batches 6 s
    probe = budget.reserve(1)
    phantoms = [budget.reserve(1000) for _ in range(7)]  # seven workers booked while the probe was in flight
    assert phantoms[-1].send_at > clock.t + 30
    budget.on_rate_limited(probe, wait=0.2)
    assert not any(budget.still_valid(s) for s in phantoms)
    retry = budget.reserve(1)
    assert retry.send_at == pytest.approx(clock.t + 0.2)  # not behind the seven void reservations


def test_a_429_on_a_request_sent_alone_pauses_without_cutting_the_pace():
    clock = Clock()
    budget = RateBudget(600, None, clock=clock)
    probe = budget.reserve(1)
    budget.on_rate_limited(probe, wait=0.2, cut=False)
    assert budget.factor == 1.0 and budget.slowdowns == 0
    assert budget.reserve(1).send_at == pytest.approx(clock.t + 0.2)
