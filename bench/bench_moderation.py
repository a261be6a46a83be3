"""Moderation throughput against the local fake server with a fixed requests-per-minute limit.

Reports inputs screened per second as a fraction of what the limit allows (RPM / 60 x inputs per request);
the goal is >= 90 % with zero lost inputs. The fake enforces the limit over a sliding window scaled down
(--window seconds, e.g. 1,200 RPM over 3 s = 60 requests in any 3 s) so a run takes seconds, answers
with --latency seconds, and counts rejected requests toward the limit as OpenAI does. Scenarios:

  budget = limit        the stage is told the real limit (the fake announces no limit headers)
  server announces      the stage keeps its tier-1 defaults (500 RPM / 10k TPM); the fake's x-ratelimit-limit-*
                        headers tell it the real limits (and a token limit too high to matter)
  budget 2x too high    no headers, configured at twice the limit: AIMD has to find the limit from 429s
  429 burst first       as "server announces", but the first requests are answered 429 (retry-after-ms 200)
                        BURST times in a row: every sender waits what is asked, nothing is cut (a 429 on the
                        lone first request is the server's business, and so are the others of that spell)
  20 % faults           budget = limit, 20 % of requests answered with 500/502 (HTML)/503, a dropped
                        connection, a slow answer or unusable JSON (no 429s: each one would rightly
                        slow the stage down); failed requests count toward the limit, so ~80 % is the
                        ceiling here

Inputs are the real prompts of ../shared/realdata/openai-moderation (chunked like the stage does, made
unique with a suffix to reach --inputs) or synthetic sentences when that folder is absent.

    python -m bench.bench_moderation                  # ~2 min
    python -m bench.bench_moderation --inputs 4000 --rpm 600 --window 2 --json /tmp/moderation.json
    python -m bench.bench_moderation --trace          # also, per scenario and second: requests the fake
                                                      # accepted, 429s, injected faults, cuts of the pace
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from pipeline.stages.moderation.cache import ModerationCache, text_hash
from pipeline.stages.moderation.chunking import chunk_text
from pipeline.stages.moderation.client import ModerationClient, endpoint_id
from pipeline.stages.moderation.rate_budget import RateBudget
from pipeline.stages.moderation.screener import Screener, ScreeningSettings
from tests.fake_moderation_server import REALDATA_SAMPLES, FakeModerationServer

GOAL = 0.90
GOAL_FOUND_FROM_429S = 0.80  # "budget 2x too high": the limit found from 429s alone
BURST = 3  # 429s answered to the first requests of the "429 burst first" scenario
NON_429_FAULTS = ("500", "502", "503", "slow", "close", "garbage", "short", "noscores")


def bench_texts(n: int) -> list[str]:
    base: list[str] = []
    if REALDATA_SAMPLES.is_file():
        for line in REALDATA_SAMPLES.open(encoding="utf-8"):
            base += chunk_text(json.loads(line)["prompt"].strip(), 2000, 100)
    if not base:
        base = [f"Customer {i} asks about the delivery of order {i * 7} and the refund policy." for i in range(500)]
    base = list(dict.fromkeys(base))
    return [t if k == 0 else f"{t} #{k}" for k in range(n // len(base) + 1) for t in base][:n]


class TracedBudget(RateBudget):
    """The stage's RateBudget, noting when it cuts the pace (for --trace)."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.cuts: list[tuple[float, float]] = []  # (time.monotonic(), pace factor after the cut)

    def on_rate_limited(self, slot, wait, cut=True):
        before = self.slowdowns
        super().on_rate_limited(slot, wait, cut)
        if self.slowdowns > before:
            self.cuts.append((time.monotonic(), self.factor))


def per_second(records, cuts: list[tuple[float, float]]) -> list[dict]:
    """Per second from the first request: accepted requests, 429s (the fake's limit), injected faults,
    cuts of the pace and the lowest pace factor a cut left."""
    if not records:
        return []
    t0 = records[0].arrived
    rows: dict[int, Counter] = {}
    for r in records:
        kind = "accepted" if r.fault is None else "rate_limited_429" if r.fault == "rate_limit" else "faults"
        rows.setdefault(int(r.arrived - t0), Counter())[kind] += 1
    lowest: dict[int, float] = {}
    for t, factor in cuts:
        second = int(t - t0)
        rows.setdefault(second, Counter())["cuts"] += 1
        lowest[second] = min(factor, lowest.get(second, math.inf))
    return [{"second": k, **{c: rows[k][c] for c in ("accepted", "rate_limited_429", "faults", "cuts")},
             **({"factor_after_cut": round(lowest[k], 3)} if k in lowest else {})} for k in sorted(rows)]


def print_trace(name: str, trace: list[dict]) -> None:
    print(f"  {name}: second  accepted  429s  faults  cuts (pace after)")
    for row in trace:
        after = f" ({row['factor_after_cut']:.2f})" if "factor_after_cut" in row else ""
        print(f"  {'':<{len(name)}}  {row['second']:>6}  {row['accepted']:>8}  {row['rate_limited_429']:>4}"
              f"  {row['faults']:>6}  {row['cuts']:>4}{after}")


