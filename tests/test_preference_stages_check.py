"""validate, tokens and moderation on preference pairs (docs/preference-design.md, 2): each rule's failing case
with its reason, the token limit on the prompt + the longer reply, moderation of the rejected reply on the fake
server (drop and keep), and an end-to-end run on LLaMA-Factory's DPO demo with every row accounted for."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
import yaml

from pipeline.chat.encodings import get_encoding
from pipeline.chat.token_counting import ChatTokenCounter
from pipeline.config_loader import load_config
from pipeline.engine.records import DROP_DETAIL, DROP_REASON, dumps_example
from pipeline.engine.stage import StageContext
from pipeline.stages.tokens import stage as tokens
from pipeline.stages.validate import stage as validate
from schemas.stages.validate import ValidateParams
from tests.conftest import read_jsonl
from tests.destination_checkers import DESTINATIONS
from tests.fake_moderation_server import FakeModerationServer
from tests.recipes import recipe_config

PREF_INPUT = {"path": "pairs.jsonl", "layout": "preference", "columns": {"prompt": "q", "chosen": "good", "rejected": "bad"}}
SYSTEM = {"role": "system", "content": "Be brief."}
QUESTION = {"role": "user", "content": "Capital of France?"}
TOOL = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}
CALL = {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}


def pair(rejected="Lyon.", chosen="Paris.", prompt=(SYSTEM, QUESTION), **top) -> dict:
    reply = rejected if isinstance(rejected, dict) else {"role": "assistant", "content": rejected}
    return {"messages": [*prompt, {"role": "assistant", "content": chosen} if isinstance(chosen, str) else chosen],
            **top, "preference": {"rejected": reply, "signal": "explicit"}}


class _NoBar:
    def update(self, n): pass
    def close(self): pass


def pref_ctx(tmp_path: Path, stages: list[dict], **config) -> StageContext:
    """A stage context whose config is a preference run (its input need not exist to load)."""
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"inputs": [PREF_INPUT], "stages": [*stages, {"name": "export"}], **config}))
    return StageContext(load_config(path), tmp_path / "out", tmp_path / ".cache", lambda **kw: _NoBar(), lambda m: None)


def frame(examples: list) -> pl.DataFrame:
    texts = [e if isinstance(e, str) else dumps_example(e) for e in examples]
    n = len(texts)
    return pl.DataFrame({"example_id": [f"e{i}" for i in range(n)], "example": texts, "flags": [[] for _ in texts],
                         "source_file": ["pairs.jsonl"] * n, "source_rows": [[i + 1] for i in range(n)]},
                        schema={"example_id": pl.Utf8, "example": pl.Utf8, "flags": pl.List(pl.Utf8),
                                "source_file": pl.Utf8, "source_rows": pl.List(pl.Int64)})


def run_stage(module, tmp_path, examples, stage: dict, **config) -> pl.DataFrame:
    ctx = pref_ctx(tmp_path, [stage], **config)
    return module.run(frame(examples), ctx.config.stage(stage["name"]), ctx).frame


def verdicts(out: pl.DataFrame) -> list[tuple[str | None, str | None]]:
    return list(zip(out[DROP_REASON].to_list(), out[DROP_DETAIL].to_list(), strict=True))


# ------------------------------------------------------------------ validate

def validate_params(**kw) -> ValidateParams:
    return ValidateParams(name="validate", **kw)


VALID = {
    "plain": pair(),
    "tools, prompt ending on a tool turn": pair(prompt=(QUESTION, {"role": "assistant", "content": None, "tool_calls": [CALL]},
                                                        {"role": "tool", "tool_call_id": "c1", "content": "Paris"}),
                                                tools=[TOOL]),
    "rejected reply calling a tool": pair({"role": "assistant", "content": None, "tool_calls": [CALL]}, tools=[TOOL]),
}

INVALID = {  # name: (example, reason, words in the detail)
    "rejected reply of another role": (pair({"role": "user", "content": "Lyon."}), "invalid_preference",
                                       "the rejected reply: role 'user' where an assistant message is expected"),
    "rejected reply with an unknown key": (pair({"role": "assistant", "content": "Lyon.", "foo": 1}), "invalid_preference",
                                           "the rejected reply: key 'foo' is not allowed for assistant"),
    "rejected reply without content": (pair({"role": "assistant", "content": None}), "invalid_preference",
                                       "the rejected reply: content is null or missing"),
    "rejected reply with content of the wrong type": (pair({"role": "assistant", "content": 5}), "invalid_preference",
                                                      "(content_type)"),
    "rejected reply not an object": (pair("x") | {"preference": {"rejected": "Lyon.", "signal": "explicit"}},
                                     "invalid_preference", "the rejected reply: must be a message object"),
    "rejected reply's tool arguments not JSON": (
        pair({"role": "assistant", "content": None, "tool_calls": [{**CALL, "function": {"name": "lookup",
                                                                                          "arguments": "{oops"}}]},
             tools=[TOOL]), "invalid_preference", "the rejected reply: tool_calls[0].function.arguments is not a JSON"),
    "no rejected reply": (pair() | {"preference": {"signal": "explicit"}}, "invalid_preference",
                          "the rejected reply is missing"),
    "no preference at all": ({"messages": [QUESTION, {"role": "assistant", "content": "Paris."}]}, "invalid_preference",
                             "`preference` is missing"),
    "unknown preference key": (pair() | {"preference": {"rejected": {"role": "assistant", "content": "Lyon."},
                                                        "signal": "explicit", "margin": 2}},
                               "invalid_preference", "preference: key 'margin' is not allowed"),
    "prompt ending on an assistant turn": (pair(prompt=(QUESTION, {"role": "assistant", "content": "Hm."})),
                                           "invalid_preference", "the prompt ends on message 2 (assistant)"),
    "empty prompt": (pair(prompt=()), "invalid_preference", "the prompt is empty"),
    "chosen reply not the assistant's": (pair(chosen={"role": "user", "content": "Paris."},
                                              prompt=(QUESTION, {"role": "assistant", "content": "Hm."})),
                                         "invalid_preference", "the chosen reply (message 3) is a user message"),
    "special token in the rejected reply": (pair("Lyon<|endoftext|>"), "special_token",
                                            "the rejected reply: content contains <|endoftext|>"),
    "chosen side still under the chat schema": (pair(chosen={"role": "assistant", "content": "Paris.", "foo": 1}),
                                                "unknown_key", "message 3 (assistant): key 'foo' is not allowed"),
}


def test_valid_pairs_pass(tmp_path):
    # hf (TRL) takes a prompt ending on a tool turn; openai's pairs must end on a user turn (tested below)
    out = run_stage(validate, tmp_path, list(VALID.values()), {"name": "validate"}, target={"provider": "hf"})
    assert verdicts(out) == [(None, None)] * len(VALID)


@pytest.mark.parametrize("name", INVALID)
def test_each_pair_rule_rejects_naming_the_side(tmp_path, name):
    example, reason, words = INVALID[name]
    [(got, detail)] = verdicts(run_stage(validate, tmp_path, [example], {"name": "validate"}))
    assert got == reason, detail
    assert detail.startswith("pairs.jsonl row 1, ") and words in detail, detail


def test_weights_do_not_make_a_pair_untrainable():
    # the preference writers train both replies (weights are a loss, targets.features.prepare_preference)
    weighted = pair(chosen={"role": "assistant", "content": "Paris.", "weight": 0})
    params = validate_params()
    assert validate.check_example(dumps_example(weighted), params, pairs=True).problems == []
    sft = {"messages": weighted["messages"]}
    assert [c for c, _ in validate.check_example(dumps_example(sft), params).problems] == ["no_trainable_assistant"]


def test_strip_removes_special_tokens_from_the_rejected_reply_too(tmp_path):
    out = run_stage(validate, tmp_path, [pair("Lyon<|endoftext|>.", chosen="Par<|im_end|>is.")],
                    {"name": "validate", "special_tokens": "strip"})
    assert verdicts(out) == [(None, None)]
    kept = json.loads(out["example"][0])
    assert kept["messages"][-1]["content"] == "Paris." and kept["preference"]["rejected"]["content"] == "Lyon."


def test_the_targets_judge_a_pair_by_their_preference_rules(tmp_path):
    tool_prompt = VALID["tools, prompt ending on a tool turn"]
    nova_breach = pair("User: Lyon.")
    # openai takes the chat schema as its SFT rules (PASS_THROUGH); for a pair its check_preference wants the
    # prompt to end on a user turn
    [(reason, detail)] = verdicts(run_stage(validate, tmp_path, [tool_prompt], {"name": "validate"}))
    assert reason == "prompt_not_ending_on_user", detail
    [(reason, detail)] = verdicts(run_stage(validate, tmp_path, [nova_breach], {"name": "validate"},
                                            target={"provider": "bedrock-nova"}))
    assert reason == "reserved_string" and "(in the rejected reply)" in detail
    # with several targets, a pair one of them cannot take stays for the others
    out = run_stage(validate, tmp_path, [tool_prompt, nova_breach], {"name": "validate"},
                    targets=[{"provider": "openai"}, {"provider": "hf"}, {"provider": "bedrock-nova",
                                                                         "lossy": "drop_feature"}])
    assert verdicts(out) == [(None, None)] * 2
    drops = [json.loads(v) for v in out["target_drops"]]
    assert drops[0]["openai-gpt-4.1-mini-2025-04-14"][1] == "prompt_not_ending_on_user"
    assert [v[1] for v in drops[1].values()] == ["reserved_string"] and "hf" not in "".join(drops[1])


# ------------------------------------------------------------------ tokens

def side_counts(example: dict) -> list:
    """Each side's conversation counted independently with tiktoken: [(total, written tokens of its reply)]."""
    counter = ChatTokenCounter(get_encoding("o200k_base"), "o200k_base")
    out = []
    for reply in (example["messages"][-1], example["preference"]["rejected"]):
        chat = {k: v for k, v in example.items() if k != "preference"}
        c = counter.example({**chat, "messages": [*example["messages"][:-1], reply]})
        out.append((c.total, counter.message(reply)[1]))
    return out


