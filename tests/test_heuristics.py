"""heuristics: each check on crafted chats, its switches, the facts, and false positives on real data."""

from __future__ import annotations

import csv
import itertools
import json
from collections import Counter, defaultdict
from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.engine.facts import merge_parts, render
from pipeline.engine.records import DROP_DETAIL, DROP_REASON, EXAMPLE_SCHEMA, dumps_example
from pipeline.engine.segments import stage_facts
from pipeline.stages.heuristics import stage as heuristics
from pipeline.stages.heuristics.repetition import duplicate_trigram_fraction, repeated_line
from pipeline.stages.heuristics.stage import content_chars, histogram
from schemas.stages.heuristics import HeuristicsParams
from tests.conftest import ROOT, sample_config

LONG_ANSWER = "Your refund was issued this morning and should reach your card within three to five working days."


def frame_of(examples: list[dict]) -> pl.DataFrame:
    rows = [{"example_id": f"e{i}", "source_file": "f", "source_rows": [i + 1], "group_id": f"g{i}",
             "example": dumps_example(e), "flags": []} for i, e in enumerate(examples)]
    return pl.DataFrame(rows, schema=EXAMPLE_SCHEMA)


def run(examples: list[dict], **params):
    """The stage's output, with its facts as the runner reports them."""
    params = HeuristicsParams(name="heuristics", **params)
    out = heuristics.run(frame_of(examples), params, None)
    return replace(out, facts=stage_facts(heuristics, params, [out.facts]))


def chat(*turns: str, system: str | None = None) -> dict:
    msgs = [{"role": "system", "content": system}] if system else []
    msgs += [{"role": "user" if i % 2 == 0 else "assistant", "content": t} for i, t in enumerate(turns)]
    return {"messages": msgs}


def decisions(out) -> list[tuple[str | None, str | None]]:
    return list(zip(out.frame[DROP_REASON].to_list(), out.frame[DROP_DETAIL].to_list()))


REPEATED = " ".join(["Please restart your router and wait two minutes."] * 8)
CASES = [
    (chat("Can I change my plan?", "ok"), "short_reply", "message 2 (assistant): 'ok' has 2 letters/digits (min 3)"),
    (chat("Where is my order 4411?", "Where is my order 4411?"), "echo_reply",
     "message 2 (assistant): 'Where is my order 4411?' repeats message 1 (user)"),
    (chat("Is roaming included?", "As an AI language model, I cannot know your plan."), "refusal_boilerplate",
     "message 2 (assistant): contains 'as an ai language model'"),
    (chat("My internet is down", REPEATED), "repetitive_reply", "message 2 (assistant): 87% of its word 3-grams repeat"),
    (chat("Help", "Line one is here\n" * 6), "repetitive_reply",
     "message 2 (assistant): line 'Line one is here' occurs 6 times"),
]


@pytest.mark.parametrize("example,reason,detail_start", CASES)
def test_each_problem_is_caught_with_a_named_message(example, reason, detail_start):
    (got_reason, detail), = decisions(run([example]))
    assert got_reason == reason
    assert detail.startswith(detail_start)


def test_good_chats_pass():
    good = [
        chat("What is 17 + 25?", "42"),  # a bare number is an answer
        chat("Hello", "Hello"),  # short echo: a greeting, not a defect
        chat("Good morning!", "Good morning! How can I help you today?"),
        chat("Can you cancel it?", "I'm sorry, but I cannot cancel an order that has already shipped."),
        chat("Thanks", LONG_ANSWER, "Okay.", "Anything else I can help with?"),  # "Okay." is a user turn
        chat("Write a long story", " ".join(f"word{i}" for i in range(400))),
    ]
    assert [r for r, _ in decisions(run(good))] == [None] * len(good)


