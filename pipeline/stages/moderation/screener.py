"""Screening many texts: cache lookup, batching, concurrent paced requests, retries, progress.

Unique texts (by sha256) not yet in the cache are grouped into batches (up to `batch_size` inputs and
`batch_max_tokens` estimated tokens; one OpenAI request classifies a whole array; when the budget follows
the server's announced limits, the first request carries one input so those limits are learned before the
big batches are paced; they start at its first answer, a 429 included: OpenAI's carry the limits too, and its
wait is then in force for every sender) and sent by `concurrency` worker threads, each request waiting for
its slot in the RateBudget. Answers are written to the cache by the calling thread as each batch completes. A batch that fails is retried: 429s honour the server's
retry-after and slow everyone down (AIMD) until 429s alone have lasted `rate_limited_give_up_seconds`;
5xx, timeouts, dropped connections and unusable answers back off exponentially. A batch the server refuses
(HTTP 400, e.g. one input it cannot take) is split in halves until the refused inputs are alone: those go to
`rejected` (sha256 -> the server's message; not cached, so a rerun asks again) and the rest is answered.
When one batch exhausts its retries the others stop, what arrived is kept in the cache, and
ScreeningFailed says what happened.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field

from pipeline.stages.moderation.cache import ModerationCache
from pipeline.stages.moderation.client import FatalError, InputRejected, ModerationClient, RetryableError
from pipeline.stages.moderation.rate_budget import Budget, Slot, acquire
from pipeline.stages.moderation.response import ModerationResult
from pipeline.stages.moderation.retry_policy import Backoff

MAX_REFUSED_BEFORE_AN_ANSWER = 5  # single inputs refused with none answered: the request, not the inputs, is wrong


def estimate_tokens(text: str) -> int:
    """A cheap, deliberately generous token estimate: UTF-8 bytes / 4 (= chars / 4 for English)."""
    return max(1, math.ceil(len(text.encode("utf-8")) / 4))


@dataclass(frozen=True)
class ScreeningSettings:
    batch_size: int = 32
    batch_max_tokens: int = 4000
    concurrency: int = 8
    max_retries: int = 6  # per batch, for 5xx / timeouts / connection errors / unusable answers
    max_rate_limited_retries: int = 30  # per batch, for 429s
    rate_limited_give_up_seconds: float = 600.0  # 429s only, with no answer in between, for this long: give up
    backoff_seconds: float = 1.0
    backoff_cap_seconds: float = 30.0


@dataclass
class ScreeningStats:
    unique: int = 0
    from_cache: int = 0
    sent: int = 0  # inputs answered by the server in this run
    requests: int = 0  # HTTP requests made, including failed ones
    retries: Counter = field(default_factory=Counter)  # failure kind -> count
    rejected_inputs: int = 0  # single inputs the server refused (HTTP 400), found by splitting their batch
    seconds: float = 0.0

    def as_facts(self) -> dict:
        return {"unique_texts": self.unique, "from_cache": self.from_cache, "sent": self.sent,
                "requests": self.requests, "retries": dict(sorted(self.retries.items())),
                "rejected_inputs": self.rejected_inputs,
                "seconds": round(self.seconds, 3),
                "inputs_per_second": round(self.sent / self.seconds, 2) if self.seconds > 0 else None}


class ScreeningFailed(Exception):
    """Screening stopped (retry budget exhausted, or a fatal answer); the message says why."""


class _Stopped(Exception):
    pass


Batch = list[tuple[str, str]]  # (sha256, text)


def make_batches(items: Batch, batch_size: int, max_tokens: int) -> list[Batch]:
    batches: list[Batch] = []
    current: Batch = []
    tokens = 0
    for h, text in items:
        t = estimate_tokens(text)
        if current and (len(current) >= batch_size or tokens + t > max_tokens):
            batches.append(current)
            current, tokens = [], 0
        current.append((h, text))
        tokens += t
    if current:
        batches.append(current)
    return batches


class Screener:
    def __init__(self, client: ModerationClient, cache: ModerationCache, budget: Budget,
                 settings: ScreeningSettings, progress: Callable[..., object] | None = None):
        self.client, self.cache, self.budget, self.settings = client, cache, budget, settings
        self.progress = progress
        self.stats = ScreeningStats()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._backoff = Backoff(settings.backoff_seconds, settings.backoff_cap_seconds)
        self._rate_limited_since: float | None = None  # the first 429 since the last answer
        self._probe_answered = threading.Event()  # the one-input first request got an answer (or gave up)
        self._answered_requests = 0
        self.rejected: dict[str, str] = {}  # sha256 -> the server's message, for inputs it refused (HTTP 400)

    def screen(self, texts: dict[str, str]) -> dict[str, ModerationResult]:
        """Results for every text of `texts` (sha256 -> text), from the cache or the server."""
        t0 = time.perf_counter()
        results = self.cache.get_many(texts)
        self.stats.unique, self.stats.from_cache = len(texts), len(results)
        todo = [(h, t) for h, t in texts.items() if h not in results]
        batches = make_batches(todo, self.settings.batch_size, self.settings.batch_max_tokens)
        probe: Batch = []
        if self.budget.follow_server and len(batches) > 1:
            # a one-input first request, answered before any other is booked: its answer's x-ratelimit
            # headers tell the budget the account's real limits before the big batches are paced at the
            # (conservative) configured ones, and a 429 on it costs only the wait the server asks for
            probe, batches = todo[:1], make_batches(todo[1:], self.settings.batch_size, self.settings.batch_max_tokens)
        bar = self.progress(total=len(texts), initial=len(results), desc="moderation", unit="input") \
            if self.progress and todo else None
        failure: Exception | None = None
        pool = ThreadPoolExecutor(max_workers=self.settings.concurrency, thread_name_prefix="moderation")
        try:
            futures = [pool.submit(self._send, probe, True)] if probe else []
            if futures:
                futures[0].add_done_callback(lambda _: self._probe_answered.set())
                self._probe_answered.wait()  # an answer (a 429 included: OpenAI's carry the limits too)
                if futures[0].done() and futures[0].exception() is not None:  # it failed: reported below
                    batches = []
            futures += [pool.submit(self._send, batch) for batch in batches]
            for future in as_completed(futures):
                try:
                    answered = future.result()
                except _Stopped:
                    continue
                except (FatalError, ScreeningFailed) as e:
                    failure = failure or e
                    self._stop.set()
                    continue
                self.cache.put_many(answered)
                results.update(answered)
                self.stats.sent += len(answered)
                if bar is not None:
                    bar.update(len(answered))
        finally:
            self._stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
            if bar is not None:
                bar.close()
            self.stats.seconds = time.perf_counter() - t0
        if failure is not None:
            raise ScreeningFailed(str(failure)) from failure
        return results

    def _send(self, batch: Batch, alone: bool = False) -> Batch:
        """Worker: classify one batch, retrying as the failure kind allows. Returns (sha256, result) pairs.
        alone: the probe; until it has an answer it is the only request in flight, so a 429 on it pauses
        but does not cut the pace."""
        errors = rate_limited = 0
        texts = [t for _, t in batch]
        tokens = sum(estimate_tokens(t) for t in texts)
        while True:
            slot = acquire(self.budget, tokens, self._stop)
            if slot is None:
                raise _Stopped
            sent_alone = alone and not self._probe_answered.is_set()
            with self._lock:
                self.stats.requests += 1
            try:
                answer = self.client.classify(texts)
            except InputRejected as e:
                return self._bisect(batch, e)
            except RetryableError as e:
                self.budget.observe_limits(*e.limits)
                with self._lock:
                    self.stats.retries[e.kind] += 1
                if e.kind == "rate_limited":
                    if e.too_large:
                        return self._split(batch, e)
                    rate_limited += 1
                    if rate_limited > self.settings.max_rate_limited_retries:
                        raise ScreeningFailed(self._gave_up(batch, rate_limited, e)) from e
                    self._slow_down(slot, e, rate_limited, cut=not sent_alone)
                    if alone:
                        self._probe_answered.set()  # the pause is in force: the batches may book
                    continue
                errors += 1
                if errors > self.settings.max_retries:
                    raise ScreeningFailed(self._gave_up(batch, errors, e)) from e
                wait = e.retry_after if e.retry_after is not None else self._backoff.delay(errors - 1)
                if self._stop.wait(wait):
                    raise _Stopped from e
                continue
            self.budget.observe_limits(*answer.limits)
            self.budget.on_answered(slot)
            if alone:
                self._probe_answered.set()
            with self._lock:
                self._rate_limited_since = None
                self._answered_requests += 1
            return [(h, r) for (h, _), r in zip(batch, answer.results)]

    def _slow_down(self, slot: Slot, e: RetryableError, attempt: int, cut: bool) -> None:
        """Pause every sender for the server's wait, or give up when 429s alone have lasted too long."""
        wait = e.retry_after if e.retry_after is not None else self._backoff.delay(attempt - 1)
        limit = self.settings.rate_limited_give_up_seconds
        now = time.monotonic()
        with self._lock:
            since = self._rate_limited_since = self._rate_limited_since or now
        if now + wait - since > limit:
            raise ScreeningFailed(f"gave up after {now - since:.1f} s of HTTP 429 answers with no request answered "
                                  f"in between (stages.moderation.rate_limited_give_up_seconds: {limit:g}; "
                                  f"the server last asked to wait {wait:g} s; last: {e})") from e
        self.budget.on_rate_limited(slot, wait, cut)

    def _bisect(self, batch: Batch, e: InputRejected) -> Batch:
        """The server refused the request (HTTP 400): split the batch until the refused inputs are alone;
        those are set aside in `rejected` (their examples are rejected) and the others are answered."""
        if len(batch) > 1:
            half = len(batch) // 2
            return self._send(batch[:half]) + self._send(batch[half:])
        with self._lock:
            self.rejected[batch[0][0]] = str(e)
            self.stats.rejected_inputs += 1
            refused_alone = self.stats.rejected_inputs
            answered = self._answered_requests
        if refused_alone >= MAX_REFUSED_BEFORE_AN_ANSWER and answered == 0:
            raise FatalError(f"the server refused {refused_alone} inputs one by one and answered none: the "
                             f"request itself is wrong, not an input ({e})")
        return []

    def _split(self, batch: Batch, e: RetryableError) -> Batch:
        if len(batch) == 1:
            raise FatalError(f"the server says a single input is too large for the tokens-per-minute limit "
                             f"({e}); lower stages.moderation.chunk_chars")
        half = len(batch) // 2
        return self._send(batch[:half]) + self._send(batch[half:])

    def _gave_up(self, batch: Batch, attempts: int, e: RetryableError) -> str:
        return (f"gave up on a batch of {len(batch)} inputs after {attempts} failed attempts "
                f"({e.kind}; last: {e})")
