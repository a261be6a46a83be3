"""One moderation request through the official `openai` SDK, its failures sorted into retryable and fatal.

The SDK reads OPENAI_API_KEY and OPENAI_BASE_URL itself. Its own retries are off (max_retries=0): the
screener decides when and how often to retry. No message leaving this module contains the key: every
text built from a server answer or an SDK exception goes through `redact`.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import openai

from pipeline.stages.moderation.response import BadResponse, ModerationResult, parse_results
from pipeline.stages.moderation.retry_policy import retry_after_seconds

DEFAULT_BASE_URL = "https://api.openai.com/v1"
KEY_PLACEHOLDER = "[OPENAI_API_KEY]"
_BAD_URL_ERRORS = {"UnsupportedProtocol", "InvalidURL"}  # the HTTP library's names: retrying cannot help


def api_key_from_env() -> str | None:
    key = os.environ.get("OPENAI_API_KEY", "").strip()
    return key or None


def base_url_from_env() -> str:
    return (os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")


def endpoint_id(base_url: str) -> str:
    """A short hash naming the endpoint (the URL itself may carry credentials, so it is not stored)."""
    return hashlib.sha256(base_url.rstrip("/").encode()).hexdigest()[:16]


def redact(text: str, key: str | None) -> str:
    return text.replace(key, KEY_PLACEHOLDER) if key else text


Limits = tuple[float | None, float | None]  # per-minute (requests, tokens) announced by x-ratelimit-limit-*


class RetryableError(Exception):
    """A failure worth retrying. kind: rate_limited | server_error | timeout | connection | bad_response."""

    def __init__(self, kind: str, message: str, retry_after: float | None = None, too_large: bool = False,
                 limits: Limits = (None, None)):
        super().__init__(message)
        self.kind, self.retry_after, self.too_large, self.limits = kind, retry_after, too_large, limits


@dataclass(frozen=True)
class Classified:
    results: list[ModerationResult]  # in input order
    limits: Limits


class FatalError(Exception):
    """A failure retrying cannot fix (bad key, unknown model, quota exhausted)."""


class InputRejected(Exception):
    """The server refused the request as invalid (HTTP 400): an input it cannot take, found by splitting."""


class ModerationClient:
    def __init__(self, model: str, timeout_seconds: float):
        self.model = model
        self._key = api_key_from_env()
        self.base_url = base_url_from_env()
        import openai  # here, not at import time: the SDK takes ~0.4 s to import and most runs never call it

        self._sdk = openai.OpenAI(api_key=self._key, base_url=self.base_url, max_retries=0,
                                  timeout=timeout_seconds)

    def close(self) -> None:
        self._sdk.close()

    def classify(self, texts: list[str]) -> Classified:
        """One request for `texts`. Raises RetryableError or FatalError."""
        import openai

        try:
            raw = self._sdk.moderations.with_raw_response.create(model=self.model, input=texts)
            body = raw.content
            headers = raw.headers
        except openai.APITimeoutError as e:
            raise RetryableError("timeout", "the request timed out") from e
        except openai.APIConnectionError as e:
            cause = e.__cause__ or e
            if type(cause).__name__ in _BAD_URL_ERRORS:
                raise FatalError(self._safe(f"OPENAI_BASE_URL {self.base_url!r} is not a usable URL ({cause}); "
                                            f"expected e.g. https://api.openai.com/v1")) from e
            raise RetryableError("connection", self._safe(f"connection failed: {type(cause).__name__}: {cause}")) from e
        except openai.APIStatusError as e:
            raise self._status_error(e) from e
        except openai.OpenAIError as e:  # anything else the SDK raises is a failure we cannot classify
            raise RetryableError("bad_response", self._safe(f"{type(e).__name__}: {e}")) from e
        limits = _limits(headers)
        try:
            return Classified(parse_results(body, len(texts)), limits)
        except BadResponse as e:
            raise RetryableError("bad_response", self._safe(f"unusable answer: {e}"), limits=limits) from e

    def _status_error(self, e: openai.APIStatusError) -> Exception:
        status = e.status_code
        code = getattr(e, "code", None)
        detail = self._safe(_error_text(e))
        where = f"{self.base_url}/moderations"
        if status == 429:
            if code == "insufficient_quota":
                return FatalError(f"{where} answered 429 insufficient_quota: the account has no quota left ({detail})")
            too_large = "request too large" in detail.lower()
            return RetryableError("rate_limited", f"HTTP 429: {detail}", retry_after_seconds(e.response.headers),
                                  too_large=too_large, limits=_limits(e.response.headers))
        if status >= 500 or status in (408, 409):
            return RetryableError("server_error", f"HTTP {status}: {detail}", retry_after_seconds(e.response.headers),
                                  limits=_limits(e.response.headers))
        if status == 401:
            return FatalError(f"{where} rejected OPENAI_API_KEY (HTTP 401{', ' + code if code else ''}); "
                              f"check the key (and OPENAI_BASE_URL, if set)")
        if status == 403:
            return FatalError(f"{where} refused access (HTTP 403): {detail}")
        if status == 404:
            return FatalError(f"{where} answered 404 for model {self.model!r}: {detail} "
                              f"(check stages.moderation.model and OPENAI_BASE_URL)")
        if status == 400:
            return InputRejected(f"HTTP 400: {detail}")
        return FatalError(f"{where} rejected the request (HTTP {status}): {detail}")

    def _safe(self, text: str) -> str:
        return redact(text, self._key)


def _error_text(e: openai.APIStatusError) -> str:
    """The server's error message (OpenAI's JSON `error.message`), else a short snippet of the body."""
    body = e.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return inner["message"][:300]
    try:
        text = e.response.text
    except (UnicodeDecodeError, LookupError, RuntimeError):  # unreadable body: the status code must do
        text = ""
    title = re.search(r"<title>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
    if title:  # an HTML error page from a proxy or load balancer
        return f"HTML page {' '.join(title.group(1).split())[:80]!r}"
    text = " ".join(text.split())
    return (text[:120] + "…") if len(text) > 120 else (text or "no details")


def _limits(headers) -> Limits:
    return _number(headers.get("x-ratelimit-limit-requests")), _number(headers.get("x-ratelimit-limit-tokens"))


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