def test_scope_tool_calls_and_weight_zero():
    mid_short = chat("Hi", "Ok.", "My bill is wrong", LONG_ANSWER)
    assert decisions(run([mid_short]))[0][0] is None
    assert decisions(run([mid_short], short_reply_scope="every"))[0][0] == "short_reply"
    tool_only = {"messages": [{"role": "user", "content": "Weather in Oslo?"}, {
        "role": "assistant", "content": None,
        "tool_calls": [{"id": "1", "type": "function", "function": {"name": "w", "arguments": "{}"}}]}]}
    untrained = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "k", "weight": 0},
                              {"role": "user", "content": "bill?"}, {"role": "assistant", "content": LONG_ANSWER}]}
    assert [r for r, _ in decisions(run([tool_only, untrained], short_reply_scope="every"))] == [None, None]


def test_cjk_characters_count_double():
    assert content_chars("好的") == 4 and content_chars("ok") == 2
    assert decisions(run([chat("你能帮我吗？", "好的")]))[0][0] is None


def test_ratio_turns_and_switches():
    terse = chat("Please explain in detail how the roaming charges on my last three bills were calculated.", "See app.")
    many = chat(*["Question about my bill?", LONG_ANSWER] * 6)
    assert [r for r, _ in decisions(run([terse, many]))] == [None, None]  # both checks off by default
    out = run([terse, many], min_length_ratio=0.2, max_turns=10)
    (r1, d1), (r2, d2) = decisions(out)
    assert r1 == "length_ratio" and "< min 0.2" in d1
    assert r2 == "too_many_turns" and d2 == "12 user + assistant messages (max 10)"
    off = {"min_assistant_chars": None, "echo_reply": False, "refusal_phrases": [],
           "max_duplicate_trigram_fraction": None, "max_line_repeats": None}
    assert [r for r, _ in decisions(run([c[0] for c in CASES], **off))] == [None] * len(CASES)


def test_flag_mode_keeps_rows_and_lists_every_failing_check():
    both = chat("Is it broken?", "As an AI language model " + REPEATED)
    out = run([both], action="flag")
    assert decisions(out) == [(None, None)]
    assert out.frame["flags"][0].to_list() == ["heuristics:refusal_boilerplate", "heuristics:repetitive_reply"]
    assert out.facts["hits"] == {"refusal_boilerplate": 1, "repetitive_reply": 1}
    assert out.facts["decided"] == {"refusal_boilerplate": 1}
    assert out.facts["samples"]["refusal_boilerplate"][0]["detail"].endswith("; also repetitive_reply")


def test_facts_distributions_add_up():
    examples = [c[0] for c in CASES] + [chat("a question here", LONG_ANSWER, "more", LONG_ANSWER)]
    facts = run(examples).facts
    assert sum(facts["turns_histogram"]["counts"]) == len(examples)
    assert sum(facts["reply_chars_histogram"]["counts"]) == len(examples) + 1
    assert facts["turns_histogram"]["labels"][1] == "2–3"
    json.dumps(facts)


@given(st.lists(st.floats(min_value=0, max_value=1e6), max_size=50))
def test_histogram_counts_every_value(values):
    h = histogram(values, [0, 1, 10, 100])
    assert sum(h.counts) == len(values) and len(h.labels) == len(h.counts)


@given(st.lists(st.sampled_from("abcdefghij"), min_size=3, max_size=40), st.integers(2, 6))
def test_repeating_text_raises_the_duplicate_share(words, times):
    text = " ".join(words)
    once, _ = duplicate_trigram_fraction(text)
    rep, _ = duplicate_trigram_fraction(" ".join([text] * times))
    n = len(words)  # k copies of n words hold k*n - 2 trigrams, of which at most n are distinct
    assert 0 <= once < 1 and rep >= once and rep >= 1 - n / (times * n - 2) - 1e-9


# --- real third-party data: false positives -------------------------------------------------------------

