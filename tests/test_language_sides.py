"""language_sides: the fast side samples equal the plain definition on any text and any message list."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.engine.records import dumps_example
from pipeline.stages.language.sides import (
    NOISE,
    PYTHON_WHITESPACE,
    clean_sample,
    clean_samples,
    example_samples,
    has_letters,
    letters,
    side_texts,
)

# pieces that exercise every NOISE alternative, token boundaries and Python's whitespace (incl. \x1c, \u3000)
PIECES = ["a", "Z", "é", "日本", "ß", "1", "_", ".", "@", "x@y.de", "a@b", "@.", "http://", "https://t.co/x",
          "www.", "www.x", "[PERSON_NAME]", "[A]", "[a]", "[", "]", "://", " ", "  ", "\n", "\t", "\x1c", "\u3000",
          "\u00a0", "\u2028", "\u0301", "ok.", "Straße", "😀"]
texts = st.lists(st.sampled_from(PIECES), max_size=120).map("".join)


def reference(text: str, limit: int) -> str:
    return " ".join(NOISE.sub(" ", text).split())[:limit]


@settings(max_examples=400, deadline=None)
@given(texts, st.integers(min_value=1, max_value=60))
def test_clean_sample_is_the_plain_definition(text, limit):
    assert clean_sample(text, limit) == reference(text, limit)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(PIECES), min_size=1, max_size=4).map("".join), st.integers(1, 3000),
       st.integers(5, 80))
def test_long_texts_read_only_a_prefix_but_agree(unit, repeat, limit):
    text = (unit + " ") * repeat  # tokens stay short: NOISE itself backtracks for ages on long ones
    assert clean_sample(text, limit) == reference(text, limit)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["a", "@", ".", "é", "_", "-", "1", "http://", "www.", "[X]", "]"]),
                max_size=40).map("".join))
def test_tokens_with_at_match_noise(token):
    assert clean_sample(token, 200) == reference(token, 200)


def test_long_tokens_are_linear():
    blob = "QUJD" * 250_000 + " tail"  # 1 MB of base64: NOISE alone backtracks quadratically on it
    assert clean_sample(blob, 50) == blob[:50]
    at_blob = "a@" * 200_000  # cubic for NOISE: every "@" is tried from every start
    assert clean_sample(at_blob + " x@y.de z", 30) == at_blob[:30]
    emails = ";".join(f"user{i}@example.com" for i in range(20_000)) + " thanks"
    assert clean_sample(emails, 30) == "thanks"


def test_python_whitespace_is_what_str_split_splits_on():
    assert PYTHON_WHITESPACE == "".join(c for c in map(chr, range(0x110000)) if c.isspace())


long_texts = st.tuples(st.lists(st.sampled_from(PIECES), min_size=1, max_size=6).map("".join),
                       st.integers(0, 120)).map(lambda unit_repeat: (unit_repeat[0] + " ") * unit_repeat[1])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(texts, long_texts), max_size=12), st.integers(min_value=1, max_value=80))
def test_clean_samples_of_many_texts_is_clean_sample_of_each(batch, limit):
    # polars collapses the whitespace of prefixes: marks, Python's whitespace (\x1c, \u3000) and the
    # prefixes that come out short must all end as the plain definition
    assert clean_samples(batch, limit) == [reference(t, limit) for t in batch]


def test_clean_samples_with_lone_surrogates_and_long_whitespace():
    batch = ["a \ud800 b", "x" * 10 + " " * 500 + "tail words here", "\u3000 ".join(["wort"] * 200), ""]
    assert clean_samples(batch, 30) == [reference(t, 30) for t in batch]


message = st.fixed_dictionaries(
    {"role": st.sampled_from(["system", "user", "assistant", "tool"]),
     "content": st.one_of(texts, st.none(), st.lists(st.one_of(
         st.fixed_dictionaries({"type": st.just("text"), "text": texts}),
         st.fixed_dictionaries({"type": st.just("image_url")})), max_size=3))},
    optional={"weight": st.sampled_from([0, 1]), "name": st.just("n")})


@settings(max_examples=300, deadline=None)
@given(st.lists(message, max_size=14), st.integers(1, 120), st.booleans())
def test_example_samples_equal_decoding_everything(messages, limit, canonical):
    obj = {"messages": messages, "tools": [{"type": "function", "function": {"name": "f"}}]}
    example = dumps_example(obj) if canonical else json.dumps(obj, indent=1)  # the slow path too
    user, assistant = side_texts(messages)
    assert example_samples(example, limit) == (reference(user, limit), reference(assistant, limit))


def test_repeated_keys_and_odd_messages_decode_as_json_loads():
    example = ('{"messages":[{"role":"user","content":"eins","content":"zwei"},"not a message",'
               '{"role":"assistant","content":"a","weight":0},{"role":"assistant","content":"b","weight":0.5}]}')
    user, assistant = side_texts(json.loads(example)["messages"])
    assert example_samples(example, 100) == (user, assistant) == ("zwei", "b")
    repeated = '{"messages":[{"role":"user","content":"eins","content":"zwei"},{"role":"assistant","content":"b"}]}'
    assert example_samples(repeated, 100) == ("zwei", "b")  # the msgspec path: the last value, as json.loads


def test_non_canonical_key_order_is_decoded_whole():
    example = dumps_example({"tools": [], "messages": [{"role": "user", "content": "hallo welt"}]})
    assert example_samples(example, 100) == ("hallo welt", "")


@settings(max_examples=300, deadline=None)
@given(texts, st.integers(min_value=1, max_value=40))
def test_has_letters_is_a_threshold_on_letters(text, need):
    assert has_letters(text, need) == (letters(text) >= need)
