"""normalize, pii, heuristics and language on preference pairs (docs/preference-design.md, 2): each handles the
rejected reply too; heuristics rejects identical and empty sides and holds only prompt + chosen to the reply
checks; language flags a rejected reply in another language. End to end from YAML on a pair file the test
writes and on LLaMA-Factory's DPO demo, with every source row exported or in rejects.jsonl."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest

from pipeline.chat import preference
from pipeline.engine.records import DROP_DETAIL, DROP_REASON, EXAMPLE_SCHEMA, dumps_example
from pipeline.engine.segments import stage_facts
from pipeline.engine.stage import StageContext
from pipeline.stages.heuristics import stage as heuristics
from pipeline.stages.language import detection as language_detection
from pipeline.stages.language import stage as language
from pipeline.stages.normalize import stage as normalize
from pipeline.stages.pii import stage as pii
from pipeline.stages.pii.patterns import find_pii
from schemas.stages.heuristics import HeuristicsParams
from schemas.stages.language import LanguageParams
from schemas.stages.normalize import NormalizeParams
from schemas.stages.pii import PiiParams
from tests.destination_checkers import DESTINATIONS
from tests.recipes import recipe_config

PARAMS = {normalize: NormalizeParams, pii: PiiParams, heuristics: HeuristicsParams, language: LanguageParams}
ANSWER = "Your refund was issued this morning and should reach your card within three to five working days."
TEXT_STAGES = ("normalize", "pii", "heuristics", "language")


def pair(chosen="Paris is the capital of France.", rejected="I think it is Lyon.", user="What is the capital "
         "of France?", **extra) -> dict:
    chosen_msg = chosen if isinstance(chosen, dict) else {"role": "assistant", "content": chosen}
    rejected_msg = rejected if isinstance(rejected, dict) else {"role": "assistant", "content": rejected}
    return {"messages": [{"role": "user", "content": user}, chosen_msg], **extra,
            "preference": {"rejected": rejected_msg, "signal": "explicit"}}


def run(module, examples: list[dict], tmp_path: Path, **params):
    """The stage's output on `examples`, with its facts as the runner reports them."""
    frame = pl.DataFrame([{"example_id": f"e{i}", "source_file": "f", "source_rows": [i + 1], "group_id": f"g{i}",
                           "example": dumps_example(e), "flags": []} for i, e in enumerate(examples)],
                         schema=EXAMPLE_SCHEMA)
    if module is language:
        params.setdefault("disk_cache", False)
        language_detection._MEMORY.clear()
    params = PARAMS[module](name=module.__name__.split(".")[-2], **params)
    ctx = StageContext(None, tmp_path / "out", tmp_path, lambda **k: None, lambda m: None)
    out = module.run(frame, params, ctx)
    return replace(out, facts=stage_facts(module, params, [out.facts]))


def examples_of(out) -> list[dict]:
    return [json.loads(e) for e in out.frame["example"].to_list()]


def decisions(out) -> list[tuple[str | None, str | None]]:
    return list(zip(out.frame[DROP_REASON].to_list(), out.frame[DROP_DETAIL].to_list()))


@pytest.mark.parametrize("module", [normalize, pii, heuristics, language], ids=TEXT_STAGES)
def test_each_stage_declares_it_handles_pairs(module):
    assert getattr(module, "PREFERENCE", False) is True  # so a preference run's config loads with it


# normalize ---------------------------------------------------------------------------------------------------

def test_normalize_cleans_the_rejected_reply_with_the_same_rules(tmp_path):
    messy = "  Lyon,\r\nI think.\x07\n\n\n\n\nMaybe.  "
    clean = pair(rejected="Lyon.")
    out = run(normalize, [pair(rejected=messy), clean, pair(rejected={"role": "assistant", "content": [
        {"type": "text", "text": "Lyon\u2028perhaps "}]})], tmp_path)
    first, _, third = examples_of(out)
    assert preference.rejected(first)["content"] == "Lyon,\nI think.\n\nMaybe."
    assert first["messages"] == pair()["messages"] and first["preference"]["signal"] == "explicit"
    assert out.frame["example"][1] == dumps_example(clean)  # a clean pair is left byte for byte
    assert preference.rejected(third)["content"] == [{"type": "text", "text": "Lyon\nperhaps"}]
    facts = out.facts
    assert facts["changed_examples"] == 2 and facts["changed_texts"] == 2
    assert facts["changes"] == {"line_endings": 2, "control_chars": 1, "blank_lines": 1, "trim": 2}
    assert facts["samples"][0]["field"] == "rejected reply (assistant): content"
    assert facts["samples"][-1]["field"] == "rejected reply (assistant): content[0].text"


