"""Pacing requests under a requests-per-minute and a tokens-per-minute budget, adapting to 429s.

Requests are spaced evenly (no bursts): each reservation moves a "next free time" forward by 60/RPM
seconds, and a token clock by tokens*60/TPM seconds; a request goes out when both clocks allow. The
spacing is also kept between the requests that actually go out (a sender that woke late, e.g. after a
pause of the whole process, pushes the next ones back instead of leaving with them in a bunch). This
keeps any window of the server's counting at or under the budget (give or take one request), so the
stage aims at PACE_FRACTION of the configured budgets to absorb clock and network jitter.

AIMD, once per congestion event. The first 429 of an event halves the pace and pauses every sender for
the server's retry-after; the bookings made before it are void and their reservations returned (a 429
costs what the server asks, not a queue of phantom slots). The event lasts until the server answers a
request sent after it began: the 429s of requests sent before then (in flight at the cut, or sent right
after the pause into a server window still full of earlier requests) neither cut again nor pause longer
than their own retry-after (the pause ends at the latest end asked for, not after a sum of waits), and
the retries go out at the cut pace, not all at once when a pause ends. An event of a single 429 whose
next request is answered was a near miss (one request over, e.g. two bunched by jitter): most of the cut
is given back (ONE_OFF_FACTOR of the refused pace). A 429 on a request sent alone opens an event without
cutting (the server is busy for other reasons than our pace).

Once the server answers again the pace grows back linearly with time, RECOVERY_PER_SECOND of the full
pace per second (by time, not per success, so a deep cut does not leave the stage crawling for long).
When the refused pace was under the full one, or a cut came less than RECENT_CUT_SECONDS before (the
budget is above the server's real limit), the pace grows back quickly only up to APPROACH of the refused
pace and slowly beyond it, so it settles just under the limit instead of overshooting it again at full
speed.

The per-minute limits OpenAI announces in x-ratelimit-limit-requests / -tokens headers replace the
configured ones (follow_server=True: the account's real limits, higher or lower; False: only lower ones,
for a budget deliberately kept under the account's, e.g. to leave room for other jobs).
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

PACE_FRACTION = 0.95
DECREASE = 0.5
RECOVERY_PER_SECOND = 0.1  # from half pace back to full pace in 5 s
APPROACH = 0.8  # budget above the limit: quickly back up to this share of the pace refused...
SLOW_RECOVERY_SHARE = 0.1  # ...then at this share of RECOVERY_PER_SECOND
MIN_FACTOR = 0.02
ONE_OFF_FACTOR = 0.9  # an event of one 429 (the next request answered) leaves this share of the refused pace
RECENT_CUT_SECONDS = 60.0  # a 429 at full pace this soon after the last cut is that cut's overshoot
SEND_TOLERANCE = 1.0  # a request may follow the one before this share of the spacing early when that one went late
WAKE_SECONDS = 0.25  # a waiting sender rechecks the pace this often


@dataclass(frozen=True)
class Slot:
    send_at: float  # clock time the request may be sent (once acquired: the time it went out)
    epoch: int  # the budget's congestion epoch when reserved (a 429 starts a new one)
    request_gap: float = 0.0  # seconds to the next request at the pace it was booked at...
    token_gap: float = 0.0  # ...and the seconds its tokens take at that pace


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
        self._knee = math.inf  # past this factor the pace grows back slowly (APPROACH x the pace refused)
        self._recovering_since = -math.inf  # when it started growing back (the server's first answer after a cut)
        self._clock = clock
        self._lock = threading.Lock()
        self._next_request = -math.inf  # the clocks of the bookings...
        self._next_token = -math.inf
        self._sent_request = -math.inf  # ...and of the requests that actually went out
        self._sent_token = -math.inf
        self._paused_until = -math.inf
        self._event_since = -math.inf  # when the last congestion event began
        self._last_cut = -math.inf
        self._news_since = -math.inf  # a 429 for a request sent from then on begins a new event
        self._event_429s = 0  # the 429s of the event in course (or of the last one) if it began with a cut
        self._refused = 1.0  # the pace factor the last cut was made from
        self._epoch = 0

    # --- reserving -----------------------------------------------------------------------------
    def reserve(self, tokens: int) -> Slot:
        """Book the next send time for a request of `tokens` (estimated) tokens."""
        with self._lock:
            now = self._clock()
            start = max(now, self._next_request, self._next_token, self._paused_until)
            pace = PACE_FRACTION * self._factor_at(start)
            request_gap = 60.0 / (self.requests_per_minute * pace)
            token_gap = tokens * 60.0 / (self.tokens_per_minute * pace) if self.tokens_per_minute else 0.0
            self._next_request = start + request_gap
            if self.tokens_per_minute:
                self._next_token = start + token_gap
            return Slot(start, self._epoch, request_gap, token_gap)

    def still_valid(self, slot: Slot) -> bool:
        """False when a 429 arrived after `slot` was booked: the sender must book again."""
        with self._lock:
            return self._valid(slot)

    def _valid(self, slot: Slot) -> bool:
        return slot.epoch == self._epoch and self._clock() >= self._paused_until

    def acquire(self, tokens: int, stop: threading.Event) -> Slot | None:
        """Block until a request of `tokens` may go out; None when `stop` was set while waiting."""
        return acquire(self, tokens, stop)

    def poll(self, slot: Slot) -> Slot | float | None:
        """Non-blocking: the slot as sent (its time has come), the seconds to wait before asking again, or None
        when it is void (book again). What `acquire` loops on; a budget shared between processes answers it
        in one round trip (the waiting is done by the caller, on its own clock)."""
        with self._lock:
            if slot.epoch != self._epoch:
                return None
            delay = slot.send_at - self._clock()  # a slot is never booked inside a pause: wait for its time first
        if delay > 0:
            return delay
        taken = self.take(slot)
        return taken - self._clock() if isinstance(taken, float) else taken

    def take(self, slot: Slot) -> Slot | float | None:
        """The slot's time has come. None: it is void (book again). A time: the request before it went out
        late, wait until then to keep the spacing. Else the slot as sent (send_at = now)."""
        with self._lock:
            if not self._valid(slot):
                return None
            ready = max(self._sent_request, self._sent_token) - SEND_TOLERANCE * slot.request_gap
            now = self._clock()
            if now < ready:
                return ready
            self._sent_request = max(self._sent_request, now) + slot.request_gap
            self._sent_token = max(self._sent_token, now) + slot.token_gap
            return dataclasses.replace(slot, send_at=now)

    # --- feedback ------------------------------------------------------------------------------
    @property
    def factor(self) -> float:
        """The current fraction of the full pace (1.0 = no 429 lately)."""
        with self._lock:
            return self._factor_at(self._clock())

    def _factor_at(self, t: float) -> float:
        grown = RECOVERY_PER_SECOND * max(0.0, t - self._recovering_since)
        knee = max(self._knee, self._cut_factor)
        if self._cut_factor + grown <= knee:
            return min(1.0, self._cut_factor + grown)
        return min(1.0, knee + (self._cut_factor + grown - knee) * SLOW_RECOVERY_SHARE)

    def on_rate_limited(self, slot: Slot, wait: float, cut: bool = True) -> None:
        """A request sent at `slot` got a 429 asking to wait `wait` seconds. The first 429 of a congestion
        event cuts the pace (unless cut=False: a request sent alone cannot have been over the pace); the
        others only pause, and only when they ask to wait beyond the pause already in force."""
        with self._lock:
            now = self._clock()
            until = now + wait
            if slot.send_at >= self._news_since:  # a new congestion event
                self._news_since = math.inf  # until the server answers a request sent after now
                self._event_since = now
                self._event_429s = 1 if cut else 0
                if cut:
                    refused = self._refused = self._factor_at(slot.send_at)  # the pace that was too much
                    # refused before the pace was back to full, or soon after: the budget is above the
                    # server's limit, which lies under the refused pace (else a one-off: grow back to full)
                    above = refused < 1.0 or now - self._last_cut < RECENT_CUT_SECONDS
                    self._knee = APPROACH * refused if above else math.inf
                    self._last_cut = now
                    self._cut_factor = max(MIN_FACTOR, refused * DECREASE)
                    self._recovering_since = math.inf  # until the server answers again (on_answered)
                    self.slowdowns += 1
            else:
                if self._news_since == math.inf and self._event_429s:
                    self._event_429s += 1  # more than the one that cut: not a near miss
                if until <= self._paused_until:
                    return  # already paused at least this long: the bookings stand
            self._paused_until = max(self._paused_until, until)
            # every booking not yet sent is void (the epoch moves on) and its reservation returned: the
            # senders book again from the end of the pause, no closer than the pace to the last request
            # that went out, instead of queueing behind phantom slots
            self._next_request = max(self._paused_until, self._sent_request)
            self._next_token = max(self._paused_until, self._sent_token)
            self._epoch += 1

    def on_answered(self, slot: Slot) -> None:
        """The server answered the request sent at `slot`. The first answer to a request sent after a
        congestion event began ends it: the pace grows back from now, and a later 429 is news again."""
        with self._lock:
            if self._news_since == math.inf and slot.send_at >= self._event_since:
                now = self._clock()
                self._news_since = now
                if self._event_429s == 1:  # one request over, the next one answered: a near miss
                    self._cut_factor = max(self._cut_factor, ONE_OFF_FACTOR * self._refused)
                    # the bookings made at the cut pace are void: the senders book again at this one
                    self._next_request, self._next_token = self._sent_request, self._sent_token
                    self._epoch += 1
                if self._recovering_since == math.inf:
                    self._recovering_since = now

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
                # slots booked at the old pace are void: waiting senders book again at the new one; a pace
                # refused under the old limits says nothing about the new ones
                now = self._clock()
                self._next_request = min(self._next_request, now)
                self._next_token = min(self._next_token, now)
                self._sent_request = min(self._sent_request, now)
                self._sent_token = min(self._sent_token, now)
                self._knee = math.inf
                self._epoch += 1


class Budget(Protocol):
    """What the screener needs of a rate budget: a RateBudget, or a proxy to one shared by several processes
    (RayExecutor.shared: an actor). Every method returns at once; waiting happens in `acquire` below."""

    follow_server: bool

    def reserve(self, tokens: int) -> Slot: ...
    def poll(self, slot: Slot) -> Slot | float | None: ...
    def on_rate_limited(self, slot: Slot, wait: float, cut: bool = True) -> None: ...
    def on_answered(self, slot: Slot) -> None: ...
    def observe_limits(self, requests: float | None, tokens: float | None) -> None: ...


def acquire(budget: Budget, tokens: int, stop: threading.Event) -> Slot | None:
    """Block until a request of `tokens` may go out under `budget`; None when `stop` was set while waiting.
    A waiting sender books again when the pace changed meanwhile (a 429, new server limits): it asks again
    at least every WAKE_SECONDS."""
    while not stop.is_set():
        slot = budget.reserve(tokens)
        while not stop.is_set():
            answer = budget.poll(slot)
            if answer is None:
                break  # void: book again
            if isinstance(answer, Slot):
                return answer
            stop.wait(min(answer, WAKE_SECONDS))
    return None
