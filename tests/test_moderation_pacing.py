"""RateBudget on a fake clock: one cut per congestion event, pauses of the server's retry-after (not a sum
of them), retries at the cut pace, the settling under a limit found from 429s, the spacing of requests
that go out late; and the budget against a simulated sliding-window server (tests/simulated_rate_limit.py:
deterministic, milliseconds per run)."""

from __future__ import annotations

import itertools

import pytest

from pipeline.stages.moderation.rate_budget import (
    APPROACH,
    DECREASE,
    ONE_OFF_FACTOR,
    PACE_FRACTION,
    RECENT_CUT_SECONDS,
    RECOVERY_PER_SECOND,
    SLOW_RECOVERY_SHARE,
    RateBudget,
    Slot,
)
from tests.simulated_rate_limit import FakeClock, SlidingWindowServer, simulate

GAP_600 = 60 / (600 * PACE_FRACTION)  # seconds between requests at 600 RPM, full pace


def send(budget: RateBudget, clock: FakeClock, n: int) -> list[Slot]:
    """Book and send `n` requests, each at its slot's time (as acquire does)."""
    sent = []
    for _ in range(n):
        slot = budget.reserve(1)
        clock.t = max(clock.t, slot.send_at)
        taken = budget.take(slot)
        assert isinstance(taken, Slot)
        sent.append(taken)
    return sent


def test_the_429s_of_one_window_cut_once_and_pause_for_the_latest_retry_after_not_their_sum():
    clock = FakeClock()
    budget = RateBudget(600, None, clock=clock)
    in_flight = send(budget, clock, 8)
    waiting = budget.reserve(1)
    answers = [(0.00, 0.30), (0.01, 0.20), (0.02, 0.45), (0.03, 0.10), (0.04, 0.30), (0.05, 0.05), (0.06, 0.40),
               (0.07, 0.25)]  # (arrives this long after the last send, retry-after)
    last_sent = clock.t
    for slot, (delay, wait) in zip(in_flight, answers):
        clock.t = last_sent + delay
        budget.on_rate_limited(slot, wait)
    assert budget.slowdowns == 1 and budget.factor == DECREASE  # one cut for the eight
    assert not budget.still_valid(waiting)
    latest_end = max(last_sent + delay + wait for delay, wait in answers)  # 0.02 + 0.45
    assert budget.reserve(1).send_at == pytest.approx(latest_end)  # not 2.05 s, the sum of the waits


def test_a_429_inside_the_pause_in_force_leaves_the_bookings_alone():
    clock = FakeClock()
    budget = RateBudget(600, None, clock=clock)
    a, b = send(budget, clock, 2)
    budget.on_rate_limited(a, wait=1.0)
    booked = budget.reserve(1)
    budget.on_rate_limited(b, wait=0.5)  # same event, asks for less than the pause: nothing changes
    clock.t = booked.send_at
    assert budget.still_valid(booked)
    assert budget.slowdowns == 1


def test_429s_after_the_pause_but_before_any_answer_neither_cut_nor_bunch_the_retries():
    """Right after the pause the server's window may still be full of the requests sent before the cut:
    those 429s are the same event. Each pauses for its own retry-after only, and the retries keep the cut
    pace from the request sent before them instead of all leaving when the short pause ends."""
    clock = FakeClock()
    budget = RateBudget(600, None, clock=clock)
    first = send(budget, clock, 1)[0]
    budget.on_rate_limited(first, wait=1.0)
    cut_gap = GAP_600 / DECREASE
    clock.t += 1.0
    after_pause = send(budget, clock, 1)[0]
    budget.on_rate_limited(after_pause, wait=0.01)  # still refused: a server window still full
    retry = budget.reserve(1)
    assert budget.slowdowns == 1 and budget.factor == DECREASE
    assert retry.send_at == pytest.approx(after_pause.send_at + cut_gap)  # the cut pace, not 0.01 s later
    clock.t = retry.send_at
    answered = budget.take(retry)
    assert isinstance(answered, Slot)
    budget.on_answered(answered)  # the server takes requests again: the event is over
    nxt = send(budget, clock, 1)[0]
    budget.on_rate_limited(nxt, wait=0.01)
    assert budget.slowdowns == 2  # a 429 after that is news