def test_normalize_counts_both_sides_and_leaves_plain_chats_as_they_were(tmp_path):
    both = pair(chosen="Paris.\r\n", rejected="Lyon.\r\n")
    out = run(normalize, [both, {"messages": both["messages"]}], tmp_path)
    pair_out, chat_out = examples_of(out)
    assert pair_out["messages"][-1]["content"] == "Paris." and preference.rejected(pair_out)["content"] == "Lyon."
    assert "preference" not in chat_out and chat_out["messages"][-1]["content"] == "Paris."
    assert out.facts["changed_texts"] == 3 and out.facts["changed_examples"] == 2


# pii ---------------------------------------------------------------------------------------------------------

def test_pii_redacts_the_rejected_reply_and_counts_findings_per_side(tmp_path):
    leaky = pair(user="Call me on +44 20 7946 0958 please.", chosen="I will write to help@example.com today.",
                 rejected="Write to jane.doe@example.org or call +1 (312) 555-0188.")
    out = run(pii, [leaky, pair(rejected="Mail bob@example.net")], tmp_path)
    first, second = examples_of(out)
    assert preference.rejected(first)["content"] == "Write to [EMAIL] or call [PHONE]."
    assert preference.rejected(second)["content"] == "Mail [EMAIL]"
    assert first["messages"][0]["content"] == "Call me on [PHONE] please."
    assert first["messages"][1]["content"] == "I will write to [EMAIL] today."
    assert first["preference"]["signal"] == "explicit"
    facts = out.facts
    assert facts["by_side"] == {"prompt": 1, "chosen": 1, "rejected": 3}
    assert facts["detections"] == {"email": 3, "phone": 2} and facts["by_role"] == {"user": 1, "assistant": 4}
    assert facts["outcome"]["redacted"] == 2 and facts["scanned_messages"] == 6
    assert {"example_id": "e1", "where": "rejected reply (assistant)", "snippet": "Mail [EMAIL]"} \
        in facts["samples"]["email"]
    assert "jane.doe" not in json.dumps(facts) and "jane.doe" not in "".join(out.frame["example"].to_list())


def test_pii_drops_a_pair_for_its_rejected_reply_and_plain_runs_have_no_sides(tmp_path):
    out = run(pii, [pair(rejected="Mail bob@example.net"), pair()], tmp_path, actions={"email": "drop"})
    assert decisions(out)[0] == ("pii_email", "rejected reply (assistant): email in 'Mail [EMAIL]'")
    assert decisions(out)[1] == (None, None)
    plain = run(pii, [{"messages": pair(chosen="Mail bob@example.net")["messages"]}], tmp_path)
    assert "by_side" not in plain.facts and plain.facts["detections"] == {"email": 1}
    assert run(pii, [pair()], tmp_path).facts["by_side"] == {}  # pairs with nothing found: the split is there


# heuristics --------------------------------------------------------------------------------------------------

CALL = {"type": "function", "function": {"name": "lookup", "arguments": '{"q": "Paris"}'}}


@pytest.mark.parametrize("rejected", [
    "Paris is the capital of France.",
    "  PARIS is the   capital of france.\n",
    {"role": "assistant", "content": "Paris is the capital of France.", "weight": 1},
])
def test_identical_pair_uses_the_equality_dedup_uses(tmp_path, rejected):
    out = run(heuristics, [pair(rejected=rejected)], tmp_path)
    reason, detail = decisions(out)[0]
    assert reason == "identical_pair"
    assert detail.startswith("the chosen and rejected replies are the same (case, whitespace and tool-call ids "
                             "aside): 'Paris is the capital of France.'")
    assert out.facts["hits"] == {"identical_pair": 1} and out.facts["samples"]["identical_pair"][0]["example_id"] == "e0"


