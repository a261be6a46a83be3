"""Builders shared by the report tests: a synthetic finished run (stats, manifest, examples, rejects) whose
facts follow the shapes the stages document (pipeline/stages/*.py docstrings), optionally with hostile text
in every place user text can reach, and a headless-Chromium helper. No tests live here."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import polars as pl
import pytest

# Each payload, if it ever ran, would change document.title or mark <body>; the tests assert neither happened.
HOSTILE = [
    "<script>document.title='PWNED'</script>",
    "\"><img src=x onerror=\"document.title='PWNED'\">",
    "</script><script>document.body.setAttribute('data-pwned','1')</script>",
    "{{ 7*7 }} {% if true %}JINJA{% endif %} {# gone #}",
    "<!--<script>document.title='PWNED'</script>-->",
    "'); document.title='PWNED'; //",
    "<svg onload=\"document.body.setAttribute('data-pwned','1')\">",
    "line\u2028separator\u2029paragraph",
]
SOURCES = ["chats.csv", "faq.parquet", "tickets.jsonl"]
REASONS = {"validate": ["special_token", "unknown_key"], "heuristics": ["short_reply", "refusal_boilerplate"],
           "language": ["reply_language_mismatch"], "dedup": ["exact_duplicate", "near_duplicate"],
           "tokens": ["over_token_limit"], "moderation": ["moderation_flagged"], "pii": ["pii_secret"]}
ALL_STAGES = ["normalize", "validate", "heuristics", "pii", "language", "dedup", "tokens", "moderation", "split",
              "export"]


def eid(i: int) -> str:
    return hashlib.blake2b(str(i).encode(), digest_size=8).hexdigest()


def chat(user: str, assistant: str, system: str | None = None) -> str:
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    return json.dumps({"messages": messages}, ensure_ascii=False, separators=(",", ":"))


def _text(i: int, hostile: bool, what: str) -> str:
    if hostile:
        return f"{HOSTILE[i % len(HOSTILE)]} ({what} {i})"
    return f"{what} {i}: " + "lorem ipsum dolor sit amet " * (1 + i % 7)


def _facts(hostile: bool, n: int, screened: bool) -> dict:
    h = (lambda i, w: _text(i, hostile, w))
    hist = {"edges": [0, 16, 32, 64, 128, 256, 512], "counts": [0, 3, 10, 40, 20, 5]}
    return {
        "normalize": {"examples": n, "changed_examples": 3, "changed_texts": 3, "emptied_texts": 0,
                      "changes": {"nfc": 2, "control_chars": 1},
                      "samples": [{"example_id": eid(i), "source_file": SOURCES[0], "source_rows": [i + 1],
                                   "field": "message 1 (user): content", "kinds": ["nfc"], "before": h(i, "before"),
                                   "after": h(i, "after")} for i in range(20)]},
        "validate": {"checked": n, "passed": n - 2, "rejected": 2, "by_reason": {"special_token": 1, "unknown_key": 1},
                     "problems": {"special_token": 1}, "samples": {"special_token": [
                         {"example_id": eid(1), "source_file": SOURCES[0], "source_rows": [3],
                          "detail": h(1, "detail")}]}, "fast_path": n - 5},
        "heuristics": {"checked": n, "hits": {"short_reply": 2}, "decided": {"short_reply": 2},
                       "samples": {"short_reply": [{"example_id": eid(i), "detail": h(i, "short")} for i in range(20)]},
                       "turns_histogram": {"edges": [0, 2, 4, 8], "labels": ["0–1", "2–3", "4–7"],
                                           "counts": [1, 50, 20]}},
        "pii": {"scanned_messages": 2 * n, "detections": {"email": 5, "secret": 1},
                "examples_with_pii": {"email": 4, "secret": 1}, "by_role": {"user": 6},
                "outcome": {"redacted": 4, "dropped": 1, "flagged": 0}, "actions": {"email": "redact", "secret": "drop"},
                "samples": {"email": [{"example_id": eid(i), "where": "message 1 (user)",
                                       "snippet": h(i, "mail [EMAIL]")} for i in range(20)]}},
        "language": {"backend": "py3langid-0.3", "by_language": {"en": n - 10, "de": 10},
                     "by_side": {"user": {"en": n - 10, "de": 10}, "assistant": {"en": n}}, "uncertain": 1,
                     "not_allowed": {}, "mismatches": {"count": 1, "pairs": {"de->en": 1}, "samples": [
                         {"example_id": eid(i), "user": "de", "assistant": "en", "user_text": h(i, "user"),
                          "assistant_text": h(i, "assistant")} for i in range(20)]},
                     "samples": {"de": [{"example_id": eid(i), "text": h(i, "german")} for i in range(10)]},
                     "confidence_histogram": {"edges": [0, 0.5, 0.9, 1.0], "counts": [1, 5, 100]},
                     "cache": {"hits": 0, "misses": n}},
        "dedup": {"examples": n, "action": "drop", "keep": "first", "exact_duplicates": 3, "prompt_duplicates": 0,
                  "near_duplicates": 2, "dropped": 5, "clusters": 3, "examples_in_clusters": 8,
                  "cluster_sizes": {"2": 2, "3-5": 1}, "near": {"threshold": 0.8, "shingle_size": 3, "bands": 21,
                                                                 "rows": 6, "similarity_histogram": {
                                                                     "edges": [0.8, 0.9, 1.0], "counts": [1, 2]}},
                  "top_clusters": [{"cluster": eid(c), "size": 3, "representative": {
                      "example_id": eid(c), "source_file": SOURCES[0], "source_rows": [c + 1], "preview": h(c, "rep")},
                      "members": [{"example_id": eid(10_000 + c), "source_file": SOURCES[1], "source_rows": [c + 2],
                                   "preview": h(c, "member"), "relation": "near", "similarity": 0.91}],
                      "more_members": 1} for c in range(12)]},
        "tokens": {"model": "gpt-4o-mini-2024-07-18", "base_model": "gpt-4o-mini-2024-07-18",
                   "encoding": "o200k_base", "limit": 600, "limit_source": "max_tokens", "on_overflow": "keep",
                   "examples": n, "totals": {"tokens": 100 * n, "assistant_tokens": 40 * n, "messages": 2 * n},
                   "histograms": {"tokens_per_example": {**hist, "limit": 600}},
                   "truncated": 0, "dropped_over_limit": 0, "kept_over_limit": 0,
                   "samples": {"over_limit": [{"example_id": eid(i), "n_tokens": 700} for i in range(3)]},
                   "training_estimate": {"n_examples": n, "n_epochs": 3, "epochs_rule": "auto",
                                         "billed_tokens_per_epoch": 100 * n, "billed_tokens": 300 * n,
                                         "price_per_million": 3.0, "cost_usd": 0.9, "price_source": "price table"}},
        "moderation": ({"model": "omni-moderation-latest", "screen": "all", "action": "flag",
                        "examples_screened": n, "flagged": 2, "texts_screened": 2 * n,
                        "flagged_by_category": {"violence": 2, "harassment": 1},
                        "decided_by": {"openai_flag": 2, "threshold": 0}, "requests": 3, "sent": 2 * n,
                        "from_cache": 0, "retries": {"429": 1}, "rate_budget": {"requests_per_minute": 500},
                        "score_histograms": {"violence": {"counts": [n, 0, 0, 0, 0, 0, 0, 0, 1, 1],
                                                          "edges": [i / 10 for i in range(11)]}},
                        "flagged_examples": [{"example_id": eid(i), "action": "flag", "detail": h(i, "detail"),
                                              "categories": ["violence"], "scores": {"violence": 0.93},
                                              "example": chat(h(i, "flagged user"), h(i, "flagged reply"))}
                                             for i in range(20)]}
                       if screened else {"skipped": "OPENAI_API_KEY is not set", "model": "omni-moderation-latest"}),
        "split": {"train": 0, "validation": 0, "target_validation": 0, "groups": n},
        "export": {"train": 0, "validation": 0},
    }


def synthetic_run(n: int = 200, hostile: bool = False, screened: bool = True, stages: list[str] | None = None,
                  long_text_examples: int = 0, n_rejects: int = 40):
    """(stats, manifest, examples, rejects) of a finished run over `n` exported examples."""
    stages = ALL_STAGES if stages is None else stages
    long_ids = set(sorted(range(n), key=eid)[:long_text_examples])  # the viewer samples the lowest ids
    examples_text = [chat(_text(i, hostile, "question") * (2000 if i in long_ids else 1),
                          _text(i + 1, hostile, "answer"), "You are helpful." if i % 3 == 0 else None)
                     for i in range(n)]
    split = ["validation" if i % 10 == 0 else "train" for i in range(n)]
    examples = pl.DataFrame({
        "example_id": [eid(i) for i in range(n)], "source_file": [SOURCES[i % 3] for i in range(n)],
        "source_rows": [[2 * i + 1, 2 * i + 2] for i in range(n)], "group_id": [f"g{i}" for i in range(n)],
        "example": examples_text, "flags": [["moderation:violence"] if i < 2 else [] for i in range(n)],
        "meta.channel": [_text(i, hostile, "channel") for i in range(n)], "split": split,
    })
    if "tokens" in stages:
        examples = examples.with_columns(pl.Series("n_tokens", [40 + (i * 37) % 500 for i in range(n)]),
                                         pl.Series("n_assistant_tokens", [10 + (i * 13) % 200 for i in range(n)]))
    if "language" in stages:
        examples = examples.with_columns(pl.Series("language", ["de" if i % 20 == 0 else "en" for i in range(n)]))
    reject_rows = []
    dropping = [s for s in stages if s in REASONS]
    for j in range(n_rejects if dropping else 0):
        stage = dropping[j % len(dropping)]
        reason = REASONS[stage][j % len(REASONS[stage])]
        reject_rows.append({"stage": stage, "reason": reason, "detail": _text(j, hostile, "detail"),
                            "source_file": SOURCES[j % 3], "source_rows": [100_000 + j],
                            "example_id": eid(1_000_000 + j), "example": chat(_text(j, hostile, "rejected"), "ok")})
    reject_rows.append({"stage": "ingest", "reason": "malformed_csv", "detail": _text(7, hostile, "bad line"),
                        "source_file": SOURCES[0], "source_rows": [99_999], "example_id": None, "example": None})
    rejects = pl.DataFrame(reject_rows, schema={"stage": pl.Utf8, "reason": pl.Utf8, "detail": pl.Utf8,
                                                "source_file": pl.Utf8, "source_rows": pl.List(pl.Int64),
                                                "example_id": pl.Utf8, "example": pl.Utf8})
    n_train = split.count("train")
    by_reason: dict[str, dict[str, int]] = {}
    for r in reject_rows:
        by_reason.setdefault(r["stage"], {}).setdefault(r["reason"], 0)
        by_reason[r["stage"]][r["reason"]] += 1
    built = n + len(reject_rows) - 1
    stage_stats = [{"name": "ingest", "unit": "rows", "in": 2 * built + 1, "out": 2 * built,
                    "dropped": by_reason.get("ingest", {}), "seconds": 0.1},
                   {"name": "convert", "unit": "rows→examples", "in": 2 * built, "out": built, "dropped": {},
                    "changes": {"merged": 3}, "seconds": 0.1}]
    left = built
    for s in stages:
        dropped = by_reason.get(s, {})
        stage_stats.append({"name": s, "unit": "examples", "in": left, "out": left - sum(dropped.values()),
                            "dropped": dropped, "seconds": 0.5, "cached": False})
        left -= sum(dropped.values())
    all_facts = _facts(hostile, n, screened)
    problems = [{"level": "warning", "code": "few_examples", "message": _text(3, hostile, "problem")}]
    if "moderation" in stages and not screened:
        problems.append({"level": "warning", "code": "moderation_not_run", "message": "NOT SCREENED: no key"})
    stats = {
        "rows": {"input": 2 * built + 1, "exported": 2 * n, "rejected": 2 * (built - n) + 1},
        "rows_by_source": {f: {"input": 10, "exported": 8, "rejected": 2} for f in SOURCES},
        "sources": [{"file": f, "input": _text(k, hostile, "input"), "layout": "messages", "format": "csv",
                     "rows": 10, "examples": 5, "unreadable_rows": 0} for k, f in enumerate(SOURCES)]
        + [{"file": "joined.csv", "input": "joined", "layout": "messages", "format": "csv", "rows": 4, "examples": 2,
            "unreadable_rows": 0, "metadata": {
                "joins": [{"path": "customers.csv", "key": "cid", "matched_rows": 3, "unmatched_rows": 1}],
                "where": {"where": _text(2, hostile, "where"), "examples_in": 3, "excluded": 1}}}],
        "examples": {"built": built, "train": n_train, "validation": n - n_train, "rejected": built - n},
        "rejects_by_reason": by_reason, "stages": stage_stats, "problems": problems,
        "facts": {s: all_facts[s] for s in stages if s in all_facts},
        "drop_shares": _drop_shares(stages, examples, rejects, hostile),
    }
    config = {"inputs": [{"name": _text(0, hostile, "input name"), "path": "chats.csv"}],
              "stages": [{"name": s, **({"max_tokens": 600} if s == "tokens" else {})} for s in stages],
              "cache": {"dir": ".cache"}, "output": {"dir": "out"},
              "moderation_api_key": "sk-should-never-appear-1234567890"}
    manifest = {"config_file": _text(1, hostile, "config.yaml"), "config_sha256": "ab" * 32, "config": config,
                "inputs": [{"path": f, "bytes": 1234, "sha256": "cd" * 32} for f in SOURCES],
                "versions": {"chatprep": "0.1.0", "python": "3.11"},
                "timings": {s["name"]: s["seconds"] for s in stage_stats}}
    return stats, manifest, examples, rejects


def _drop_shares(stages: list[str], examples: pl.DataFrame, rejects: pl.DataFrame, hostile: bool) -> dict:
    """stats.json `drop_shares` of the synthetic run (pipeline/report/drop_review.py): per source and language, with
    a warning and its samples on the first source a stage drops from (user text in the samples)."""
    from pipeline.engine.drop_shares import DROPPED_AT, drop_shares

    dropped = rejects.filter(pl.col("stage").is_in(stages)).select(
        pl.col("stage").alias(DROPPED_AT), pl.col("source_file").alias("source"),
        pl.lit(_text(0, hostile, "language")).alias("language"))
    kept = examples.select(pl.lit(None, pl.Utf8).alias(DROPPED_AT), pl.col("source_file").alias("source"),
                           pl.lit("en").alias("language"))
    shares = {s: {"unit": "examples", **v}
              for s, v in drop_shares(stages, pl.concat([dropped, kept]), ["source", "language"]).items()}
    for entry in shares.values():
        source = next((f for f, e in entry["by_source"].items() if e["dropped"]), None)
        if source is not None:
            entry["by_source"][source].update(warning=True, samples=[
                {"example_id": eid(j), "source_rows": [j + 1], "reason": "short_reply",
                 "detail": _text(j, hostile, "detail"), "preview": _text(j, hostile, "preview")} for j in range(5)])
            break
    return {"warn_above": 0.02, "exempt": [], "languages": _text(1, hostile, "languages"), "stages": shares}


# ---- headless Chromium ------------------------------------------------------------------------------
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def chromium_or_skip() -> str:
    """The browser binary; skip when absent on a developer machine, fail when CI is set (CI installs it)."""
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("CI"):
        pytest.fail("chromium is not installed but CI is set: .ci/run installs Debian's chromium; browser tests "
                    "must run in CI")
    pytest.skip("chromium is not installed (Debian: apt-get install chromium); the browser tests need it")


def run_chromium(browser: str, page: Path, *args: str, timeout: int = 90) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="chatprep-chromium-") as profile:
        cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
               f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *args, page.resolve().as_uri()]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def browser_dom(browser: str, page: Path, *args: str) -> tuple[str, list[str]]:
    """(DOM after the page's scripts ran, console messages the page logged)."""
    done = run_chromium(browser, page, "--dump-dom", *args)
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    return done.stdout, console


def screenshot(browser: str, page: Path, out: Path, height: int = 2400) -> Path:
    done = run_chromium(browser, page, f"--window-size=1280,{height}", f"--screenshot={out}")
    assert done.returncode == 0 and out.exists(), done.stderr[-2000:]
    return out