def test_counts_the_prompt_once_and_each_reply(tmp_path):
    ex = pair("Lyon, I would say, though I am not sure at all.", tools=[TOOL])
    out = run_stage(tokens, tmp_path, [ex], {"name": "tokens"})
    (tc, ac), (tr, ar) = side_counts(ex)
    assert tr > tc
    assert out["n_limit_tokens"][0] == tr  # the prompt + the longer reply
    assert out["n_assistant_tokens"][0] == ac + ar  # both replies are trained
    assert out["n_tokens"][0] == tr + ac  # the prompt (and its framing) once, plus each reply
    assert out["n_tokens"][0] == tc + tr - (tc - ac)


@pytest.mark.parametrize("on_overflow", ["drop", "truncate"])
def test_the_limit_applies_to_the_longer_reply(tmp_path, on_overflow):
    long, short = pair("Lyon " * 40), pair("Lyon.")
    (tc, _), (tr, _) = side_counts(long)
    limit = tc + 10  # prompt + chosen fits; prompt + the long rejected reply does not
    assert tr > limit and side_counts(short)[1][0] <= limit
    out = run_stage(tokens, tmp_path, [long, short], {"name": "tokens", "max_tokens": limit, "on_overflow": on_overflow})
    (reason, detail), kept = verdicts(out)
    assert reason == ("over_token_limit" if on_overflow == "drop" else "over_token_limit_untruncatable")
    assert f"{tr:,} tokens (the prompt + the longer reply) > limit {limit:,}" in detail
    if on_overflow == "truncate":  # a one-turn prompt has nothing to cut; the side over the limit is named
        assert detail.endswith("with the rejected reply, no later user message starts a part that still has a "
                               "trained assistant answer")
    assert kept == (None, None)