def test_identical_tool_calls_up_to_their_ids(tmp_path):
    def call(i):
        return {"role": "assistant", "content": None, "tool_calls": [{"id": i, **CALL}]}
    out = run(heuristics, [pair(chosen=call("call_1"), rejected=call("call_9")),
                           pair(chosen=call("call_1"), rejected={**call("call_2"), "tool_calls": [
                               {"id": "call_2", **CALL, "function": {**CALL["function"], "arguments": "{}"}}]})],
              tmp_path)
    assert [r for r, _ in decisions(out)] == ["identical_pair", None]


@pytest.mark.parametrize(("chosen", "rejected", "detail"), [
    ("Paris.", "", "the rejected reply has no text and no tool call"),
    ("   ", "Lyon, I think.", "the chosen reply has no text and no tool call"),
    (ANSWER, {"role": "assistant", "content": [{"type": "text", "text": " "}]},
     "the rejected reply has no text and no tool call"),
])
def test_empty_side_is_rejected(tmp_path, chosen, rejected, detail):
    reason, got = decisions(run(heuristics, [pair(chosen=chosen, rejected=rejected)], tmp_path))[0]
    assert (reason, got.split("; also")[0]) == ("empty_side", detail)


def test_a_tool_call_is_no_empty_side_and_both_checks_are_flagged(tmp_path):
    call = {"role": "assistant", "content": None, "tool_calls": [{"id": "c", **CALL}]}
    assert decisions(run(heuristics, [pair(rejected=call)], tmp_path))[0] == (None, None)
    out = run(heuristics, [pair(chosen="", rejected=" ")], tmp_path, action="flag")
    assert out.frame["flags"].to_list() == [["heuristics:identical_pair", "heuristics:empty_side",
                                             "heuristics:short_reply"]]  # the pair checks come first
    assert decisions(run(heuristics, [pair(chosen="", rejected=" ")], tmp_path))[0] == ("identical_pair", (
        "the chosen and rejected replies are the same (case, whitespace and tool-call ids aside): ''; also "
        "empty_side, short_reply"))


REPETITIVE = " ".join(["Please restart your router and wait two minutes."] * 8)
BAD_REPLIES = [("ok", "short_reply"), ("As an AI language model, I cannot know your plan.", "refusal_boilerplate"),
               (REPETITIVE, "repetitive_reply"), ("What is the capital of France, please tell me?", "echo_reply")]


@pytest.mark.parametrize(("reply", "reason"), BAD_REPLIES)
def test_a_rejected_reply_that_fails_a_reply_check_is_kept(tmp_path, reply, reason):
    user = "What is the capital of France, please tell me?"
    out = run(heuristics, [pair(user=user, chosen=ANSWER, rejected=reply), pair(user=user, chosen=reply,
                                                                                 rejected=ANSWER)], tmp_path)
    assert decisions(out)[0] == (None, None)  # worse is what a rejected reply is for
    assert decisions(out)[1][0] == reason  # the same reply as the chosen one fails the check
    assert out.facts["hits"] == {reason: 1}


def test_reply_statistics_count_prompt_and_chosen_only(tmp_path):
    out = run(heuristics, [pair(chosen="x" * 60, rejected="y" * 3000)], tmp_path)
    counts = out.facts["reply_chars_histogram"]["counts"]
    assert counts[3] == 1 and sum(counts) == 1  # the chosen reply's 60 characters, in [50, 100)


# language ----------------------------------------------------------------------------------------------------

ZH_USER = "请问我的订单什么时候发货？我已经等了一个星期了，还没有收到任何通知。"
ZH_CHOSEN = "您好，您的订单已经在今天上午发货了，预计三到五个工作日内送达，请留意快递员的电话。"
ZH_REJECTED = "订单的事情我不清楚，请您自己去网站上查询一下物流信息吧，谢谢您的耐心。"
EN_REJECTED = "I don't know anything about your order, please check the website yourself for tracking."


