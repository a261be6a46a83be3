"""normalize: each kind of text cleanup, counted; only message text touched; idempotent (hypothesis)."""

from __future__ import annotations

import copy
import itertools
import json
import re
import unicodedata

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.chat.texts import text_slots
from pipeline.engine.facts import merge_parts, render
from pipeline.engine.records import dumps_example
from pipeline.engine.segments import stage_facts
from pipeline.stages.normalize import stage as normalize
from schemas.stages.normalize import NormalizeParams

DEFAULT = NormalizeParams(name="normalize")
CLEANER = normalize.TextCleaner(DEFAULT)


def clean(text: str, params=DEFAULT) -> tuple[str, list[str]]:
    return normalize.TextCleaner(params).clean(text)


def facts_of(out, params=DEFAULT) -> dict:
    """The facts of a run as the runner reports them."""
    return stage_facts(normalize, params, [out.facts])


@pytest.mark.parametrize("before, after, kinds", [
    ("plain text", "plain text", []),
    ("a\r\nb\rc", "a\nb\nc", ["line_endings"]),
    ("a\u2028b\u2029c\x0bd\x0ce", "a\nb\nc\nd\ne", ["line_endings"]),
    ("nul\x00 here\x1b[0m\x7f", "nul here[0m", ["control_chars"]),
    ("tab\tand\nnewline", "tab\tand\nnewline", []),
    ("cafe\u0301", "café", ["nfc"]),
    ("  padded \n", "padded", ["trim"]),
    ("\u00a0nbsp\u3000", "nbsp", ["trim"]),
    ("a\n\n\n\nb", "a\n\nb", ["blank_lines"]),  # three blank lines -> one
    ("a\n \n\t\n  \nb", "a\n\nb", ["blank_lines"]),  # whitespace-only lines are blank
    ("a\n\n\nb", "a\n\n\nb", []),  # two blank lines stay (blank_line_run: 3)
    ("donâ€™t stop", "don’t stop", ["mojibake"]),
    ("Ã©tÃ© Ã  Paris", "été à Paris", ["mojibake"]),
    ("x\ud800y", "x\ufffdy", ["surrogates"]),
    ("\x00\x01", "", ["control_chars"]),
    ("naïve café, 東京, emoji 👍🏽, Zürich", "naïve café, 東京, emoji 👍🏽, Zürich", []),
])
def test_each_kind(before, after, kinds):
    assert clean(before) == (after, kinds)


def test_steps_can_be_switched_off():
    off = NormalizeParams(name="normalize", fix_mojibake=False, unicode_form="none", line_endings=False,
                          control_chars=False, trim=False, blank_line_run=None)
    text = "  donâ€™t\r\n\x00cafe\u0301\n\n\n\n\nx "
    assert clean(text, off) == (text, [])
    keep_crlf = NormalizeParams(name="normalize", line_endings=False)
    assert clean("a\r\nb\x00", keep_crlf) == ("a\r\nb", ["control_chars"])  # CR kept when line endings are


def test_blank_line_run_is_configurable():
    two = NormalizeParams(name="normalize", blank_line_run=2)
    assert clean("a\n\n\nb", two) == ("a\n\nb", ["blank_lines"])
    assert clean("a\n\nb", two) == ("a\n\nb", [])


def test_only_text_fields_are_touched():
    obj = {"messages": [
        {"role": "system", "content": " sys\r\n", "name": "ops"},
        {"role": "user", "content": [{"type": "text", "text": "cafe\u0301 "},
                                     {"type": "image_url", "image_url": {"url": " https://x/y.png "}}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": " call\r\n", "type": "function", "function": {"name": "f", "arguments": "{\"a\": \" \\r\\n \"}"}}]},
        {"role": "tool", "tool_call_id": " call\r\n", "content": " 18C\x00 "},
        {"role": "assistant", "content": [{"type": "refusal", "refusal": " no\x00"}], "refusal": "  no "},
    ], "tools": [{"type": "function", "function": {"name": "f", "description": " keep \r\n"}}]}
    out = copy.deepcopy(obj)
    changes = normalize.normalize_example(out, CLEANER)
    assert [c[0] for c in changes] == ["message 1 (system): content", "message 2 (user): content[0].text",
                                       "message 4 (tool): content", "message 5 (assistant): content[0].refusal",
                                       "message 5 (assistant): refusal"]
    assert out["messages"][0]["content"] == "sys" and out["messages"][1]["content"][0]["text"] == "café"
    assert out["messages"][3]["content"] == "18C" and out["messages"][4]["refusal"] == "no"
    assert out["messages"][1]["content"][1] == obj["messages"][1]["content"][1]
    assert out["messages"][2] == obj["messages"][2] and out["messages"][3]["tool_call_id"] == " call\r\n"
    assert out["tools"] == obj["tools"]