def _conversations(path: Path, key: str, text: str, role_of) -> list[dict]:
    by = defaultdict(list)
    with open(path, newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            role = role_of(r)
            msgs = by[r[key]]
            if msgs and msgs[-1]["role"] == role:
                msgs[-1]["content"] += "\n" + r[text]
            else:
                msgs.append({"role": role, "content": r[text]})
    return [{"messages": m} for m in by.values()]


@pytest.mark.slow
def test_real_conversations_rarely_trip_the_defaults(realdata):
    agentune = _conversations(realdata / "agentune-insurance-calls/messages.csv", "conversation_id", "message",
                              lambda r: "assistant" if r["author"] == "Agent" else "user")
    persuasion = _conversations(realdata / "persuasionforgood/full_dialog.csv", "B2", "Unit",
                                lambda r: "assistant" if r["B4"] == "0" else "user")
    fastchat = [{"messages": [{"role": "assistant" if t["from"] == "gpt" else "user", "content": t["value"]}
                              for t in ex["conversations"]]}
                for ex in json.loads((realdata / "fastchat-dummy/dummy_conversation.json").read_text())]
    got = {}
    for name, examples in (("agentune", agentune), ("persuasion", persuasion), ("fastchat", fastchat)):
        got[name] = Counter(r for r in run(examples).frame[DROP_REASON].to_list() if r)
    # agentune: "Okay." x1,199 are mostly customer turns and mid-call; only a final "By." and three agent
    # turns that really repeat (hold announcements, a vehicle id read out again and again) are caught.
    assert got["agentune"] == Counter({"repetitive_reply": 3, "short_reply": 1})
    assert got["persuasion"] == Counter()  # "Hello" x72 are greetings answered in kind
    assert got["fastchat"] == Counter()  # identity answers ("a language model trained by ...") are not boilerplate


@pytest.mark.slow
def test_real_short_answers_and_instructions(realdata):
    """Before the closed-answer rule xdailydialog lost 22 dialogues to short_reply; now the two 'Ja.' answering a
    question ('Sie meinen, ...?', 'Heißt das, ...?') pass. The 20 left are acknowledgements ('OK.' x15, 'Ja!' x2,
    '好。' x2, '耶！'), none answering a yes/no question with a yes/no word, and one 'Sì.' after a statement.
    dpo_zh's three '不。' follow prompts ending in 'A：' or '解决方案：', no question mark: still short."""
    dialogues = []
    for lang in ("de", "en", "it", "zh"):
        with open(realdata / f"xdailydialog/{lang}_test_human.txt", encoding="utf-8") as f:
            for line in f:
                turns = [t.strip() for t in line.split("\t")[0].split("__eou__") if t.strip()]
                dialogues.append(chat(*turns))
    alpaca = [chat((a["instruction"] + "\n" + a["input"]).strip(), a["output"])
              for a in json.loads((realdata / "llamafactory-demo/alpaca_en_demo.json").read_text())]
    dpo_zh = [{"messages": [{"role": "user", "content": t["value"]} for t in ex["conversations"]]
               + [{"role": "assistant", "content": ex["chosen"]["value"]}]}
              for ex in json.loads((realdata / "llamafactory-demo/dpo_zh_demo.json").read_text())]
    got = {name: Counter(r for r in run(examples).frame[DROP_REASON].to_list() if r)
           for name, examples in (("xdailydialog", dialogues), ("alpaca", alpaca), ("dpo_zh", dpo_zh))}
    assert got["xdailydialog"] == Counter({"short_reply": 20})
    assert got["alpaca"] == Counter({"refusal_boilerplate": 8})  # "as an AI language model, I do not have ..."
    assert got["dpo_zh"] == Counter({"short_reply": 3})


# --- the sample data's planted problems -----------------------------------------------------------------



def rejected_conversations(out: Path, stage: str) -> set[tuple[str, str]]:
    """(conversation id, reason) of the support_chats.csv examples `stage` rejected."""
    csv.field_size_limit(10**9)
    with open(ROOT / "data/sample/support_chats.csv", newline="", encoding="utf-8") as f:
        conv = {i: rec[0] for i, rec in enumerate(list(csv.reader(f))[1:], 1) if rec}
    found = set()
    for line in (out / "rejects.jsonl").read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        if r["stage"] == stage:
            assert r["source"]["file"].endswith("support_chats.csv"), r
            found |= {(conv[row], r["reason"]) for row in r["source"]["rows"]}
    return found


def test_sample_planted_quality_problems_are_dropped(run_config):
    defects = json.loads((ROOT / "data/sample/defects.json").read_text())["support_chats.csv"]["quality"]
    reason = {"refusal": "refusal_boilerplate", "echo": "echo_reply", "one_word": "short_reply",
              "repetition": "repetitive_reply"}
    expected = {(d["id"], reason[kind]) for kind, items in defects.items() for d in items}
    result, out = run_config(sample_config("heuristics"))
    assert rejected_conversations(out, "heuristics") == expected
    assert result.stats["facts"]["heuristics"]["decided"] == dict(Counter(r for _, r in expected))


# --- the fast pre-checks never change a decision ---------------------------------------------------------

def reference_hits(messages: list[dict], p: HeuristicsParams) -> list[tuple[str, str]]:
    """The checks written out plainly from their definitions (no pre-checks), as an oracle."""
    from pipeline.stages.heuristics.stage import (
        _NUMBER,
        _QUESTION_END,
        _normalise,
        _phrase_key,
        _quote,
        message_text,
    )

    hits = []
    trained = [i for i, m in enumerate(messages) if m.get("role") == "assistant" and m.get("weight", 1) != 0]
    texts = [message_text(m) for m in messages]
    where = lambda i: f"message {i + 1} ({messages[i].get('role')})"
    for i in (trained if p.short_reply_scope == "every" else trained[-1:]) if p.min_assistant_chars else ():
        m = messages[i]
        closed = i and messages[i - 1].get("role") == "user" and _QUESTION_END.search(texts[i - 1]) and \
            _normalise(texts[i]) in {_normalise(x) for x in p.closed_answers}
        if not (m.get("tool_calls") or m.get("function_call") or _NUMBER.match(texts[i]) or closed) and \
                content_chars(texts[i]) < p.min_assistant_chars:
            hits.append(("short_reply", (f"{where(i)}: {_quote(texts[i])} has {content_chars(texts[i])} letters/"
                                         f"digits (min {p.min_assistant_chars})")))
            break
    for i in trained if p.echo_reply else ():
        if i and messages[i - 1].get("role") == "user":
            a = _normalise(texts[i])
            if len(a) >= p.echo_min_chars and a == _normalise(texts[i - 1]):
                hits.append(("echo_reply", f"{where(i)}: {_quote(texts[i])} repeats {where(i - 1)}"))
                break
    phrases = [_phrase_key(x) for x in p.refusal_phrases]
    for i in trained:
        phrase = next((x for x in phrases if x in _phrase_key(texts[i])), None)
        if phrase:
            hits.append(("refusal_boilerplate", f"{where(i)}: contains {phrase!r}: {_quote(texts[i])}"))
            break
    for i in trained:
        frac, n = duplicate_trigram_fraction(texts[i])
        if p.max_duplicate_trigram_fraction is not None and n >= p.repetition_min_words and \
                frac > p.max_duplicate_trigram_fraction:
            hits.append(("repetitive_reply", f"{where(i)}: {frac:.0%} of its word 3-grams repeat"))
            break
        line_detail = repeated_line(texts[i], p.max_line_repeats) if p.max_line_repeats is not None else None
        if line_detail:
            hits.append(("repetitive_reply", f"{where(i)}: {line_detail}"))
            break
    return hits


PIECES = ["as an AI language model", "AS AN AI", "Language  Model", "i’m just an ai", "ＡＩ", "Line one here\n",
          "word ", "again and again ", "ǰ", "ß", "é", "e\u0301", "\u0345", "ŉ", "好的", "東京", "_", "\x00", "\r\n",
          "\u2028", "\x0b", " ", ".", "!", "?", "3", "0.5", "Hello", "hello!", "ﬁ", "K", "ſ", "go on go on go on",
          "```\n", "\n# ", "\n| ", "\nKey: v\n", "\n- ", "\n2. ", "：", "No.", "不。"]
texts_st = st.lists(st.sampled_from(PIECES) | st.text(max_size=6), max_size=14).map("".join)


@st.composite
def conversations(draw):
    msgs = []
    for _ in range(draw(st.integers(1, 6))):
        text = draw(texts_st)
        if msgs and draw(st.booleans()):  # echoes, case changes and repeats of the message before
            text = draw(st.sampled_from([msgs[-1]["content"], msgs[-1]["content"].upper() + "!",
                                         (msgs[-1]["content"] + "\n") * draw(st.integers(2, 7))]))
        msgs.append({"role": draw(st.sampled_from(["user", "assistant", "assistant", "system"])), "content": text})
    return {"messages": msgs}


STRICT = {"short_reply_scope": "every", "echo_min_chars": 1, "repetition_min_words": 3, "max_line_repeats": 2,
          "max_duplicate_trigram_fraction": 0.2,
          "refusal_phrases": ["as an ai language model", "i'm just an ai", "ai", "ǰ", "好的", "_ é", "k"]}


TIGHT = {"repetition_min_words": 6, "max_duplicate_trigram_fraction": 0.3, "max_line_repeats": 3}  # "go on" x 3


@pytest.mark.parametrize("params", [{}, STRICT, TIGHT], ids=["defaults", "strict", "tight"])
@given(st.lists(conversations(), min_size=1, max_size=8))
def test_fast_checks_decide_as_the_plain_definitions(params, examples):
    p = HeuristicsParams(name="heuristics", **params)
    got = decisions(run(examples, **params))
    for example, (reason, detail) in zip(examples, got):
        want = reference_hits(example["messages"], p)
        assert reason == (want[0][0] if want else None), (example, detail, want)
        if want:
            assert detail.startswith(want[0][1]), (detail, want)


def test_a_phrase_whose_anchor_is_inside_one_of_its_words_is_found():
    # "aim be" makes "aim" an anchor, and "xaim" holds no anchor as a whole word, only inside "xaim": the phrase
    # must be looked for under "aim" too
    from pipeline.stages.heuristics.stage import phrase_anchors

    assert phrase_anchors(["xaim", "aim be"]) == ["aim"]
    out = run([chat("hi", "Warum XAIM?"), chat("hi", "aim to be")], refusal_phrases=["xaim", "aim be"])
    assert decisions(out) == [("refusal_boilerplate", "message 2 (assistant): contains 'xaim': 'Warum XAIM?'"),
                              (None, None)]


@given(texts_st, texts_st)
def test_precheck_keys_are_necessary_conditions(a, b):
    from pipeline.stages.heuristics.stage import _normalise, _phrase_key, ascii_key, fold

    if _normalise(a) == _normalise(b):
        assert ascii_key(a) == ascii_key(b)
    for word in _phrase_key(b).split():
        if _phrase_key(b) in _phrase_key(a):
            assert word in fold(a)
    assert fold(a + "\x00" + b) == fold(a) + "\x00" + fold(b)


@given(texts_st | st.text())
def test_word_bound_is_an_upper_bound(text):
    from pipeline.stages.heuristics.stage import _at_most_words

    assert _at_most_words(text) >= duplicate_trigram_fraction(text)[1]


# --- chunked runs ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("action", ["drop", "flag"])
def test_facts_of_uneven_chunks_merge_to_the_whole(action):
    examples = [c[0] for c in CASES] * 7 + [chat("a question here", LONG_ANSWER, "more", LONG_ANSWER)] * 5
    examples += [chat("Hi", "As an AI language model I cannot", "ok", REPEATED)] * 4
    frame = frame_of(examples)
    params = HeuristicsParams(name="heuristics", action=action, samples_per_reason=3, max_turns=3)
    whole = heuristics.run(frame, params, None)
    cuts = [0, 5, 29, frame.height]  # three uneven chunks
    parts = [heuristics.run(frame.slice(a, b - a), params, None) for a, b in itertools.pairwise(cuts)]
    facts = render(whole.facts)
    assert stage_facts(heuristics, params, [p.facts for p in parts]) == facts
    assert merge_parts([whole.facts]) == facts
    assert pl.concat([p.frame for p in parts]).equals(whole.frame)
    assert sum(facts["decided"].values()) > 0 and len(facts["samples"]["short_reply"]) == 3