def test_language_flags_a_rejected_reply_in_another_language_never_drops_it(tmp_path):
    examples = [pair(user=ZH_USER, chosen=ZH_CHOSEN, rejected=EN_REJECTED),
                pair(user=ZH_USER, chosen=ZH_CHOSEN, rejected=ZH_REJECTED),
                pair(user=ZH_USER, chosen=ZH_CHOSEN, rejected="不知道。")]  # too short to judge
    out = run(language, examples, tmp_path, allowed=["zh"], reply_language="same")
    assert decisions(out) == [(None, None)] * 3
    assert out.frame["flags"].to_list() == [["language:rejected_mismatch"], [], []]
    assert out.frame["language"].to_list() == ["zh"] * 3
    facts = out.facts
    assert facts["by_side"]["rejected"] == {"zh": 1, "en": 1, "short": 1}
    assert facts["by_side"]["assistant"] == {"zh": 3}
    assert facts["rejected_mismatch"] == {"count": 1, "pairs": {"zh->en": 1}}


def test_language_compares_with_the_user_side_when_the_chosen_reply_is_short(tmp_path):
    out = run(language, [pair(user=ZH_USER, chosen="好的。", rejected=EN_REJECTED),
                         pair(user=EN_REJECTED, chosen="OK.", rejected=ZH_REJECTED)], tmp_path)
    assert out.frame["flags"].to_list() == [["language:rejected_mismatch"]] * 2
    assert out.facts["rejected_mismatch"]["pairs"] == {"zh->en": 1, "en->zh": 1}


def test_language_tolerates_a_close_language_within_the_margin(tmp_path):
    # py3langid: the rejected reply "ms 0.69, id 0.31", the chosen one "id 0.82": id is within margin of ms
    close = pair(user="Kapan pesanan saya dikirim? Saya sudah menunggu satu minggu penuh.",
                 chosen="Pesanan Anda sudah dikirim pagi ini dan akan tiba dalam tiga sampai lima hari kerja.",
                 rejected="Saya tidak tahu tentang pesanan anda, sila semak laman web sendiri untuk penjejakan.")
    assert run(language, [close], tmp_path).frame["flags"].to_list() == [[]]
    sure = run(language, [close], tmp_path, margin=0)  # only the best language counts
    assert sure.frame["flags"].to_list() == [["language:rejected_mismatch"]]
    assert sure.facts["rejected_mismatch"]["pairs"] == {"id->ms": 1}


def test_language_of_plain_chats_has_no_rejected_side(tmp_path):
    out = run(language, [{"messages": pair(user=ZH_USER, chosen=ZH_CHOSEN)["messages"]}], tmp_path)
    assert "rejected" not in out.facts["by_side"] and "rejected_mismatch" not in out.facts
    assert out.frame["flags"].to_list() == [[]]


# end to end --------------------------------------------------------------------------------------------------

STAGES = [{"name": n} for n in (*TEXT_STAGES, "dedup", "split", "export")]


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8-sig").splitlines() if line.strip()]


def accounted(folder: Path, n_rows: int, source: str) -> tuple[list[tuple[dict, dict]], list[dict]]:
    """([(provenance, written line)], rejects) of a target folder, after checking every source row is in
    exactly one of provenance.jsonl (an exported pair) or rejects.jsonl."""
    provenance, rejects = read_jsonl(folder / "provenance.jsonl"), read_jsonl(folder / "rejects.jsonl")
    rows = [r for p in provenance + rejects for r in p["source"]["rows"] if p["source"]["file"] == source]
    assert sorted(rows) == list(range(1, n_rows + 1))
    lines = {split: read_jsonl(folder / f"{split}.jsonl") for split in ("train", "validation")}
    assert sum(map(len, lines.values())) == len(provenance)
    return [(p, lines[p["file"].removesuffix(".jsonl")][p["line"] - 1]) for p in provenance], rejects


def dpo_row(user: str, chosen: str, rejected: str) -> dict:
    return {"conversations": [{"from": "human", "value": user}], "chosen": {"from": "gpt", "value": chosen},
            "rejected": {"from": "gpt", "value": rejected}}


