"""Pacing requests under a requests-per-minute and a tokens-per-minute budget, adapting to 429s.

Requests are spaced evenly (no bursts): each reservation moves a "next free time" forward by 60/RPM
seconds, and a token clock by tokens*60/TPM seconds; a request goes out when both clocks allow. This
keeps any window of the server's counting at or under the budget (give or take one request), so the
stage aims at PACE_FRACTION of the configured budgets to absorb clock and network jitter.

AIMD: a 429 halves the pace (once per congestion event: 429s for requests sent before the last cut do
not cut again) and pauses every sender for the server's retry-after (the bookings made before the 429 are
void and their reservations returned, so a 429 costs what the server asks, not a queue of phantom slots); once the pause is over the pace
grows back linearly, RECOVERY_PER_SECOND of the full pace per second (by time, not per success, so a
deep cut does not leave the stage crawling for long at a low rate).

The per-minute limits OpenAI announces in x-ratelimit-limit-requests / -tokens headers replace the
configured ones (follow_server=True: the account's real limits, higher or lower; False: only lower ones,
for a budget deliberately kept under the account's, e.g. to leave room for other jobs).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

PACE_FRACTION = 0.95
DECREASE = 0.5
RECOVERY_PER_SECOND = 0.1  # from half pace back to full pace in 5 s
MIN_FACTOR = 0.02
WAKE_SECONDS = 0.25  # a waiting sender rechecks the pace this often


@dataclass(frozen=True)
class Slot:
    send_at: float  # clock time the request may be sent
    epoch: int  # the budget's congestion epoch when reserved (a 429 starts a new one)


class RateBudget:
    def __init__(self, requests_per_minute: float, tokens_per_minute: float | None = None,
                 clock: Callable[[], float] = time.monotonic, follow_server: bool = True):
        if requests_per_minute <= 0 or (tokens_per_minute is not None and tokens_per_minute <= 0):
            raise ValueError("budgets must be positive")
        self.requests_per_minute = float(requests_per_minute)
        self.tokens_per_minute = float(tokens_per_minute) if tokens_per_minute else None
        self.follow_server = follow_server
        self.slowdowns = 0
        self._cut_factor = 1.0  # the pace factor right after the last cut
        self._recovering_since = -math.inf  # when it started growing back (the end of the 429 pause)
        self._clock = clock
        self._lock = threading.Lock()
        self._next_request = -math.inf
        self._next_token = -math.inf
        self._paused_until = -math.inf
        self._last_cut = -math.inf
        self._epoch = 0

    # --- reserving -----------------------------------------------------------------------------
    def reserve(self, tokens: int) -> Slot:
        """Book the next send time for a request of `tokens` (estimated) tokens."""
        with self._lock:
            now = self._clock()
            start = max(now, self._next_request, self._next_token, self._paused_until)
            pace = PACE_FRACTION * self._factor_at(start)
            self._next_request = start + 60.0 / (self.requests_per_minute * pace)
            if self.tokens_per_minute:
                self._next_token = start + tokens * 60.0 / (self.tokens_per_minute * pace)
            return Slot(start, self._epoch)

    def still_valid(self, slot: Slot) -> bool:
        """False when a 429 arrived after `slot` was booked: the sender must book again."""
        with self._lock:
            return slot.epoch == self._epoch and self._clock() >= self._paused_until

    def acquire(self, tokens: int, stop: threading.Event) -> Slot | None:
        """Block until a request of `tokens` may go out; None when `stop` was set while waiting.
        A waiting sender books again when the pace changed meanwhile (a 429, new server limits)."""
        while True:
            slot = self.reserve(tokens)
            while (delay := slot.send_at - self._clock()) > 0 and slot.epoch == self._epoch:
                if stop.wait(min(delay, WAKE_SECONDS)):
                    return None
            if stop.is_set():
                return None
            if self.still_valid(slot):
                return slot

    # --- feedback ------------------------------------------------------------------------------
    @property
    def factor(self) -> float:
        """The current fraction of the full pace (1.0 = no 429 lately)."""
        with self._lock:
            return self._factor_at(self._clock())

    def _factor_at(self, t: float) -> float:
        return min(1.0, self._cut_factor + RECOVERY_PER_SECOND * max(0.0, t - self._recovering_since))

    def on_rate_limited(self, slot: Slot, wait: float, cut: bool = True) -> None:
        """A request booked at `slot` got a 429 asking to wait `wait` seconds. cut=False: only pause (a
        request sent alone cannot have been over the pace; the server is busy for other reasons)."""
        with self._lock:
            now = self._clock()
            self._paused_until = max(self._paused_until, now + wait)
            if cut and slot.send_at >= self._last_cut:
                self._cut_factor = max(MIN_FACTOR, self._factor_at(now) * DECREASE)
                self._recovering_since = self._paused_until
                self._last_cut = now
                self.slowdowns += 1
            # every booking is void (the epoch moves on): its reservation is returned, so the senders book
            # again from the end of the pause instead of queueing behind phantom slots
            self._next_request = self._paused_until
            self._next_token = self._paused_until
            self._epoch += 1

    def observe_limits(self, requests: float | None, tokens: float | None) -> None:
        """Adopt the per-minute limits the server announced (only lower ones unless follow_server)."""
        with self._lock:
            before = (self.requests_per_minute, self.tokens_per_minute)
            if requests and requests > 0 and (self.follow_server or requests < self.requests_per_minute):
                self.requests_per_minute = float(requests)
            if tokens and tokens > 0 and (self.follow_server or self.tokens_per_minute is None
                                          or tokens < self.tokens_per_minute):
                self.tokens_per_minute = float(tokens)
            if (self.requests_per_minute, self.tokens_per_minute) != before:
                # slots booked at the old pace are void: waiting senders book again at the new one
                now = self._clock()
                self._next_request = min(self._next_request, now)
                self._next_token = min(self._next_token, now)
                self._epoch += 1