def scenario(name: str, texts: list[str], *, rpm: float, window: float, batch: int, concurrency: int,
             latency: float, client_rpm: float, client_tpm: float | None, announce: bool,
             fault_rate: float = 0.0, burst: int = 0) -> dict:
    fake = FakeModerationServer(rpm=rpm, tpm=1e9 if announce else None, window_seconds=window,
                                announce_limits=announce, latency=latency, fault_rate=fault_rate,
                                fault_mix=NON_429_FAULTS, slow_seconds=1.0, seed=5, retry_after_ms=200).start()
    fake.script(*["429ms"] * burst)
    saved = {k: os.environ.get(k) for k in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    os.environ.update({"OPENAI_API_KEY": "sk-bench-local", "OPENAI_BASE_URL": fake.base_url})
    try:
        with tempfile.TemporaryDirectory(prefix="bench-moderation-") as tmp:
            client = ModerationClient("omni-moderation-latest", timeout_seconds=10)
            cache = ModerationCache(Path(tmp), endpoint_id(client.base_url), "omni-moderation-latest")
            budget = TracedBudget(client_rpm, client_tpm)
            settings = ScreeningSettings(batch_size=batch, batch_max_tokens=10**9, concurrency=concurrency,
                                         max_retries=20, max_rate_limited_retries=100, backoff_seconds=0.2)
            screener = Screener(client, cache, budget, settings)
            results = screener.screen({text_hash(t): t for t in texts})
            client.close()
            cache.close()
    finally:
        fake.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    seconds = screener.stats.seconds
    allowed = rpm / 60 * batch
    records = fake.records()
    per_window = max(1, int(rpm * window / 60))
    return {
        "scenario": name, "inputs": len(texts), "lost": len(texts) - len(results),
        "seconds": round(seconds, 2), "inputs_per_second": round(len(texts) / seconds, 1),
        "allowed_inputs_per_second": round(allowed, 1), "fraction_of_limit": round(len(texts) / seconds / allowed, 3),
        "requests": len(records), "rate_limited_429": sum(r.fault == "rate_limit" for r in records),
        "injected_faults": sum(r.fault not in (None, "rate_limit") for r in records),
        "busiest_window_accepted": fake.max_in_window(window, accepted_only=True), "window_limit": per_window,
        "slowdowns": budget.slowdowns, "trace": per_second(records, budget.cuts),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--inputs", type=int, default=6000)
    ap.add_argument("--rpm", type=float, default=1200, help="the fake's requests-per-minute limit")
    ap.add_argument("--window", type=float, default=3.0, help="seconds over which the fake counts requests")
    ap.add_argument("--batch", type=int, default=16, help="inputs per request")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--latency", type=float, default=0.1, help="the fake's answer time in seconds")
    ap.add_argument("--json", type=Path, help="also write the figures here (with the per-second trace)")
    ap.add_argument("--trace", action="store_true", help="print each scenario's requests per second")
    args = ap.parse_args(argv)
    texts = bench_texts(args.inputs)
    common = {"rpm": args.rpm, "window": args.window, "batch": args.batch, "concurrency": args.concurrency,
              "latency": args.latency}
    plan = [
        ("budget = limit", {"client_rpm": args.rpm, "client_tpm": None, "announce": False}),
        ("server announces", {"client_rpm": 500, "client_tpm": 10_000, "announce": True}),
        ("429 burst first", {"client_rpm": 500, "client_tpm": 10_000, "announce": True, "burst": BURST}),
        ("budget 2x too high", {"client_rpm": 2 * args.rpm, "client_tpm": None, "announce": False}),
        ("20 % faults", {"client_rpm": args.rpm, "client_tpm": None, "announce": False, "fault_rate": 0.2}),
    ]
    rows = []
    print(f"moderation: {len(texts):,} inputs, fake limit {args.rpm:g} RPM over {args.window:g} s windows, "
          f"{args.batch} inputs/request, latency {args.latency:g} s, concurrency {args.concurrency}")
    print(f"{'scenario':<20}{'inputs/s':>10}{'allowed':>9}{'of limit':>10}{'lost':>6}{'requests':>10}{'429s':>6}"
          f"{'cuts':>6}{'faults':>8}{'busiest':>9}")
    for name, kw in plan:
        r = scenario(name, texts, **common, **kw)
        rows.append(r)
        print(f"{name:<20}{r['inputs_per_second']:>10,.1f}{r['allowed_inputs_per_second']:>9,.0f}"
              f"{r['fraction_of_limit']:>10.1%}{r['lost']:>6}{r['requests']:>10}{r['rate_limited_429']:>6}"
              f"{r['slowdowns']:>6}{r['injected_faults']:>8}{r['busiest_window_accepted']:>5}/{r['window_limit']:<3}", flush=True)
        if args.trace:
            print_trace(name, r["trace"])
    goal = [r for r in rows if r["scenario"] in ("budget = limit", "server announces", "429 burst first")]
    met = all(r["fraction_of_limit"] >= GOAL for r in goal) and not any(r["lost"] for r in rows)
    print(f"goal (>= {GOAL:.0%} of the limit with the right budget, zero lost in every scenario): "
          f"{'met' if met else 'NOT met'}")
    found = [r for r in rows if r["scenario"] == "budget 2x too high"]
    print(f"goal (>= {GOAL_FOUND_FROM_429S:.0%} of the limit with a budget twice too high): "
          f"{'met' if all(r['fraction_of_limit'] >= GOAL_FOUND_FROM_429S for r in found) else 'NOT met'}")
    if args.json:
        args.json.write_text(json.dumps({"settings": vars(args) | {"json": str(args.json)}, "rows": rows}, indent=2))
    return 1 if any(r["lost"] for r in rows) else 0


if __name__ == "__main__":
    t0 = time.perf_counter()
    code = main()
    print(f"bench_moderation finished in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    sys.exit(code)
