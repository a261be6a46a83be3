"""A local stand-in for OpenAI's POST /v1/moderations, for tests, the benchmark and trying the stage by hand.

It speaks the real shapes: request {"model", "input": str | [str] | [{"type": "text", ...}]}; answer
{"id", "model", "results": [{"flagged", "categories", "category_scores", "category_applied_input_types"}]}
with all 13 omni categories (11 for text-moderation-*), OpenAI's error bodies, x-ratelimit-* headers.
Scores are realistic: a text from ../shared/realdata/openai-moderation/samples-1680.jsonl gets scores from
OpenAI's own labels (high where labelled 1, low where 0), any other text a keyword model's.

Limits: `rpm` / `tpm` are enforced over a sliding window of `window_seconds` (scaled: rpm=600 with a 1 s
window allows 10 requests in any second), answering 429 with retry-after-ms like OpenAI. Rejected
requests count toward the request limit (as at OpenAI).
Faults: `script(...)` queues faults for the next requests; `fault_rate` picks them at random (seeded):
  429 (retry-after: 1)    429ms (retry-after-ms)   429bare (no hint)    500 (JSON)   502 (HTML body)
  503                     slow (answers after slow_seconds)              close (drops the connection)
  garbage (200, not JSON) short (200, one result missing)                noscores (200, no category_scores)
  ok (a clean answer: script("ok", "ok") with fault_rate=1 lets two requests through, then fails)
  hang (answers only after hang_seconds, past any sane client timeout)
Always-429: fault_rate=1 with fault_mix=("429ms",). `refuse_text`: any request holding an input that contains it
is answered 400 (like OpenAI's invalid_request_error for an input it cannot take); the message quotes the
caller's bearer key, as a careless proxy might, so tests can check that it is redacted.

By hand:  python -m tests.fake_moderation_server --port 8765 --faults
          OPENAI_API_KEY=sk-fake OPENAI_BASE_URL=http://127.0.0.1:8765/v1 python -m pipeline prepare ...
Pipeline code must never import this module.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import signal
import socket
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self

from tests.fake_moderation_scores import (  # noqa: F401 (re-exported for tests and the bench)
    CATEGORIES,
    FLAG_AT,
    LABELS,
    REALDATA_SAMPLES,
    ScoreModel,
    sha256_hex,
)

MODELS = {"omni-moderation-latest": "omni-moderation-2024-09-26",
          "omni-moderation-2024-09-26": "omni-moderation-2024-09-26",
          "text-moderation-latest": "text-moderation-007", "text-moderation-stable": "text-moderation-007",
          "text-moderation-007": "text-moderation-007"}
FAULTS = ("ok", "429", "429ms", "429bare", "500", "502", "503", "slow", "hang", "close", "garbage", "short",
          "noscores")
DEFAULT_MIX = ("429", "429ms", "500", "502", "503", "slow", "close", "garbage", "short", "noscores")


def _tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4))


@dataclass
class RequestRecord:
    arrived: float  # time.monotonic() at arrival
    texts: list[str]
    tokens: int
    status: int = 0
    fault: str | None = None  # the injected fault, "rate_limit" for the enforced limits, None for a clean answer


@dataclass
class FakeModerationServer:
    rpm: float | None = None
    tpm: float | None = None
    window_seconds: float = 60.0
    expected_key: str | None = None  # None: any non-empty bearer key is accepted
    latency: float = 0.0  # seconds added to every answer
    fault_rate: float = 0.0
    fault_mix: tuple[str, ...] = DEFAULT_MIX
    slow_seconds: float = 2.0
    hang_seconds: float = 60.0
    refuse_text: str | None = None  # a 400 for any request with an input containing this
    retry_after_ms: int = 150  # the hint of the 429ms fault...
    retry_after_seconds: int = 1  # ...and its coarser retry-after (also the 429 fault's only hint)
    seed: int = 0
    announce_limits: bool = True  # send x-ratelimit-limit-* headers (OpenAI does)
    samples: Path | None = REALDATA_SAMPLES
    port: int = 0
    log: list[RequestRecord] = field(default_factory=list)

    def __post_init__(self):
        self.model = ScoreModel(self.samples)
        self._lock = threading.Lock()
        self._script: deque[str] = deque()
        self._rng = random.Random(self.seed)
        self._req_times: deque[float] = deque()
        self._tok_times: deque[tuple[float, int]] = deque()
        self._in_flight = 0
        self.max_in_flight = 0
        self._server: ThreadingHTTPServer | None = None

    # --- control -----------------------------------------------------------------------------------
    def start(self) -> FakeModerationServer:
        _Server.request_queue_size = 256
        self._server = _Server(("127.0.0.1", self.port), _Handler)
        self._server.fake = self
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True,
                         name="fake-moderation").start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, *faults: str) -> None:
        """Inject these faults into the next requests, in order (before random faults)."""
        unknown = set(faults) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown faults {sorted(unknown)}; known: {FAULTS}")
        with self._lock:
            self._script.extend(faults)

    def reset_log(self) -> None:
        with self._lock:
            self.log.clear()

    # --- what happened -----------------------------------------------------------------------------
    def records(self) -> list[RequestRecord]:
        with self._lock:
            return list(self.log)

    def answered(self) -> Counter:
        """Text -> how many times it was answered with a 200 and a full, valid result."""
        return Counter(t for r in self.records() if r.status == 200 and r.fault in (None, "slow") for t in r.texts)

    def max_in_window(self, window: float | None = None, accepted_only: bool = False) -> int:
        """The most requests that arrived within any `window` seconds (default: the enforced window)."""
        window = window or self.window_seconds
        times = sorted(r.arrived for r in self.records() if not accepted_only or r.fault != "rate_limit")
        best, lo = 0, 0
        for hi, t in enumerate(times):
            while times[lo] <= t - window:
                lo += 1
            best = max(best, hi - lo + 1)
        return best

    # --- serving -----------------------------------------------------------------------------------
    def handle(self, h: _Handler) -> None:
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            self._handle(h)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _handle(self, h: _Handler) -> None:
        length = int(h.headers.get("content-length") or 0)
        raw = h.rfile.read(length) if length else b""
        if not h.path.rstrip("/").endswith("/moderations"):
            return _json(h, 404, _error(f"Invalid URL (POST {h.path})", "invalid_request_error", None))
        auth = h.headers.get("authorization") or ""
        key = auth[7:] if auth.lower().startswith("bearer ") else ""
        if not key:
            return _json(h, 401, _error("You didn't provide an API key.", "invalid_request_error", None))
        if self.expected_key is not None and key != self.expected_key:
            masked = f"{key[:3]}{'*' * 8}{key[-4:]}" if len(key) > 8 else "****"
            return _json(h, 401, _error(f"Incorrect API key provided: {masked}.", "invalid_request_error",
                                        "invalid_api_key"))
        try:
            body = json.loads(raw)
            texts = _texts(body.get("input"))
        except (ValueError, AttributeError) as e:
            return _json(h, 400, _error(f"Invalid request: {e}", "invalid_request_error", None))
        model = body.get("model") or "omni-moderation-latest"
        if model not in MODELS:
            return _json(h, 404, _error(f"The model `{model}` does not exist or you do not have access to it.",
                                        "invalid_request_error", "model_not_found"))
        record = RequestRecord(time.monotonic(), texts, sum(_tokens(t) for t in texts))
        refused = next((i for i, t in enumerate(texts) if self.refuse_text and self.refuse_text in t), None)
        if refused is not None:
            record.fault, record.status = "refused", 400
            with self._lock:
                self.log.append(record)
            return _json(h, 400, _error(f"Invalid input[{refused}]: the text could not be processed "
                                        f"(request by key {key})", "invalid_request_error", "invalid_input"))
        with self._lock:
            self.log.append(record)
            limited = self._rate_limit(record)
            fault = None if limited else (self._script.popleft() if self._script else
                                          self._rng.choice(self.fault_mix)
                                          if self.fault_rate and self._rng.random() < self.fault_rate else None)
        if limited:
            record.fault, record.status = "rate_limit", 429
            status, payload, headers = limited
            return _json(h, status, payload, {**headers, **self._limit_headers()})
        record.fault = None if fault == "ok" else fault
        fault = record.fault
        if self.latency:
            time.sleep(self.latency)
        record.status = self._answer(h, fault, MODELS[model], texts)

    def _rate_limit(self, rec: RequestRecord) -> tuple[int, dict, dict] | None:
        """Under the lock: a 429 answer when this request exceeds a limit, else None (and it is counted)."""
        now, w = rec.arrived, self.window_seconds
        while self._req_times and self._req_times[0] <= now - w:
            self._req_times.popleft()
        while self._tok_times and self._tok_times[0][0] <= now - w:
            self._tok_times.popleft()
        if self.rpm:
            allowed = max(1, int(self.rpm * w / 60))
            if len(self._req_times) >= allowed:
                wait = self._req_times[0] + w - now
                self._req_times.append(now)  # rejected requests count too
                return 429, _error(f"Rate limit reached for omni-moderation-latest in organization org-fake on "
                                   f"requests per min (RPM): Limit {self.rpm:g}, Used {allowed}, Requested 1. "
                                   f"Please try again in {wait * 1000:.0f}ms.", "requests", "rate_limit_exceeded"), \
                    _retry_headers(wait)
        if self.tpm:
            allowed_tokens = max(1, int(self.tpm * w / 60))
            used = sum(n for _, n in self._tok_times)
            if rec.tokens > allowed_tokens:
                return 429, _error(f"Request too large for omni-moderation-latest in organization org-fake on "
                                   f"tokens per min (TPM): Limit {self.tpm:g}, Requested {rec.tokens}.",
                                   "tokens", "rate_limit_exceeded"), {}
            if used + rec.tokens > allowed_tokens:
                wait = self._tok_times[0][0] + w - now
                return 429, _error(f"Rate limit reached for omni-moderation-latest in organization org-fake on "
                                   f"tokens per min (TPM): Limit {self.tpm:g}, Used {used}, Requested "
                                   f"{rec.tokens}. Please try again in {wait * 1000:.0f}ms.", "tokens",
                                   "rate_limit_exceeded"), _retry_headers(wait)
            self._tok_times.append((now, rec.tokens))
        self._req_times.append(now)
        return None

    def _limit_headers(self) -> dict:
        headers = {}
        if not self.announce_limits:
            return headers
        if self.rpm:
            headers["x-ratelimit-limit-requests"] = f"{self.rpm:g}"
        if self.tpm:
            headers["x-ratelimit-limit-tokens"] = f"{self.tpm:g}"
        return headers

    def _answer(self, h: _Handler, fault: str | None, model: str, texts: list[str]) -> int:
        if fault == "close":
            h.close_connection = True
            try:
                h.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return 0
        if fault in ("429", "429ms", "429bare"):
            headers = {"429": {"retry-after": str(self.retry_after_seconds)},
                       "429ms": {"retry-after-ms": str(self.retry_after_ms),
                                 "retry-after": str(self.retry_after_seconds)},
                       "429bare": {}}[fault]
            return _json(h, 429, _error("Rate limit reached for omni-moderation-latest in organization org-fake "
                                        "on requests per min (RPM): Limit 1, Used 1, Requested 1.", "requests",
                                        "rate_limit_exceeded"), {**headers, **self._limit_headers()})
        if fault == "500":
            return _json(h, 500, _error("The server had an error while processing your request. Sorry about that!",
                                        "server_error", None), self._limit_headers())
        if fault == "503":
            return _json(h, 503, _error("The engine is currently overloaded, please try again later.",
                                        "server_error", None), self._limit_headers())
        if fault == "502":
            page = (b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad "
                    b"Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n")
            return _send(h, 502, page, "text/html")
        if fault in ("slow", "hang"):
            time.sleep(self.slow_seconds if fault == "slow" else self.hang_seconds)
        results = [self._result(model, t) for t in texts]
        if fault == "short":
            results = results[:-1]
        if fault == "noscores":
            for r in results:
                del r["category_scores"]
        doc = {"id": f"modr-{sha256_hex(str(time.time_ns()))[:24]}", "model": model, "results": results}
        payload = json.dumps(doc).encode()
        if fault == "garbage":
            payload = payload[: max(10, len(payload) // 3)]
        return _send(h, 200, payload, "application/json", self._limit_headers())

    def _result(self, model: str, text: str) -> dict:
        scores = self.model.scores(text)
        cats = CATEGORIES if model.startswith("omni") else tuple(c for c in CATEGORIES if not c.startswith("illicit"))
        categories = {c: scores[c] >= FLAG_AT for c in cats}
        result = {"flagged": any(categories.values()), "categories": categories,
                  "category_scores": {c: scores[c] for c in cats}}
        if model.startswith("omni"):
            result["category_applied_input_types"] = {c: ["text"] for c in cats}
        else:
            result["categories"].update({"illicit": None, "illicit/violent": None})
        return result


def _texts(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not value:
        raise ValueError("'input' must be a string or a non-empty array")
    out = []
    for item in value:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, dict) and item.get("type") == "text" and isinstance(item.get("text"), str):
            out.append(item["text"])
        elif isinstance(item, dict) and item.get("type") == "image_url":
            out.append("")
        else:
            raise ValueError(f"unsupported input item {str(item)[:40]!r}")
    return out


def _error(message: str, kind: str, code: str | None) -> dict:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def _retry_headers(wait: float) -> dict:
    wait = max(wait, 0.001)
    return {"retry-after-ms": f"{wait * 1000:.0f}", "retry-after": str(math.ceil(wait))}


def _json(h: _Handler, status: int, doc: dict, headers: dict | None = None) -> int:
    return _send(h, status, json.dumps(doc).encode(), "application/json", headers)


def _send(h: _Handler, status: int, payload: bytes, content_type: str, headers: dict | None = None) -> int:
    try:
        h.send_response(status)
        h.send_header("content-type", content_type)
        h.send_header("content-length", str(len(payload)))
        h.send_header("x-request-id", f"req_{sha256_hex(str(time.time_ns()))[:20]}")
        h.send_header("openai-processing-ms", "12")
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(payload)
        h.wfile.flush()
    except (BrokenPipeError, ConnectionResetError):  # the client gave up (e.g. its timeout hit first)
        h.close_connection = True
    return status


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    fake: FakeModerationServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_POST(self) -> None:
        self.server.fake.handle(self)

    def do_GET(self) -> None:
        _json(self, 404, _error(f"Invalid URL (GET {self.path})", "invalid_request_error", None))

    def log_message(self, *args) -> None:  # quiet
        pass


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="A fake OpenAI /v1/moderations server on 127.0.0.1.")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--faults", action="store_true", help="inject random faults (see --fault-rate)")
    p.add_argument("--fault-rate", type=float, default=0.2)
    p.add_argument("--rpm", type=float, default=None, help="enforce a requests-per-minute limit")
    p.add_argument("--tpm", type=float, default=None, help="enforce a tokens-per-minute limit")
    p.add_argument("--window", type=float, default=60.0, help="seconds over which the limits are counted")
    p.add_argument("--latency", type=float, default=0.02, help="seconds added to every answer")
    p.add_argument("--slow-seconds", type=float, default=2.0)
    p.add_argument("--key", default=None, help="accept only this API key (default: any)")
    p.add_argument("--seed", type=int, default=1, help="seed of the random faults")
    a = p.parse_args(argv)
    fake = FakeModerationServer(rpm=a.rpm, tpm=a.tpm, window_seconds=a.window, expected_key=a.key,
                                latency=a.latency, fault_rate=a.fault_rate if a.faults else 0.0,
                                slow_seconds=a.slow_seconds, seed=a.seed, port=a.port).start()
    print(f"fake moderation server on {fake.base_url} (faults: {'%.0f%%' % (100 * fake.fault_rate)}, "
          f"rpm: {a.rpm}, tpm: {a.tpm}, known prompts: {len(fake.model.known)})")
    print(f"  export OPENAI_BASE_URL={fake.base_url} OPENAI_API_KEY=sk-fake-local  # then run the pipeline",
          flush=True)
    for sig in (signal.SIGINT, signal.SIGTERM):  # also when started in the background (SIGINT ignored there)
        signal.signal(sig, _interrupt)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        recs = fake.records()
        print(f"\n{len(recs)} requests, {sum(len(r.texts) for r in recs if r.status == 200)} inputs answered, "
              f"faults: {dict(Counter(r.fault for r in recs if r.fault))}", flush=True)
    finally:
        fake.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