def test_truncation_drops_old_prompt_turns_and_keeps_both_replies(tmp_path):
    history = [m for i in range(4) for m in ({"role": "user", "content": f"Earlier question number {i} about trains?"},
                                            {"role": "assistant", "content": f"Earlier answer {i}, quite long too."})]
    ex = pair("Lyon " * 30, prompt=(SYSTEM, *history, QUESTION))
    (tc, _), (tr, _) = side_counts(ex)
    limit = tr - 20  # only the rejected side is over
    assert tc <= limit
    out = run_stage(tokens, tmp_path, [ex], {"name": "tokens", "max_tokens": limit, "on_overflow": "truncate"})
    assert verdicts(out) == [(None, None)] and out["flags"][0].to_list() == ["tokens:truncated"]
    cut = json.loads(out["example"][0])
    assert cut["messages"][0] == SYSTEM and cut["messages"][1]["role"] == "user"
    assert cut["messages"][-2:] == ex["messages"][-2:] and cut["preference"] == ex["preference"]  # both replies whole
    assert len(cut["messages"]) < len(ex["messages"])
    assert out["n_limit_tokens"][0] == max(c for c, _ in side_counts(cut)) <= limit


def test_truncation_fits_the_longer_reply_when_both_are_over(tmp_path):
    history = [m for i in range(6) for m in ({"role": "user", "content": f"Earlier question number {i} about trains?"},
                                            {"role": "assistant", "content": f"Earlier answer {i}, quite long too."})]
    ex = pair("Lyon " * 60, chosen="Paris " * 30, prompt=(SYSTEM, *history, QUESTION))
    (tc, _), (tr, _) = side_counts(ex)
    assert tr > tc
    limit = tc - 10  # both sides over; the rejected one needs more prompt turns removed
    out = run_stage(tokens, tmp_path, [ex], {"name": "tokens", "max_tokens": limit, "on_overflow": "truncate"})
    assert verdicts(out) == [(None, None)]
    cut = json.loads(out["example"][0])
    (c2, _), (r2, _) = side_counts(cut)
    assert c2 < r2 == out["n_limit_tokens"][0] <= limit
    assert cut["messages"][-2:] == ex["messages"][-2:] and cut["preference"] == ex["preference"]


