"""engine/facts: typed stage facts merge by type, associatively and in input order, and render as plain JSON."""

from __future__ import annotations

import itertools
import json
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.engine.facts import (
    TALLY_ORDERS,
    Concat,
    FactMergeError,
    FirstN,
    FirstNPerKey,
    Histogram,
    Max,
    Min,
    Same,
    Sum,
    Tally,
    merge,
    merge_parts,
    render,
)
from pipeline.engine.segments import plan_segments, stage_facts
from pipeline.stages import stage_module


def dumped(facts: dict) -> str:
    """The rendered facts as JSON text: equal values *and* the same key order."""
    return json.dumps(render(facts))


def part(n: int, words: dict, first: list, order="first_seen") -> dict:
    return {"n": Sum(n), "model": Same("gpt"), "lo": Min(min(first, default=None)), "hi": Max(max(first, default=None)),
            "words": Tally(words, order), "hist": Histogram([0, 1, 10], [n, 1, 0], ["0–1", "1–10", "≥ 10"]),
            "first": FirstN(3, first), "by_key": FirstNPerKey(2, {w: first for w in words}),
            "nested": {"count": Sum(1), "all": Concat(first)}}


A = part(2, {"b": 1, "a": 2}, [1, 2])
B = part(5, {"c": 2, "a": 1}, [3, 4, 5])
C = part(0, {}, [])


def test_merge_is_associative():
    assert dumped(merge([A, merge([B, C])])) == dumped(merge([merge([A, B]), C])) == dumped(merge([A, B, C]))


def test_merged_values():
    facts = merge_parts([A, B, C])
    assert facts["n"] == 7 and facts["model"] == "gpt" and (facts["lo"], facts["hi"]) == (1, 5)
    assert facts["words"] == {"b": 1, "a": 3, "c": 2}
    assert facts["hist"] == {"edges": [0, 1, 10], "labels": ["0–1", "1–10", "≥ 10"], "counts": [7, 3, 0]}
    assert facts["nested"] == {"count": 3, "all": [1, 2, 3, 4, 5]}
    assert merge([]) == {} and merge_parts([C])["lo"] is None


def test_first_n_keeps_input_order():
    assert merge_parts([A, B])["first"] == [1, 2, 3]
    assert merge_parts([B, A])["first"] == [3, 4, 5]
    assert merge_parts([C, A, C, B])["first"] == [1, 2, 3]
    by_key = merge_parts([A, B])["by_key"]
    assert list(by_key) == ["b", "a", "c"] and by_key == {"b": [1, 2], "a": [1, 2], "c": [3, 4]}


def test_first_n_per_key_keeps_keys_without_items():
    empty = {"s": FirstNPerKey(0, {"x": [1, 2]})}
    assert merge_parts([empty, {"s": FirstNPerKey(0, {"y": [3]})}])["s"] == {"x": [], "y": []}


def test_histogram_refuses_other_edges():
    other = {"hist": Histogram([0, 2, 10], [1, 1, 1], ["0–2", "2–10", "≥ 10"])}
    with pytest.raises(FactMergeError, match=r"facts hist: Histogram edges differs"):
        merge([{"hist": A["hist"]}, other])
    assert render({"h": Histogram([0.0, 0.5], [1, 2])}) == {"h": {"edges": [0.0, 0.5], "counts": [1, 2]}}


@pytest.mark.parametrize("order, rendered", [
    ("first_seen", [("b", 1), ("a", 3), ("d", 3), ("c", 2)]),
    ("key", [("a", 3), ("b", 1), ("c", 2), ("d", 3)]),
    ("count", [("a", 3), ("d", 3), ("c", 2), ("b", 1)]),           # ties in first-seen order
    ("count_then_key", [("a", 3), ("d", 3), ("c", 2), ("b", 1)]),
    (("d", "c", "b", "a", "z"), [("d", 3), ("c", 2), ("b", 1), ("a", 3)]),
])
def test_tally_render_orders(order, rendered):
    parts = [{"t": Tally({"b": 1, "a": 2}, order)}, {"t": Tally({"d": 3, "a": 1, "c": 2}, order)}]
    assert list(merge_parts(parts)["t"].items()) == rendered


@pytest.mark.parametrize("order, rendered", [("count", ["y", "x"]), ("count_then_key", ["x", "y"])])
def test_tally_count_orders_break_ties_by_first_seen_or_by_key(order, rendered):
    assert list(merge_parts([{"t": Tally({"y": 1}, order)}, {"t": Tally({"x": 1}, order)}])["t"]) == rendered


