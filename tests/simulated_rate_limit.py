"""A deterministic simulation of the moderation senders against a rate-limited server, on a fake clock.

The server counts requests over a sliding window (rejected ones too, as OpenAI does) and answers 429 with
the wait until the oldest counted request leaves the window, like tests/fake_moderation_server.py; an
accepted request is answered after `latency` seconds, a refused one at once. `concurrency` senders each
take the next batch, book a slot in the RateBudget, sleep until it (waking every WAKE_SECONDS to notice a
voided booking, as RateBudget.acquire does), send, and on a 429 retry after the budget's pause. No thread,
no socket, no real time: a run of hundreds of requests takes milliseconds and gives the same figures on
any machine, so tests can hold the pacing to numbers. Pipeline code must never import this module.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from dataclasses import dataclass, field

from pipeline.stages.moderation.rate_budget import WAKE_SECONDS, RateBudget, Slot


class FakeClock:
    def __init__(self, t: float = 1000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


@dataclass
class SlidingWindowServer:
    limit: int  # requests accepted in any `window` seconds
    window: float
    latency: float = 0.1
    refuse_first: int = 0  # answer the first requests 429 whatever the count (a burst from a busy server)
    refuse_first_wait: float = 0.2
    refuse_numbers: tuple[int, ...] = ()  # also answer these requests (1-based, in arrival order) 429: jitter
    counted: deque = field(default_factory=deque)
    log: list = field(default_factory=list)  # (arrival time, accepted)

    def arrive(self, t: float) -> tuple[float | None, float]:
        """(None, answer delay) when accepted, else (the retry-after of the 429, answer delay)."""
        while self.counted and self.counted[0] <= t - self.window:
            self.counted.popleft()
        if self.refuse_first > 0 or len(self.log) + 1 in self.refuse_numbers:  # counted, answered as usual
            self.refuse_first = max(0, self.refuse_first - 1)
            self.counted.append(t)
            self.log.append((t, True))
            return self.refuse_first_wait, self.latency
        full = len(self.counted) >= self.limit
        wait = self.counted[0] + self.window - t if full else None
        self.counted.append(t)  # refused requests count too
        self.log.append((t, not full))
        return wait, (0.0 if full else self.latency)

    def busiest_window(self) -> int:
        times = [t for t, ok in self.log if ok]
        lo, best = 0, 0
        for hi, t in enumerate(times):
            while times[lo] <= t - self.window:
                lo += 1
            best = max(best, hi - lo + 1)
        return best


@dataclass
class SimulationResult:
    seconds: float  # from the first booking to the last answer
    requests: int
    rate_limited: int
    slowdowns: int
    busiest_window: int

    def share_of_limit(self, batches: int, server: SlidingWindowServer) -> float:
        return batches / self.seconds / (server.limit / server.window)


def simulate(budget: RateBudget, clock: FakeClock, server: SlidingWindowServer, batches: int,
             concurrency: int, probe_first: bool = True) -> SimulationResult:
    """Send `batches` requests through `budget` to `server`, as the screener does: with probe_first, one
    request goes alone and the others start once it has an answer (a 429 included, without a cut)."""
    start = clock.t
    events: list[tuple[float, int, object]] = []
    order = itertools.count()
    todo = deque(range(batches))
    state = {"probe_answered": not probe_first, "last_answer": start}
    stats = {"requests": 0, "rate_limited": 0}

    def at(t: float, action) -> None:
        heapq.heappush(events, (t, next(order), action))

    def book(alone: bool):
        slot = budget.reserve(1)
        at(min(slot.send_at, clock.t + WAKE_SECONDS), lambda: wake(slot, slot.send_at, alone))

    def wake(slot: Slot, send_at: float, alone: bool):
        if slot.epoch != budget._epoch and clock.t < send_at:  # acquire notices a void booking early
            return book(alone)
        if clock.t < send_at:
            return at(min(send_at, clock.t + WAKE_SECONDS), lambda: wake(slot, send_at, alone))
        taken = budget.take(slot)
        if taken is None:
            return book(alone)
        if not isinstance(taken, Slot):
            return at(taken, lambda: wake(slot, taken, alone))
        sent_alone = alone and not state["probe_answered"]
        stats["requests"] += 1
        wait, delay = server.arrive(clock.t)
        if wait is None:
            at(clock.t + delay, lambda: answered(taken, alone))
        else:
            at(clock.t + delay, lambda: rate_limited(taken, wait, alone, sent_alone))

    def rate_limited(slot: Slot, wait: float, alone: bool, sent_alone: bool):
        stats["rate_limited"] += 1
        budget.on_rate_limited(slot, wait, cut=not sent_alone)
        if alone:
            release()
        book(alone)

    def answered(slot: Slot, alone: bool):
        budget.on_answered(slot)
        state["last_answer"] = clock.t
        if alone:
            release()
        next_batch()

    def release():
        if not state["probe_answered"]:
            state["probe_answered"] = True
            for _ in range(concurrency):
                next_batch()

    def next_batch():
        if todo:
            todo.popleft()
            book(False)

    if probe_first:
        todo.popleft()
        book(True)
    else:
        for _ in range(concurrency):
            next_batch()
    while events:
        t, _, action = heapq.heappop(events)
        clock.t = max(clock.t, t)
        action()
    return SimulationResult(state["last_answer"] - start, stats["requests"], stats["rate_limited"],
                            budget.slowdowns, server.busiest_window())
