"""chat.texts: the text slots of every message shape, message_text, image_parts, and writing a slot."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.chat.texts import TextSlot, image_parts, message_text, text_slots
from pipeline.report.chat_preview import shown_text

IMAGE = {"type": "image_url", "image_url": {"url": "https://x/y.png"}}


def labels(message, **kw) -> list[tuple[str, str]]:
    return [(slot.label, slot.get()) for slot in text_slots(message, **kw)]


# --- every message shape --------------------------------------------------------------------------------

@pytest.mark.parametrize("message, without_refusals, with_refusals", [
    ({"role": "user", "content": "hi"}, [("content", "hi")], [("content", "hi")]),
    ({"role": "system", "content": ""}, [("content", "")], [("content", "")]),
    ({"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
     [("content[0].text", "a"), ("content[1].text", "b")], [("content[0].text", "a"), ("content[1].text", "b")]),
    ({"role": "user", "content": [IMAGE, {"type": "text", "text": "look"}, {"type": "input_image"}]},
     [("content[1].text", "look")], [("content[1].text", "look")]),
    ({"role": "assistant", "content": [{"type": "refusal", "refusal": "no"}]}, [], [("content[0].refusal", "no")]),
    ({"role": "assistant", "content": "x", "refusal": "no"}, [("content", "x")], [("content", "x"), ("refusal", "no")]),
    ({"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"q\": \"text?\"}"}}]}, [], []),
    ({"role": "assistant", "tool_calls": [{"id": "c1", "type": "function",
                                           "function": {"name": "f", "arguments": "{}"}}]}, [], []),
    ({"role": "assistant", "content": None, "function_call": {"name": "f", "arguments": "{}"}}, [], []),
    ({"role": "tool", "tool_call_id": "c1", "content": "18C"}, [("content", "18C")], [("content", "18C")]),
    ({"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "18C"}]},
     [("content[0].text", "18C")], [("content[0].text", "18C")]),
    ({"role": "function", "name": "f", "content": "42"}, [("content", "42")], [("content", "42")]),
    ({"role": "function", "name": "f", "content": None}, [], []),
])
def test_slots_of_each_message_shape(message, without_refusals, with_refusals):
    assert labels(message, refusals=False) == without_refusals
    assert labels(message, refusals=True) == with_refusals
    assert message_text(message) == "\n".join(text for _, text in without_refusals)


@pytest.mark.parametrize("junk", [None, "hello", 3, ["a"], [{"type": "text", "text": "a"}]])
def test_a_message_that_is_not_an_object_has_no_text(junk):
    assert list(text_slots(junk, refusals=True, malformed_parts=True)) == []
    assert message_text(junk) == "" and image_parts(junk) == 0


def test_junk_content_and_parts_are_not_text():
    for content in (3, {"text": "a"}, True):
        assert labels({"role": "user", "content": content}, refusals=True) == []
    message = {"role": "assistant", "refusal": None, "content": [
        "bare string part", 7, None, {"type": "text"}, {"type": "text", "text": None}, {"type": "text", "text": 5},
        {"type": "refusal", "refusal": ["no"]}, {"text": "no type"}, {"type": "image_url", "text": "stray"},
        {"type": "text", "text": "kept", "refusal": "stray"}]}
    assert labels(message, refusals=False) == [("content[9].text", "kept")]
    assert labels(message, refusals=True) == [("content[9].text", "kept")]
    assert message_text(message) == "kept"


def test_malformed_parts_reads_text_and_refusal_keys_of_any_part():
    message = {"role": "assistant", "content": [
        {"text": "no type"}, {"type": "image_url", "text": "stray"}, {"type": "text", "text": "t", "refusal": "r"},
        {"type": "refusal", "refusal": "no"}], "refusal": "key"}
    assert labels(message, refusals=True, malformed_parts=True) == [
        ("content[0].text", "no type"), ("content[1].text", "stray"), ("content[2].text", "t"),
        ("content[2].refusal", "r"), ("content[3].refusal", "no"), ("refusal", "key")]
    assert labels(message, refusals=False, malformed_parts=True) == [
        ("content[0].text", "no type"), ("content[1].text", "stray"), ("content[2].text", "t")]
    assert labels(message, refusals=True) == [("content[2].text", "t"), ("content[3].refusal", "no"),
                                              ("refusal", "key")]


def test_image_parts_counts_every_image_type_and_nothing_else():
    message = {"role": "user", "content": [IMAGE, {"type": "input_image"}, {"type": "image"}, {"type": "text",
               "text": "a"}, {"type": "input_audio"}, {"type": "file"}, "image_url", {"image_url": {}}]}
    assert image_parts(message) == 3
    assert image_parts({"role": "user", "content": "an image_url"}) == 0
    assert image_parts({"role": "user", "content": None}) == 0


def test_the_report_shows_text_slots_in_place_and_placeholders_for_the_rest():
    message = {"role": "assistant", "refusal": "not shown", "content": [
        {"type": "text", "text": "a"}, IMAGE, {"type": "refusal", "refusal": "no"}, {"type": "text"}, "raw", 5],
        "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}
    assert shown_text(message) == "a\n[image]\n[refusal]\n\nraw\n5\n→ f({})"
    assert shown_text({"role": "assistant", "content": None, "function_call": {"name": "g"}}) == "→ g()"


# --- writing a slot -------------------------------------------------------------------------------------

def test_setting_a_slot_rewrites_exactly_that_place():
    message = {"role": "assistant", "name": "bot", "content": [
        {"type": "text", "text": "a"}, IMAGE, {"type": "text", "text": "b"}], "refusal": "r",
        "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}
    for n, slot in enumerate(text_slots(message, refusals=True)):
        edited = copy.deepcopy(message)
        target = list(text_slots(edited, refusals=True))[n]
        target.set("NEW")
        expected = copy.deepcopy(message)
        if slot.part is None:
            expected[slot.key] = "NEW"
        else:
            expected["content"][slot.part][slot.key] = "NEW"
        assert edited == expected, slot.label
        assert target.get() == "NEW"


def test_slot_of_string_content_writes_the_message():
    message = {"role": "user", "content": "old"}
    (slot,) = text_slots(message, refusals=False)
    assert slot == TextSlot(message, "content") and slot.part is None
    slot.set("new")
    assert message == {"role": "user", "content": "new"}


# --- properties -----------------------------------------------------------------------------------------

_scalar = st.none() | st.booleans() | st.integers(-2, 2) | st.text(max_size=5)
_part = st.one_of(
    st.fixed_dictionaries({"type": st.sampled_from(["text", "refusal", "image_url", "input_image", "file", None])},
                          optional={"text": _scalar, "refusal": _scalar, "image_url": _scalar}),
    _scalar)
_content = _scalar | st.lists(_part, max_size=5)
messages = st.one_of(
    st.fixed_dictionaries({"role": st.sampled_from(["system", "user", "assistant", "tool", "function"])},
                          optional={"content": _content, "refusal": _scalar, "name": st.text(max_size=3)}),
    _scalar)


@settings(max_examples=500, deadline=None)
@given(messages)
def test_message_text_is_the_join_of_the_slots_without_refusals(message):
    slots = list(text_slots(message, refusals=False))
    assert message_text(message) == "\n".join(slot.get() for slot in slots)
    assert all(isinstance(slot.get(), str) for slot in slots)
    # refusals and malformed parts only ever add slots
    labelled = [s.label for s in slots]
    with_refusals = [s.label for s in text_slots(message, refusals=True)]
    assert [label for label in with_refusals if label in labelled] == labelled
    everything = [s.label for s in text_slots(message, refusals=True, malformed_parts=True)]
    assert [label for label in everything if label in with_refusals] == with_refusals


@settings(max_examples=300, deadline=None)
@given(messages, st.data())
def test_setting_any_slot_changes_only_its_string(message, data):
    slots = list(text_slots(message, refusals=True, malformed_parts=True))
    if not slots:
        return
    n = data.draw(st.integers(0, len(slots) - 1))
    edited = copy.deepcopy(message)
    list(text_slots(edited, refusals=True, malformed_parts=True))[n].set("\x00written\x00")
    after = [s.get() for s in text_slots(edited, refusals=True, malformed_parts=True)]
    assert after == [("\x00written\x00" if i == n else s.get()) for i, s in enumerate(slots)]
    restored = copy.deepcopy(edited)
    list(text_slots(restored, refusals=True, malformed_parts=True))[n].set(slots[n].get())
    assert restored == message