def test_tally_refuses_unknown_orders_and_keys():
    with pytest.raises(ValueError, match="Tally order"):
        Tally({}, "by_size")
    with pytest.raises(ValueError, match=r"\['q'\] are not in its order"):
        render({"t": Tally({"q": 1}, ("a", "b"))})
    with pytest.raises(FactMergeError, match="Tally order differs"):
        merge([{"t": Tally({}, "key")}, {"t": Tally({}, "count")}])


def test_same_must_agree():
    assert merge_parts([{"cap": Same(3)}, {"cap": Same(3)}]) == {"cap": 3}
    with pytest.raises(FactMergeError, match=r"facts limits\.cap: constant differs between parts: 3 vs 4"):
        merge([{"limits": {"cap": Same(3)}}, {"limits": {"cap": Same(4)}}])


def test_plain_values_are_refused_by_merge_and_passed_by_render():
    plain = {"n": 3, "nested": {"label": "x"}}
    for parts in ([plain], [plain, plain]):  # even one part: the error does not depend on the chunking
        with pytest.raises(FactMergeError, match=r"facts n: plain int 3 cannot be merged"):
            merge(parts)
    with pytest.raises(FactMergeError, match=r"facts nested\.label: plain str"):
        merge([{"nested": {"label": "x"}}])
    assert render(plain) == plain


def test_types_must_match():
    with pytest.raises(FactMergeError, match="facts n: Sum in one part, Max in another"):
        merge([{"n": Sum(1)}, {"n": Max(1)}])
    with pytest.raises(FactMergeError, match="facts n: a dict in one part, Sum in another"):
        merge([{"n": Sum(1)}, {"n": {"a": Sum(1)}}])


def test_render_of_one_part_is_its_merge():
    for p in (A, B, C):
        assert json.dumps(merge_parts([p])) == dumped(p)


# --- the property: any split of the parts merges to the same facts --------------------------------------

KEYS = "abcde"


@st.composite
def parts_and_split(draw):
    order = draw(st.sampled_from([*TALLY_ORDERS, tuple(KEYS)]))
    items = st.lists(st.integers(-50, 50), max_size=5)

    def one_part():
        first = draw(items)
        words = draw(st.dictionaries(st.sampled_from(KEYS), st.integers(1, 9), max_size=4))
        return {"n": Sum(draw(st.integers(0, 100))), "cap": Same(2),
                "lo": Min(min(first, default=None)), "hi": Max(max(first, default=None)),
                "words": Tally(words, order), "hist": Histogram([0, 5], draw(st.lists(st.integers(0, 9), min_size=2,
                                                                                       max_size=2))),
                "first": FirstN(4, first),
                "by_key": FirstNPerKey(2, draw(st.dictionaries(st.sampled_from(KEYS), items, max_size=3))),
                "nested": {"all": Concat(first), "n": Sum(len(first))}}

    parts = [one_part() for _ in range(draw(st.integers(1, 7)))]
    cuts = sorted(draw(st.sets(st.integers(1, len(parts) - 1), max_size=len(parts) - 1))) if len(parts) > 1 else []
    return parts, cuts


@settings(max_examples=200, deadline=None)
@given(parts_and_split())
def test_merging_any_split_equals_merging_all(case):
    parts, cuts = case
    bounds = [0, *cuts, len(parts)]
    groups = [parts[a:b] for a, b in itertools.pairwise(bounds)]
    assert json.dumps(merge_parts([merge(g) for g in groups])) == json.dumps(merge_parts(parts))


# --- the runner's side ------------------------------------------------------------------------------------

def test_stage_facts_merges_then_finishes():
    stage = SimpleNamespace(finish_facts=lambda facts, params: {**facts, "mean": facts["total"] / facts["n"]})
    parts = [{"total": Sum(3), "n": Sum(1)}, {"total": Sum(5), "n": Sum(3)}]
    assert stage_facts(stage, None, parts) == {"total": 8, "n": 4, "mean": 2.0}
    assert stage_facts(SimpleNamespace(), None, parts) == {"total": 8, "n": 4}


def test_per_part_stages_share_segments_and_whole_stages_stand_alone():
    names = ["normalize", "validate", "dedup", "tokens", "moderation", "export"]
    segments = plan_segments([(SimpleNamespace(name=n), stage_module(n)) for n in names])
    assert [(s.names, s.chunked) for s in segments] == [
        ("normalize → validate", True), ("dedup", False), ("tokens", True), ("moderation", False), ("export", True)]
