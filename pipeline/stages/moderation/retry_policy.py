"""How long to wait before retrying: the server's own hint first, else exponential backoff with jitter."""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

MAX_HINT_SECONDS = 120.0  # a retry-after beyond this is clamped (the retry budget then decides)


def retry_after_seconds(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """The wait a 429/503 answer asks for: `retry-after-ms` (milliseconds, OpenAI's precise form), else
    `retry-after` (seconds, or an HTTP date). None when absent or unreadable."""
    if not headers:
        return None
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return _clamp(float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return _clamp(float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return _clamp(when.timestamp() - (time.time() if now is None else now))


def _clamp(seconds: float) -> float | None:
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), MAX_HINT_SECONDS)


@dataclass
class Backoff:
    """Exponential backoff with "equal jitter": attempt k waits between d/2 and d, d = min(cap, base * 2**k)."""

    base: float = 1.0
    cap: float = 30.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int) -> float:
        d = min(self.cap, self.base * (2 ** max(attempt, 0)))
        return d / 2 + self.rng.random() * d / 2