def frame(objs: list) -> pl.DataFrame:
    n = len(objs)
    return pl.DataFrame({
        "example_id": [f"id{i}" for i in range(n)], "source_file": ["in.csv"] * n,
        "source_rows": [[i + 1] for i in range(n)], "group_id": [f"g{i}" for i in range(n)],
        "example": [o if isinstance(o, str) else dumps_example(o) for o in objs], "flags": [[] for _ in range(n)],
    })


def chat(*texts: str) -> dict:
    roles = ["user", "assistant"]
    return {"messages": [{"role": roles[i % 2], "content": t} for i, t in enumerate(texts)]}


def test_run_counts_changes_rewrites_only_changed_rows_and_drops_nothing():
    objs = [chat("fine", "ok"), chat("a\r\nb ", "x"), chat("\x00\x01", "cafe\u0301"), "not json", chat("q", "donâ€™t")]
    f = frame(objs)
    out = normalize.run(f, DEFAULT, None)
    assert out.frame["drop_reason"].null_count() == 5
    assert out.frame["example"][0] == f["example"][0] and out.frame["example"][3] == "not json"
    assert json.loads(out.frame["example"][2])["messages"] == [{"role": "user", "content": ""},
                                                               {"role": "assistant", "content": "café"}]
    facts = facts_of(out)
    assert facts["examples"] == 5 and facts["changed_examples"] == 3 and facts["changed_texts"] == 4
    assert facts["changes"] == {"mojibake": 1, "line_endings": 1, "control_chars": 1, "nfc": 1, "trim": 1}
    assert facts["emptied_texts"] == 1
    kinds = {k for s in facts["samples"] for k in s["kinds"]}
    assert kinds == set(facts["changes"])
    nul = next(s for s in facts["samples"] if "control_chars" in s["kinds"])
    assert nul["before"] == "\\x00\\x01" and nul["after"] == "" and nul["source_rows"] == [3]
    json.dumps(facts)


def test_samples_are_capped():
    params = NormalizeParams(name="normalize", samples=3)
    facts = facts_of(normalize.run(frame([chat(f" x{i}", "y") for i in range(50)]), params, None), params)
    assert facts["changed_examples"] == 50 and len(facts["samples"]) <= 3


# --- properties --------------------------------------------------------------------------------------
messy_chars = st.sampled_from(list("ab \t\n\r\x00\x1b\x7f\x85\x9f\u2028\u00a0\u0301eÃ©â€™\ud800東👍") + ["\r\n"])
messy = st.lists(messy_chars, max_size=30).map("".join) | st.text(max_size=30)
ident = st.text(alphabet=st.sampled_from(list("ab \r\n\x00é")), max_size=8)


@st.composite
def examples(draw):
    messages = []
    for i in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["str", "parts", "tool"]))
        if kind == "str":
            messages.append({"role": ["user", "assistant"][i % 2], "content": draw(messy), "name": draw(ident)})
        elif kind == "parts":
            messages.append({"role": "user", "content": [{"type": "text", "text": draw(messy)},
                                                         {"type": "image_url", "image_url": {"url": draw(ident)}}]})
        else:
            messages.append({"role": "assistant", "content": draw(st.none() | messy), "tool_calls": [
                {"id": draw(ident), "type": "function", "function": {"name": draw(ident), "arguments": draw(messy)}}]})
    return {"messages": messages, "tools": [{"type": "function", "function": {"name": "f", "description": draw(messy)}}]}


def _mask_text(obj: dict) -> dict:
    masked = copy.deepcopy(obj)
    for m in masked["messages"]:
        for slot in text_slots(m, refusals=True):
            slot.set("<text>")
    return masked


CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


@pytest.mark.parametrize("mojibake", [True, False])
@settings(max_examples=200, deadline=None)
@given(obj=examples())
def test_properties(obj, mojibake):
    cleaner = normalize.TextCleaner(NormalizeParams(name="normalize", fix_mojibake=mojibake))
    once = copy.deepcopy(obj)
    normalize.normalize_example(once, cleaner)
    twice = copy.deepcopy(once)
    assert normalize.normalize_example(twice, cleaner) == []  # idempotent: nothing left to change
    assert twice == once
    assert _mask_text(once) == _mask_text(obj)  # roles, names, ids, arguments, urls, tools untouched
    for m in once["messages"]:
        for slot in text_slots(m, refusals=True):
            text = slot.get()
            assert not CONTROL.search(text), repr(text)
            assert text == text.strip() and unicodedata.is_normalized("NFC", text)
            assert "\n\n\n\n" not in text


