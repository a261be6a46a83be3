"""The moderation stage inside the pipeline, against the fake server over HTTP: drop / flag decisions with
reasons, thresholds, roles, chunks, the persistent cache across runs, no-key skip, required, a service
that stays down, checkpoints invalidated when a key appears, and the key never leaking anywhere."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from pipeline.cli import main as cli_main
from pipeline.errors import UserError
from tests.conftest import read_jsonl
from tests.fake_moderation_server import FLAG_AT, FakeModerationServer

KEY = "sk-test-LEAKCHECK-7c1e0b5d2f9a"
SYSTEM = "You are the support assistant of a bicycle shop."
BENIGN = [("My bike chain keeps slipping, what should I do?", "Check the chain tension and the derailleur."),
          ("Do you sell helmets for kids?", "Yes, from size XS upwards."),
          ("When are you open on Saturday?", "From 9 am to 4 pm."),
          ("Can I return a saddle after a week?", "Yes, within 30 days with the receipt.")]
UNSAFE = [("I want to kill myself, nothing matters anymore.", "Please reach out to someone you trust."),
          ("You useless idiot, I will find you and hurt you.", "I'm sorry you feel this way.")]


def write_chats(path: Path, pairs, system: str | None = SYSTEM) -> Path:
    with path.open("w", encoding="utf-8") as f:
        for user, assistant in pairs:
            msgs = ([{"role": "system", "content": system}] if system else []) + [
                {"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
            f.write(json.dumps({"messages": msgs}) + "\n")
    return path


@pytest.fixture
def fake(monkeypatch):
    server = FakeModerationServer().start()
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    yield server
    server.stop()


def config(data: Path, **moderation) -> dict:
    stage = {"name": "moderation", "backoff_seconds": 0.02, **moderation}
    return {"inputs": [{"path": str(data), "layout": "conversations"}],
            "stages": [stage, {"name": "split", "validation_fraction": 0.0}, {"name": "export"}]}


def moderation_rejects(out: Path) -> list[dict]:
    return [r for r in read_jsonl(out / "rejects.jsonl") if r.get("stage") == "moderation"]


def exported(out: Path) -> list[dict]:
    return read_jsonl(out / "train.jsonl") + read_jsonl(out / "validation.jsonl")


def test_flagged_examples_are_dropped_with_message_categories_and_scores(tmp_path, fake, run_config):
    data = write_chats(tmp_path / "chats.jsonl", BENIGN + UNSAFE)
    result, out = run_config(config(data))
    rejects = moderation_rejects(out)
    assert [r["reason"] for r in rejects] == ["moderation_flagged"] * 2
    details = sorted(r["detail"] for r in rejects)
    assert details[0].startswith("message 2 (user): harassment/threatening 0.")
    assert "(flagged by OpenAI)" in details[0]
    assert details[1].startswith("message 2 (user): self-harm")
    assert len(exported(out)) == len(BENIGN)
    facts = result.stats["facts"]["moderation"]
    assert facts["flagged"] == 2 and facts["examples_screened"] == 6
    assert facts["flagged_by_category"]["self-harm"] == 1
    assert facts["unique_texts"] == 1 + 2 * 6  # the shared system prompt is sent once
    assert facts["sent"] == 13 and facts["from_cache"] == 0
    assert len(facts["flagged_examples"]) == 2 and "score_histograms" in facts
    sample = facts["flagged_examples"][0]
    assert json.loads(sample["example"])["messages"][0]["role"] == "user"  # only the flagged message


def test_flag_action_keeps_the_example_and_notes_the_categories(tmp_path, fake, run_config):
    data = write_chats(tmp_path / "chats.jsonl", BENIGN + UNSAFE)
    _result, out = run_config(config(data, action="flag"))
    assert moderation_rejects(out) == [] and len(exported(out)) == 6
    flags = [p["flags"] for p in read_jsonl(out / "provenance.jsonl")]
    noted = [f for f in flags if any(x.startswith("moderation:") for x in f)]
    assert len(noted) == 2
    assert any("moderation:self-harm" in f for f in noted)
    assert any("moderation:harassment/threatening" in f for f in noted)


def test_thresholds_decide_when_openai_flag_is_ignored(tmp_path, fake, run_config):
    data = write_chats(tmp_path / "chats.jsonl", BENIGN + UNSAFE)
    threshold = 0.002
    result, out = run_config(config(data, use_flagged=False, thresholds={"sexual": threshold}))
    expected = sum(any(fake.model.scores(t)["sexual"] >= threshold for t in (SYSTEM, u, a)) for u, a in BENIGN + UNSAFE)
    rejects = moderation_rejects(out)
    assert 0 < expected < 6 and len(rejects) == expected  # the noise scores make some, not all, cross it
    assert all("sexual 0." in r["detail"] and "(≥ threshold 0.002)" in r["detail"] for r in rejects)
    assert result.stats["facts"]["moderation"]["decided_by"] == {"openai_flag": 0, "threshold": expected}


def test_only_user_and_assistant_messages_are_sent_when_asked(tmp_path, fake, run_config):
    data = write_chats(tmp_path / "chats.jsonl", BENIGN, system="I will kill you all.")
    _result, out = run_config(config(data, screen="user_and_assistant"))
    sent = {t for r in fake.records() for t in r.texts}
    assert "I will kill you all." not in sent and len(sent) == 8
    assert moderation_rejects(out) == []


def test_a_long_message_is_chunked_and_flagged_by_its_harmful_chunk(tmp_path, fake, run_config):
    long = ("The bike is great and the ride is smooth. " * 120) + "Also I want to kill myself." + " Fine." * 10
    data = write_chats(tmp_path / "chats.jsonl", [(long, "Thanks for the feedback.")] + BENIGN)
    result, out = run_config(config(data, chunk_chars=1000, chunk_overlap_chars=100))
    [reject] = moderation_rejects(out)
    assert reject["detail"].startswith("message 2 (user), characters ")
    assert "self-harm" in reject["detail"]
    assert max(len(t) for r in fake.records() for t in r.texts) <= 1000
    assert result.stats["facts"]["moderation"]["messages_chunked"] == 1


def test_a_rerun_sends_nothing_thanks_to_the_cache_even_without_checkpoints(tmp_path, fake, run_config):
    data = write_chats(tmp_path / "chats.jsonl", BENIGN + UNSAFE)
    cfg = {**config(data), "cache": {"dir": str(tmp_path / ".cache"), "checkpoints": False}}
    run_config(cfg, out="out1")
    first = len(fake.records())
    assert first >= 1
    result, out = run_config(cfg, out="out2")
    assert len(fake.records()) == first  # not one more request
    assert result.stats["facts"]["moderation"]["from_cache"] == 13
    for name in ("train.jsonl", "validation.jsonl", "rejects.jsonl", "provenance.jsonl"):
        assert (tmp_path / "out1" / name).read_bytes() == (out / name).read_bytes()


def test_no_key_skips_loudly_and_the_report_says_not_screened(tmp_path, monkeypatch, run_config, capfd):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    data = write_chats(tmp_path / "chats.jsonl", BENIGN + UNSAFE)
    result, out = run_config(config(data))
    [problem] = [p for p in result.problems if p.code == "moderation_not_run"]
    assert problem.level == "warning" and problem.message.startswith("NOT SCREENED")
    assert "WARNING: NOT SCREENED: OPENAI_API_KEY is not set" in capfd.readouterr().err
    assert len(exported(out)) == 6  # nothing dropped
    assert result.stats["facts"]["moderation"]["skipped"] == "OPENAI_API_KEY is not set"
    assert "NOT SCREENED" in (out / "report.html").read_text(encoding="utf-8")


def test_required_without_key_is_an_error_and_the_run_exits_not_ready(tmp_path, monkeypatch, run_config):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    data = write_chats(tmp_path / "chats.jsonl", BENIGN)
    result, _out = run_config(config(data, required=True))
    [problem] = [p for p in result.problems if p.code == "moderation_not_run"]
    assert problem.level == "error"
    cfg_path = tmp_path / "config.yaml"  # written by run_config
    code = cli_main(["prepare", "--config", str(cfg_path), "--out", str(tmp_path / "cli-out"), "--quiet"])
    assert code == 1


def test_checkpoints_are_not_reused_once_a_key_appears(tmp_path, monkeypatch, run_config):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    data = write_chats(tmp_path / "chats.jsonl", BENIGN + UNSAFE)
    run_config(config(data), out="out1")
    with FakeModerationServer() as server:
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        result, _out = run_config(config(data), out="out2")
        assert len(server.records()) >= 1
    stage = next(s for s in result.stats["stages"] if s["name"] == "moderation")
    assert not stage["cached"] and stage["dropped"] == {"moderation_flagged": 2}


def test_a_service_that_stays_down_stops_the_run_clearly(tmp_path, fake, run_config):
    fake.fault_rate, fake.fault_mix = 1.0, ("502",)
    fake.script("ok")
    data = write_chats(tmp_path / "chats.jsonl", BENIGN + UNSAFE)
    with pytest.raises(UserError) as info:
        run_config(config(data, max_retries=2, batch_size=4, concurrency=1, follow_server_limits=False))
    msg = str(info.value)
    assert "moderation: screening stopped" in msg and "HTTP 502: HTML page '502 Bad Gateway'" in msg
    assert "4 of 13 texts are screened and kept in" in msg and "rerun to continue" in msg
    assert not (tmp_path / "out").exists()


def test_the_key_never_leaks_into_outputs_cache_logs_or_errors(tmp_path, fake, run_config, capfd, caplog):
    caplog.set_level(logging.DEBUG)
    fake.fault_rate, fake.seed = 0.4, 3
    fake.slow_seconds = 0.6
    data = write_chats(tmp_path / "chats.jsonl", BENIGN + UNSAFE)
    run_config(config(data, timeout_seconds=0.3, max_retries=20, batch_size=2), out="out")
    fake.fault_rate, fake.fault_mix = 1.0, ("500", "close")
    with pytest.raises(UserError) as failed:
        run_config({**config(data, max_retries=1, batch_size=2, model="text-moderation-latest")}, out="out2")
    fake.fault_rate, fake.expected_key = 0.0, "sk-some-other-key"
    with pytest.raises(UserError) as rejected:
        run_config(config(data, model="omni-moderation-2024-09-26"), out="out3")
    captured = capfd.readouterr()
    texts = [captured.out, captured.err, caplog.text, str(failed.value), str(rejected.value)]
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "results.sqlite3" for p in files) and any(p.name == "report.html" for p in files)
    assert "/v1/moderations" in caplog.text  # the SDK and HTTP logs were captured at DEBUG
    for secret in (KEY, KEY[-12:]):
        assert not any(secret in t for t in texts)
        leaked = [p for p in files if secret.encode() in p.read_bytes()]
        assert leaked == []


def test_fake_categories_match_the_sdk_and_the_config_vocabulary():
    from typing import get_args

    from openai.types.moderation import CategoryScores

    from schemas.stages.moderation import Category
    from tests.fake_moderation_server import CATEGORIES

    sdk = {f.alias or name for name, f in CategoryScores.model_fields.items()}
    assert set(CATEGORIES) == sdk == set(get_args(Category))
    assert FLAG_AT == 0.5