def test_a_429_on_a_request_sent_before_the_cut_does_not_cut_again_even_after_an_answer():
    clock = FakeClock()
    budget = RateBudget(600, None, clock=clock)
    old = send(budget, clock, 3)
    budget.on_rate_limited(old[0], wait=0.2)
    budget.on_answered(old[1])  # answered, but sent before the cut: says nothing of the cut pace
    clock.t += 0.3
    budget.on_rate_limited(old[2], wait=0.0)
    assert budget.slowdowns == 1


def test_a_429_on_the_lone_first_request_opens_an_event_without_a_cut():
    clock = FakeClock()
    budget = RateBudget(600, None, clock=clock)
    probe = send(budget, clock, 1)[0]
    budget.on_rate_limited(probe, wait=0.2, cut=False)
    clock.t += 0.2
    batches = send(budget, clock, 3)  # the others start after the pause
    for slot in batches:  # the server is still busy: the same event, no cut
        budget.on_rate_limited(slot, wait=0.2)
    assert budget.slowdowns == 0 and budget.factor == 1.0


def test_a_one_off_429_at_full_pace_grows_back_to_full_pace():
    clock = FakeClock()
    budget = RateBudget(600, None, clock=clock)
    slot = send(budget, clock, 1)[0]
    budget.on_rate_limited(slot, wait=0.0)
    budget.on_answered(send(budget, clock, 1)[0])
    clock.t += (1 - DECREASE) / RECOVERY_PER_SECOND
    assert budget.factor == 1.0


def refuse(budget: RateBudget, clock: FakeClock, n: int = 2) -> None:
    """A congestion event of `n` 429s (requests sent one after the other, refused together)."""
    for slot in send(budget, clock, n):
        budget.on_rate_limited(slot, wait=0.0)


def test_a_budget_refused_again_settles_under_the_pace_refused():
    """A second event before the pace is back to full: the budget is above the server's limit. The pace
    grows back quickly to APPROACH of the refused pace, then slowly, instead of overshooting again."""
    clock = FakeClock()
    budget = RateBudget(600, None, clock=clock)
    refuse(budget, clock)  # at full pace
    budget.on_answered(send(budget, clock, 1)[0])
    clock.t += 2.0  # growing back: 0.5 -> 0.7
    refused = budget.factor
    assert refused == pytest.approx(DECREASE + RECOVERY_PER_SECOND * 2.0)
    refuse(budget, clock)
    assert budget.slowdowns == 2 and budget.factor == pytest.approx(DECREASE * refused)
    budget.on_answered(send(budget, clock, 1)[0])
    start = clock.t
    to_knee = (APPROACH - DECREASE) * refused / RECOVERY_PER_SECOND
    clock.t = start + to_knee
    assert budget.factor == pytest.approx(APPROACH * refused)  # quickly up to here
    clock.t += 1.0
    assert budget.factor == pytest.approx(APPROACH * refused + RECOVERY_PER_SECOND * SLOW_RECOVERY_SHARE)
    assert budget.factor < refused


def test_a_429_at_full_pace_soon_after_a_cut_is_that_cut_overshooting():
    def after_second_429(gap_seconds: float) -> RateBudget:
        clock = FakeClock()
        budget = RateBudget(600, None, clock=clock)
        refuse(budget, clock)
        budget.on_answered(send(budget, clock, 1)[0])
        clock.t += gap_seconds  # long enough to be back at full pace
        refuse(budget, clock)
        budget.on_answered(send(budget, clock, 1)[0])
        clock.t += 10.0  # twice what half pace takes to grow back to full
        return budget

    assert after_second_429(10.0).factor < 0.9  # slowly past APPROACH of the refused (full) pace
    assert after_second_429(RECENT_CUT_SECONDS + 10.0).factor == 1.0  # a one-off, long after: full pace


def test_a_lone_429_whose_next_request_is_answered_is_a_near_miss_that_costs_little():
    """One request over the limit (jitter bunched two requests): the next one sent is answered. The cut
    is mostly given back (ONE_OFF_FACTOR of the refused pace) and the bookings made at the cut pace are
    redone at that pace; with a second 429 in the event the cut stands."""
    for extra_429s, expected in ((0, ONE_OFF_FACTOR), (1, DECREASE)):
        clock = FakeClock()
        budget = RateBudget(600, None, clock=clock)
        refuse(budget, clock, 1 + extra_429s)
        booked_slow = [budget.reserve(1) for _ in range(4)]  # other senders book at the cut pace meanwhile
        assert booked_slow[-1].send_at - booked_slow[0].send_at == pytest.approx(3 * GAP_600 / DECREASE)
        clock.t = booked_slow[0].send_at
        answered = budget.take(booked_slow[0])
        assert isinstance(answered, Slot)
        budget.on_answered(answered)
        assert budget.factor == pytest.approx(expected)
        assert budget.still_valid(booked_slow[1]) == (expected == DECREASE)  # near miss: booked again
        if expected == ONE_OFF_FACTOR:
            again = [budget.reserve(1).send_at for _ in range(3)]
            gaps = [b - a for a, b in itertools.pairwise(again)]
            assert all(GAP_600 <= g <= GAP_600 / ONE_OFF_FACTOR + 1e-9 for g in gaps)  # not the cut pace's