def test_keep_flags_a_pair_over_the_limit(tmp_path):
    ex = pair("Lyon " * 40)
    out = run_stage(tokens, tmp_path, [ex], {"name": "tokens", "max_tokens": side_counts(ex)[0][0] + 5,
                                             "on_overflow": "keep"})
    assert verdicts(out) == [(None, None)] and out["flags"][0].to_list() == ["tokens:over_limit"]


def test_every_target_counts_the_longer_side_against_its_own_limit(tmp_path):
    ex, short = pair("Lyon " * 40), pair("Lyon.")
    (tc, _), (tr, _) = side_counts(ex)
    targets = [{"provider": "openai"}, {"provider": "openai", "model": "gpt-4.1-2025-04-14", "max_tokens": tc + 5},
               {"provider": "hf", "model": "gpt-oss-20b", "max_tokens": 200}]
    out = run_stage(tokens, tmp_path, [ex, short], {"name": "tokens"}, targets=targets)
    assert verdicts(out) == [(None, None)] * 2
    second = "openai-gpt-4.1-2025-04-14"
    assert out[f"n_limit_tokens:{second}"].to_list()[0] == tr
    drops = json.loads(out["target_drops"][0])
    assert list(drops) == [second] and drops[second][1] == "over_token_limit"
    assert "(the prompt + the longer reply)" in drops[second][2]
    assert out["target_drops"][1] is None
    # gpt-oss counts with its own chat template: each side a whole conversation, the same relations hold
    oss = "hf-gpt-oss-20b"
    lim, billed, trained = (out[f"{c}:{oss}"].to_list() for c in ("n_limit_tokens", "n_tokens", "n_assistant_tokens"))
    assert lim[0] > lim[1] and billed[0] > lim[0] and 0 < trained[1] < trained[0]