@settings(max_examples=300, deadline=None)
@given(messy)
def test_quick_check_never_skips_work(text):
    cleaner = normalize.TextCleaner(DEFAULT)
    if not cleaner._suspect(text):
        for _, step in cleaner.steps:
            assert step(text) == text


@settings(max_examples=300, deadline=None)
@given(st.lists(messy, max_size=6), st.sampled_from([DEFAULT, NormalizeParams(
    name="normalize", blank_line_run=1, trim=False, unicode_form="none")]))
def test_quick_check_of_a_whole_example_never_skips_work(texts, params):
    cleaner = normalize.TextCleaner(params)
    if cleaner.all_quiet(texts):
        assert all(cleaner.clean(t) == (t, []) for t in texts)
    if params is DEFAULT and all(t and "\n" not in t and not cleaner._suspect(t) for t in texts):
        assert cleaner.all_quiet(texts)  # and it does not give up on the common case


mojibake_alphabet = st.sampled_from(sorted(set(
    "aeo ÃÂâ€™œžŸ©®°±²³´µ¶·¸¹º»¼½¾¿ÀÁÄÅÆÇÈÉÊËÌÍÎÏÐÑÒÓÔÕÖ×ØÙÚÛÜÝÞßàáãäåæçèéêëìíîïðñòóôõö÷øùúûüýþÿ"
    "ВГРСЂЃѓЉЊЌЋЏђљњќћџЎўЈҐЁЄЇІіґёєјЅѕївгрсΒΓΞΟβ√≈‚‘’“”•–—˜™€ŒœŠšŽƒˆ‰‹›\x81\x8d\x9d\xa0\xad│┌═")))


@settings(max_examples=1000, deadline=None)
@given(st.lists(mojibake_alphabet, min_size=1, max_size=12).map("".join))
def test_mojibake_hint_covers_every_text_ftfy_would_touch(text):
    from ftfy.badness import is_bad

    if is_bad(text):
        assert normalize._MOJIBAKE_HINT.search(text), repr(text)


# --- chunked runs ----------------------------------------------------------------------------------------

def old_rule_samples(changes: list[tuple[list[str], bool]], limit: int) -> list[int]:
    """Indexes of the changed texts the documented rule takes, run over the whole input at once."""
    taken, per_kind = [], {}
    for n, (kinds, emptied) in enumerate(changes):
        if (any(per_kind.get(k, 0) < 2 for k in kinds) or emptied) and len(taken) < limit:
            taken.append(n)
            for k in kinds:
                per_kind[k] = per_kind.get(k, 0) + 1
    return taken


@pytest.mark.parametrize("limit", [1, 3, 4, 10])
def test_samples_of_uneven_chunks_merge_to_the_whole(limit):
    # early chunks fill the trim / line_endings quota; a later chunk then needs its nfc and emptied texts,
    # which its own run would not have sampled once its own quota was full
    texts = [" a\r\nb", " c\r\nd", "e ", "f ", "g\r", "cafe\u0301", "\x00", "h\x00 ", "\x01", "i\r", " j"] * 2
    objs = [chat("ok", t) for t in texts]
    f = frame(objs)
    params = NormalizeParams(name="normalize", samples=limit)
    whole = normalize.run(f, params, None)
    cuts = [0, 2, 9, f.height]
    parts = [normalize.run(f.slice(a, b - a), params, None) for a, b in itertools.pairwise(cuts)]
    facts = facts_of(whole, params)
    assert stage_facts(normalize, params, [p.facts for p in parts]) == facts
    assert merge_parts([whole.facts]) == render(whole.facts)
    assert pl.concat([p.frame for p in parts]).equals(whole.frame)
    kinds = [(clean(t)[1], clean(t)[0] == "" and t != "") for t in texts]
    want = old_rule_samples(kinds, limit)
    assert [s["source_rows"] for s in facts["samples"]] == [[n + 1] for n in want]
    assert len(facts["sample_pool"]) <= 2 * len(normalize.KINDS) + limit


def test_the_one_pass_class_is_the_work_and_the_mojibake_hint_together():
    # all_quiet looks for both in one search of a non-ASCII example
    either = [c for c in map(chr, range(0x110000)) if normalize._WORK.match(c) or normalize._MOJIBAKE_HINT.match(c)]
    assert [c for c in map(chr, range(0x110000)) if normalize._WORK_OR_HINT.match(c)] == either
    assert normalize.TextCleaner(NormalizeParams(name="normalize", fix_mojibake=False))._work is normalize._WORK