def test_requests_that_go_out_late_keep_their_spacing():
    """A stall (the process paused) makes three booked slots due at once: one more may leave right
    behind the first, the third keeps a full spacing from the second."""
    clock = FakeClock()
    budget = RateBudget(600, None, clock=clock)
    slots = [budget.reserve(1) for _ in range(3)]
    clock.t = slots[-1].send_at + 0.5  # everyone woke 0.5 s late
    first, second = budget.take(slots[0]), budget.take(slots[1])
    assert isinstance(first, Slot) and isinstance(second, Slot)
    third = budget.take(slots[2])
    assert third == pytest.approx(clock.t + GAP_600)  # not now: wait for the spacing
    clock.t = third
    assert isinstance(budget.take(slots[2]), Slot)


def test_on_time_requests_are_not_slowed_by_small_wake_up_delays():
    clock = FakeClock()
    budget = RateBudget(600, None, clock=clock)
    sent = []
    for i in range(20):
        slot = budget.reserve(1)
        clock.t = slot.send_at + (0.02 if i % 2 else 0.0)  # every other sender wakes 20 ms late
        taken = budget.take(slot)
        assert isinstance(taken, Slot)
        sent.append(taken.send_at)
    assert sent[-1] - sent[0] == pytest.approx(19 * GAP_600 + 0.0, abs=0.03)  # no drift


# --- against a simulated sliding-window server --------------------------------------------------------------

def run(budget_rpm: float, **server) -> tuple[float, object, SlidingWindowServer]:
    clock = FakeClock()
    budget = RateBudget(budget_rpm, None, clock=clock)
    fake = SlidingWindowServer(limit=60, window=3.0, **server)  # 1,200 RPM in 3 s windows, like the bench
    result = simulate(budget, clock, fake, batches=376, concurrency=16)
    return result.share_of_limit(376, fake), result, fake


def test_a_budget_twice_the_limit_finds_it_with_few_429s():
    share, result, _ = run(2400)
    assert share >= 0.80  # the limit found from 429s alone (no limit headers)
    assert result.rate_limited <= 30 and result.slowdowns <= 6  # not one cut (and pause) per 429


def test_a_budget_at_the_limit_uses_it_without_a_429():
    share, result, fake = run(1200)
    assert share >= 0.92 and result.rate_limited == 0 and result.busiest_window <= fake.limit


def test_a_burst_of_429s_first_costs_the_waits_asked_and_no_cut():
    share, result, _ = run(1200, refuse_first=3, refuse_first_wait=0.2)
    assert result.slowdowns == 0 and share >= 0.90


def test_a_429_from_jitter_at_the_right_budget_costs_little():
    baseline, _, _ = run(1200)
    share, result, _ = run(1200, refuse_numbers=(100,), refuse_first_wait=0.05)  # one request refused mid-run
    assert result.slowdowns == 1 and share >= baseline - 0.02


def test_poll_waits_out_a_pause_and_voids_only_older_bookings():
    """What acquire loops on (and what a budget shared as a Ray actor answers): the time to wait, the slot
    once its time has come, None only for a booking a 429 made void — never for one booked after the 429,
    whose time lies at the end of the pause (else a sender would book again and again until it ends)."""
    clock = FakeClock()
    budget = RateBudget(600, None, clock=clock)
    sent, = send(budget, clock, 1)
    older = budget.reserve(1)
    budget.on_rate_limited(sent, 2.0)
    assert budget.poll(older) is None
    fresh = budget.reserve(1)
    assert budget.poll(fresh) == pytest.approx(2.0)          # wait out the pause, the booking stands
    clock.t += 2.0
    taken = budget.poll(fresh)
    assert isinstance(taken, Slot) and taken.send_at == clock.t
    later = budget.reserve(1)
    assert budget.poll(later) == pytest.approx(later.send_at - clock.t) and budget.poll(later) > 0