def test_the_billing_estimate_is_not_cut_at_the_per_side_limit(tmp_path, run_config):
    rows = [("Capital of France?", "Paris " * 30, "Lyon " * 30)] * 12
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps({"q": f"{q} ({i})", "good": g, "bad": b}) + "\n"
                            for i, (q, g, b) in enumerate(rows)), encoding="utf-8")
    limit = 60  # each side fits (about 45 tokens), the pair's n_tokens (about 80) does not
    result, out = run_config({"inputs": [{**PREF_INPUT, "path": str(data)}], "target": {"max_tokens": limit},
                              "stages": [{"name": "tokens"}, {"name": "split", "validation_fraction": 0.0},
                                         {"name": "export"}]})
    assert len(read_jsonl(out / "train.jsonl")) == len(rows)
    [target] = result.stats["targets"].values()
    per_pair = target["tokens"]["train_tokens"] / len(rows)
    assert per_pair > limit and target["tokens"]["pairs"]
    assert target["tokens"]["estimate"]["billed_tokens_per_epoch"] == target["tokens"]["train_tokens"]
    assert result.stats["facts"]["tokens"]["training_estimate"]["billed_tokens_per_epoch"] == per_pair * len(rows)
    report = (out / "report.html").read_text(encoding="utf-8")
    assert "exported examples are over the limit" not in report  # the limit holds for prompt + the longer reply
    assert "each pair&#39;s prompt once + both replies" in report or "each pair's prompt once + both replies" in report


# ------------------------------------------------------------------ moderation

KEY = "sk-test-pref-0000"
HARSH = "You useless idiot, I will find you and hurt you."


@pytest.fixture
def fake(monkeypatch):
    server = FakeModerationServer().start()
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    yield server
    server.stop()


