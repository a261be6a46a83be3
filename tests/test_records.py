"""records.loads_example is json.loads: the same objects (types, key order, float bits) or the same error."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pipeline.engine.records import _DECODE, dumps_example, dumps_text_example, loads_example

SURROGATES = st.sampled_from(["\ud800", "\udbff", "\udc00", "\udfff"])
TEXT = st.text(st.one_of(st.characters(), SURROGATES, st.sampled_from(list('"\\/\b\f\n\r\t\x00\x1f\x7f\u2028é😀'))))
NUMBER_TEXT = st.from_regex(r"-?(0|[1-9][0-9]{0,40})(\.[0-9]{1,40})?([eE][+-]?[0-9]{1,4})?", fullmatch=True)
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.integers(min_value=-(2**200), max_value=2**200) | st.floats()
    | TEXT,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(TEXT, inner, max_size=5),
    max_leaves=30)


def typed(value):
    """A form that tells apart what == does not: 1 / 1.0 / True, -0.0 / 0.0, NaN, dict key order."""
    if isinstance(value, dict):
        return ("dict", [(k, typed(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("list", [typed(v) for v in value])
    if isinstance(value, float):
        return ("float", "nan" if math.isnan(value) else value.hex())
    return (type(value).__name__, value)


def outcome(loads, text):
    try:
        return "ok", typed(loads(text))
    except Exception as e:  # noqa: BLE001
        return "error", type(e), str(e)


@settings(max_examples=400, deadline=None)
@given(VALUES, st.booleans(), st.sampled_from([None, (",", ":"), (", ", ": ")]), st.sampled_from([None, 1, "\t"]))
def test_json_texts_parse_as_json_loads_parses_them(value, ascii_only, separators, indent):
    text = json.dumps(value, ensure_ascii=ascii_only, separators=separators, indent=indent)
    assert outcome(loads_example, text) == outcome(json.loads, text)


@settings(max_examples=1000, deadline=None)
@given(NUMBER_TEXT)
@example("18446744073709551616")  # beyond 64 bits: orjson would read a float here
@example("-9223372036854775809")
@example("1e400")
@example("-1e400")
@example("2.2250738585072011e-308")
@example("9007199254740993.0")
@example("1.00000000000000011102230246251565404236316680908203125")
def test_numbers_are_the_same_ints_and_floats(text):
    assert outcome(loads_example, text) == outcome(json.loads, text)
    assert outcome(loads_example, f"[{text}]") == outcome(json.loads, f"[{text}]")


@settings(max_examples=600, deadline=None)
@given(st.lists(st.sampled_from(list('{}[]",:0123456789.-+eE \t\n\r\\/ubfnrtx\x00\x0c\ud800é') + ["true", "null", "NaN"]))
       .map("".join))
@example('{"a":1,"a":2,"b":3}')
@example('{"a":1,"b":2,"a":3}')
@example('"\\ud800"')
@example('"\ud800"')
@example('"\\uDBFF\\uDFFF"')
@example("NaN")
@example("[Infinity,-Infinity]")
@example("[1,2,]")
@example("\ufeff[1]")
@example("[1]\x0c")
def test_any_text_gives_the_same_object_or_the_same_error(text):
    assert outcome(loads_example, text) == outcome(json.loads, text)


def test_the_fast_decoder_is_the_one_used_on_ordinary_examples():
    # loads_example would pass every test above by always calling json.loads; on an ordinary example it
    # must take msgspec's decoder, which gives the same object
    text = dumps_example({"messages": [{"role": "user", "content": "Grüße 😀 \"quoted\"\n"},
                                       {"role": "assistant", "content": "ok", "weight": 1}]})
    assert typed(_DECODE(text)) == typed(json.loads(text))
    calls = []
    original = json.loads
    try:
        json.loads = lambda *a, **k: calls.append(a) or original(*a, **k)
        assert typed(loads_example(text)) == typed(original(text))
        assert calls == []
        loads_example("NaN")  # refused by msgspec: json.loads decides
        assert calls == [("NaN",)]
    finally:
        json.loads = original


def test_a_refused_text_raises_json_loads_error():
    with pytest.raises(json.JSONDecodeError, match="Expecting property name"):
        loads_example("{")
    with pytest.raises(TypeError):
        loads_example(None)


def test_a_lazy_list_converts_its_column_once_when_first_read(monkeypatch):
    import polars as pl

    from pipeline.engine.records import LazyList

    series = pl.Series("source_rows", [[1, 2], None, [5]], dtype=pl.List(pl.Int64))
    calls = []
    real = pl.Series.to_list
    monkeypatch.setattr(pl.Series, "to_list", lambda self: calls.append(self.name) or real(self))
    rows = LazyList(series)
    assert calls == []  # a stage that reports no row never pays for the conversion
    assert [rows[2], rows[0], rows[1]] == [[5], [1, 2], None]
    assert calls == ["source_rows"]


TEXT_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.integers(min_value=-(2**200), max_value=2**200) | TEXT,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(TEXT, inner, max_size=5),
    max_leaves=30)


@settings(max_examples=600, deadline=None)
@given(TEXT_VALUES)
def test_text_examples_are_written_as_json_dumps_writes_them(value):
    """dumps_text_example (msgspec) writes strings of any code point (lone surrogates go to json.dumps), ints
    of any size, booleans, None, lists and dicts exactly as dumps_example does."""
    assert dumps_text_example(value) == dumps_example(value)
    assert dumps_text_example({"messages": [{"role": "user", "content": value}]}) == dumps_example(
        {"messages": [{"role": "user", "content": value}]})


def test_every_code_point_is_written_alike():
    text = "".join(chr(i) for i in range(0x110000) if not 0xD800 <= i < 0xE000)
    assert dumps_text_example({"content": text}) == dumps_example({"content": text})