def test_identical_and_empty_sides_land_in_rejects_from_yaml(tmp_path, run_config):
    rows = [dpo_row(ZH_USER, ZH_CHOSEN, ZH_REJECTED),                                            # kept
            dpo_row("What is the capital of France?", "Paris is the capital of France.",
                    "paris  is the capital of FRANCE."),                                         # same reply
            dpo_row("Which river flows through Vienna?", "The Danube flows through Vienna.",
                    "  THE DANUBE flows through vienna.\n"),                                     # same reply
            dpo_row("Say something nice.", "You are doing great today!", "\u0007\u001b"),         # emptied
            dpo_row("Tell me about the weather.", ANSWER, "As an AI language model, I cannot."),  # kept
            dpo_row("我想修改收货地址，应该怎么操作？请告诉我具体的步骤，谢谢。",
                    "您可以登录账户，在订单详情页面点击修改地址，然后保存新的收货地址即可。",
                    "请发邮件到 help@example.com\r\n\r\n\r\n\r\n或者打电话。"),                     # kept, cleaned
            dpo_row("这件衣服可以退货吗？我买大了一号，标签还在，也没有穿过。",
                    "可以的，商品在七天内且不影响二次销售就能退货，请在订单页面申请退货。", EN_REJECTED),  # flagged
            dpo_row("How do I reset my password?", "ok", "Open settings and choose reset.")]      # short chosen
    path = tmp_path / "pairs.json"
    path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    cfg = recipe_config("preference-pairs", path, stages=STAGES)
    cfg["targets"] = [{"provider": "openai"}]
    result, out = run_config(cfg)
    folder = out  # one target: its files are the run's
    written, rejects = accounted(folder, len(rows), str(path))
    assert sorted((r["source"]["rows"][0], r["stage"], r["reason"]) for r in rejects) == [
        (2, "heuristics", "identical_pair"), (3, "heuristics", "identical_pair"), (4, "heuristics", "empty_side"),
        (8, "heuristics", "short_reply")]
    assert all(r["example"]["preference"]["rejected"]["role"] == "assistant" for r in rejects)  # the whole pair
    assert [r["detail"] for r in rejects if r["reason"] == "empty_side"] == [
        "the rejected reply has no text and no tool call"]
    assert next(r for r in rejects if r["reason"] == "empty_side")["example"]["preference"]["rejected"]["content"] == ""
    by_row = {p["source"]["rows"][0]: (p, line) for p, line in written}
    assert sorted(by_row) == [1, 5, 6, 7]
    assert by_row[6][1]["non_preferred_output"] == [{"role": "assistant", "content": "请发邮件到 [EMAIL]\n\n或者打电话。"}]
    assert by_row[7][0]["flags"] == ["language:rejected_mismatch"]
    assert result.stats["facts"]["heuristics"]["decided"] == {"identical_pair": 2, "empty_side": 1, "short_reply": 1}


def test_text_stages_on_the_real_dpo_demo_account_for_every_row(realdata, run_config):
    path = realdata / "llamafactory-demo/dpo_zh_demo.json"
    source = json.loads(path.read_text(encoding="utf-8"))
    cfg = recipe_config("preference-pairs", path, stages=STAGES)
    cfg["targets"] = [{"provider": "openai"}, {"provider": "hf"}]
    result, out = run_config(cfg)
    folders = sorted(d for d in out.iterdir() if d.is_dir())
    assert [f.name.split("-")[0] for f in folders] == ["hf", "openai"]
    for folder, provider in zip(folders, ("hf", "openai"), strict=True):
        written, rejects = accounted(folder, len(source), str(path))
        for split in ("train", "validation"):
            assert DESTINATIONS[provider].check_preference_file(folder / f"{split}.jsonl", split=split) == []
        assert {(r["stage"], r["reason"]) for r in rejects} <= {("dedup", "exact_duplicate"),
                                                                ("heuristics", "short_reply")}
        assert len(written) >= len(source) - 20
        rejected = [(line["rejected"] if provider == "hf" else line["non_preferred_output"])[0]["content"]
                    for _, line in written]
        assert not [t for t in rejected if find_pii(t, ("email", "phone"))]  # redacted on this side too
    facts = result.stats["facts"]
    in_rejected = sum(len(find_pii(row["rejected"]["value"])) for row in source)  # 10 e-mails in one reply
    assert in_rejected > 0 and facts["pii"]["by_side"]["rejected"] == in_rejected
    assert set(facts["language"]["by_side"]) == {"user", "assistant", "rejected"}
    into_language = next(s["in"] for s in result.stats["stages"] if s["name"] == "language")
    assert sum(facts["language"]["by_side"]["rejected"].values()) == into_language  # every pair's rejected reply