def pairs_file(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    path.write_text("".join(json.dumps({"q": q, "good": g, "bad": b}) + "\n" for q, g, b in rows), encoding="utf-8")
    return path


BENIGN = [("Do you sell helmets for kids?", "Yes, from size XS upwards.", "No."),
          ("When are you open on Saturday?", "From 9 am to 4 pm.", "Sometimes."),
          ("Can I return a saddle after a week?", "Yes, within 30 days with the receipt.", "Ask someone else.")]
HARSH_REJECTED = ("My bike chain keeps slipping, what should I do?", "Check the chain tension.", HARSH)
HARSH_CHOSEN = ("Is the shop open today?", HARSH, "Yes, until six.")


def moderation_run(run_config, data: Path, **moderation):
    stage = {"name": "moderation", "backoff_seconds": 0.02, **moderation}
    return run_config({"inputs": [{**PREF_INPUT, "path": str(data)}],
                       "stages": [stage, {"name": "split", "validation_fraction": 0.0}, {"name": "export"}]})


def test_a_flagged_rejected_reply_drops_the_pair_by_default(tmp_path, fake, run_config):
    data = pairs_file(tmp_path / "pairs.jsonl", [*BENIGN, HARSH_REJECTED, HARSH_CHOSEN])
    result, out = moderation_run(run_config, data)
    assert HARSH in {t for r in fake.records() for t in r.texts}
    rejects = {r["source"]["rows"][0]: r for r in read_jsonl(out / "rejects.jsonl")}
    assert set(rejects) == {4, 5} and {r["reason"] for r in rejects.values()} == {"moderation_flagged"}
    assert rejects[4]["detail"].startswith("the rejected reply: harassment") and rejects[4]["stage"] == "moderation"
    assert rejects[5]["detail"].startswith("the chosen reply (message 2): harassment")
    assert len(read_jsonl(out / "train.jsonl")) == len(BENIGN)
    facts = result.stats["facts"]["moderation"]
    assert facts["preference"] == {"preference_rejected": "drop", "rejected_flagged": 1}
    sample = next(s for s in facts["flagged_examples"] if s["detail"].startswith("the rejected reply"))
    assert json.loads(sample["example"])["messages"] == [{"role": "assistant (rejected reply)", "content": HARSH}]


def test_keep_keeps_the_pair_flagged_and_the_prompt_and_chosen_reply_still_follow_action(tmp_path, fake, run_config):
    data = pairs_file(tmp_path / "pairs.jsonl", [*BENIGN, HARSH_REJECTED, HARSH_CHOSEN])
    _result, out = moderation_run(run_config, data, preference_rejected="keep")
    [reject] = read_jsonl(out / "rejects.jsonl")
    assert reject["source"]["rows"] == [5] and reject["detail"].startswith("the chosen reply")
    lines = read_jsonl(out / "train.jsonl")
    assert [line["non_preferred_output"][0]["content"] for line in lines].count(HARSH) == 1
    flags = {p["source"]["rows"][0]: p["flags"] for p in read_jsonl(out / "provenance.jsonl")}
    assert flags[4] == ["moderation:rejected_flagged"] and flags[1] == []
    # action: flag keeps a flagged chosen reply too, noting its categories
    _result, out = moderation_run(run_config, data, preference_rejected="keep", action="flag")
    flags = {p["source"]["rows"][0]: p["flags"] for p in read_jsonl(out / "provenance.jsonl")}
    assert len(flags) == 5 and flags[4] == ["moderation:rejected_flagged"]
    assert "moderation:harassment" in flags[5] and "moderation:rejected_flagged" not in flags[5]


# ------------------------------------------------------------------ end to end

def test_dpo_demo_through_validate_tokens_dedup_split_export(realdata, run_config):
    path = realdata / "llamafactory-demo/dpo_zh_demo.json"
    n_rows = len(json.loads(path.read_text(encoding="utf-8")))
    stages = [{"name": n} for n in ("validate", "tokens", "dedup", "split", "export")]
    cfg = recipe_config("preference-pairs", path, stages=stages)
    cfg["targets"] = [{"provider": "openai"}, {"provider": "bedrock-nova"}, {"provider": "hf"}]
    result, out = run_config(cfg)
    reasons = {}
    for folder in sorted(d for d in out.iterdir() if d.is_dir()):
        provider = folder.name.split("-")[0] if not folder.name.startswith("bedrock") else "bedrock-nova"
        written = 0
        for split in ("train", "validation"):
            assert DESTINATIONS[provider].check_preference_file(folder / f"{split}.jsonl", split=split) == []
            written += len(read_jsonl(folder / f"{split}.jsonl"))
        rejects = read_jsonl(folder / "rejects.jsonl")
        assert written + len(rejects) == n_rows, folder.name  # every row: a pair written or a reject
        reasons[provider] = {(r["stage"], r["reason"]) for r in rejects}
    assert reasons["openai"] <= {("dedup", "exact_duplicate")}
    # Nova's reserved strings are found by validate now (its check_preference), not left to export
    assert ("validate", "reserved_string") in reasons["bedrock-nova"]
    assert all(stage != "export" for stage, _ in reasons["bedrock-nova"])
    facts = result.stats["facts"]["tokens"]
    assert facts["preference"]["max_limit_tokens"] <= facts["limit"]
    assert "an estimate" in facts["training_estimate"]["scope"]
    report = (out / "report.html").read_text(encoding="utf-8")
    assert "Each preference pair is counted as its prompt once plus the chosen and the rejected reply" in report
