"""Long dialogues -> windows, and per-turn weights; property tests of the window cutter."""

from __future__ import annotations

import json
from collections import Counter

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.convert import convert_table
from pipeline.convert.turns import Turn
from pipeline.convert.windows import shape_conversation
from schemas.config import ConvertConfig
from schemas.conversion_options import WeightOptions, WindowOptions
from schemas.inputs import MessagesInput
from tests.openai_format_check import check_example


def dialog(n_pairs: int, system: bool = True) -> list[Turn]:
    turns = [Turn({"role": "system", "content": "sys"}, [0])] if system else []
    for i in range(1, n_pairs + 1):
        turns += [Turn({"role": "user", "content": f"q{i}"}, [2 * i - 1]),
                  Turn({"role": "assistant", "content": f"a{i}"}, [2 * i])]
    return turns


def shape(turns, **opts):
    weights = opts.pop("weights", None)
    cfg = ConvertConfig(windows=WindowOptions(**opts) if opts else None,
                        weights=WeightOptions(**weights) if weights else None)
    counts = Counter()
    pieces, outside = shape_conversation(turns, sorted({r for t in turns for r in t.rows}), cfg, counts, {})
    return pieces, outside, counts


def contents(piece) -> list[str]:
    return [t.message["content"] + ("/0" if t.message.get("weight") == 0 else "") for t in piece.turns]


def test_short_conversation_stays_one_example_untouched():
    turns = dialog(2)
    (piece,), outside, counts = shape(turns, max_turns=4)
    assert piece.turns == turns and piece.index == 0 and not outside and not counts


def test_max_turns_with_overlap_keeps_system_and_zeroes_repeated_answers():
    pieces, _, counts = shape(dialog(5), max_turns=4, overlap=2)
    assert [contents(p) for p in pieces] == [
        ["sys", "q1", "a1", "q2", "a2"], ["sys", "q2", "a2/0", "q3", "a3"], ["sys", "q3", "a3/0", "q4", "a4"],
        ["sys", "q4", "a4/0", "q5", "a5"]]
    assert [p.rows for p in pieces] == [[0, 1, 2, 3, 4], [0, 3, 4, 5, 6], [0, 5, 6, 7, 8], [0, 7, 8, 9, 10]]
    assert counts["windows"] == 4 and counts["windowed_conversations"] == 1


def test_overlap_without_zero_weights_and_without_overlap():
    pieces, _, _ = shape(dialog(3), max_turns=2, overlap=0)
    assert [contents(p) for p in pieces] == [["sys", "q1", "a1"], ["sys", "q2", "a2"], ["sys", "q3", "a3"]]
    pieces, _, _ = shape(dialog(3), max_turns=4, overlap=2, overlap_weight_zero=False)
    assert [contents(p) for p in pieces] == [["sys", "q1", "a1", "q2", "a2"], ["sys", "q2", "a2", "q3", "a3"]]


def test_max_tokens_counts_chars_over_four_and_flags_a_single_exchange_over_the_limit():
    turns = [Turn({"role": "user", "content": "x" * 40}, [1]), Turn({"role": "assistant", "content": "y" * 40}, [2]),
             Turn({"role": "user", "content": "z" * 400}, [3]), Turn({"role": "assistant", "content": "w"}, [4])]
    pieces, _, counts = shape(turns, max_tokens=40)  # 3 + (4+10) + (4+10) = 31 fits; the next pair alone does not
    assert [[t.message["content"][:1] for t in p.turns] for p in pieces] == [["x", "y"], ["z", "w"]]
    assert counts["window_over_limit"] == 1


def test_max_tokens_with_a_tiktoken_encoding_counts_exact_message_tokens():
    from pipeline.chat.encodings import PROJECT_CACHE
    from pipeline.chat.token_counting import counter_for

    turns = [Turn({"role": "system", "content": "Be brief."})] + [
        Turn({"role": role, "content": f"{role} says hello world number {i} " * 5}, [2 * i + (role == "assistant")])
        for i in range(8) for role in ("user", "assistant")]
    pieces, _, counts = shape(turns, max_tokens=150, tokenizer="o200k_base")
    counter = counter_for("o200k_base", str(PROJECT_CACHE))
    totals = [counter.example({"messages": [t.message for t in p.turns]}).total for p in pieces]
    assert len(pieces) > 1 and all(n <= 150 for n in totals) and not counts["window_over_limit"]
    assert max(totals) > 150 - 2 * max(counter.message(t.message)[0] for t in turns)  # windows are filled


def test_windows_never_cut_between_a_tool_call_and_its_result():
    call = {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function",
                                                 "function": {"name": "f", "arguments": "{}"}}]}
    turns = [Turn({"role": "user", "content": "q1"}, [1]), Turn(call, [2]),
             Turn({"role": "tool", "tool_call_id": "c1", "content": "r"}, [3]),
             Turn({"role": "assistant", "content": "a1"}, [4]), Turn({"role": "user", "content": "q2"}, [5]),
             Turn({"role": "assistant", "content": "a2"}, [6])]
    pieces, _, _ = shape(turns, max_turns=2)
    assert [p.rows for p in pieces] == [[1, 2, 3, 4], [5, 6]]  # the first is over the limit, but whole
    assert all(check_example({"messages": [t.message for t in p.turns]}) == [] for p in pieces)


def test_weights_last_only_and_matching_never_touch_other_roles():
    (piece,), _, _ = shape(dialog(3), weights={"mode": "last_only"})
    assert contents(piece) == ["sys", "q1", "a1/0", "q2", "a2/0", "q3", "a3"]
    (piece,), _, _ = shape(dialog(3), weights={"mode": "matching", "pattern": "^a[12]$|q"})
    assert contents(piece) == ["sys", "q1", "a1/0", "q2", "a2/0", "q3", "a3"]
    (piece,), _, _ = shape(dialog(2), weights={"mode": "matching", "pattern": "."})
    assert not piece.trained


def test_sink_rejects_examples_with_nothing_to_train_and_gives_windows_distinct_ids():
    f = pl.DataFrame({"cid": ["a"] * 6 + ["b"] * 2, "who": ["customer", "agent"] * 4,
                      "text": ["hi", "Hello!", "q", "answer", "q2", "answer2", "hi", "Hello!"],
                      "__row": list(range(1, 9))})
    inp = MessagesInput(path="m.csv", layout="messages", roles={"customer": "user", "agent": "assistant"},
                        columns={"conversation_id": "cid", "role": "who", "content": "text"})
    cfg = ConvertConfig(windows=WindowOptions(max_turns=2), weights=WeightOptions(mode="matching", pattern="^Hello"))
    r = convert_table(f, "m.csv", inp, 0, cfg, [])
    assert r.examples["source_rows"].to_list() == [[3, 4], [5, 6]]
    assert r.examples["example_id"].n_unique() == 2 and r.examples["group_id"].n_unique() == 1
    assert r.rejects.select("reason", "source_rows").rows() == [("no_trainable_turn", [1, 2]),
                                                                 ("no_trainable_turn", [7, 8])]
    assert len(set(r.rejects["example_id"].to_list()) | set(r.examples["example_id"].to_list())) == 4


def test_config_errors():
    with pytest.raises(ValueError, match="max_turns or max_tokens"):
        WindowOptions(overlap=1)
    with pytest.raises(ValueError, match="must be smaller than max_turns"):
        WindowOptions(max_turns=2, overlap=2)
    with pytest.raises(ValueError, match="needs weights.pattern"):
        WeightOptions(mode="matching")


# ------------------------------------------------------------------ properties of the window cutter

roles = st.sampled_from(["user", "assistant", "assistant", "tool"])


@st.composite
def conversations(draw):
    kinds = draw(st.lists(roles, min_size=1, max_size=24))
    turns, n_call = [Turn({"role": "system", "content": "sys"})] if draw(st.booleans()) else [], 0
    for i, kind in enumerate(kinds, start=1):
        text = "t" * draw(st.integers(0, 60)) + str(i)
        if kind == "tool":  # a call and its result
            n_call += 1
            turns.append(Turn({"role": "assistant", "tool_calls": [{"id": f"c{n_call}", "type": "function",
                                                                    "function": {"name": "f", "arguments": "{}"}}]},
                              [i * 10]))
            turns.append(Turn({"role": "tool", "tool_call_id": f"c{n_call}", "content": text}, [i * 10 + 1]))
        else:
            turns.append(Turn({"role": kind, "content": text}, [i * 10]))
    while turns and turns[-1].message["role"] != "assistant":
        turns.pop()
    if not any(t.message["role"] == "assistant" for t in turns):
        turns.append(Turn({"role": "assistant", "content": "end"}, [999]))
    return turns


@settings(max_examples=400, deadline=None)
@given(conversations(), st.integers(2, 8), st.integers(0, 4), st.one_of(st.none(), st.integers(20, 200)))
def test_windows_cover_every_answer_once_in_order_within_one_group(turns, max_turns, overlap, max_tokens):
    overlap = min(overlap, max_turns - 1)
    pieces, outside, counts = shape(turns, max_turns=max_turns, overlap=overlap, max_tokens=max_tokens)
    assert outside == []  # conversations end on an answer: nothing is left out
    system = [t for t in turns if t.message["role"] == "system"]
    trained, over = [], 0
    for p in pieces:
        msgs = [t.message for t in p.turns]
        body = msgs[len(system):]
        assert msgs[: len(system)] == [t.message for t in system]  # system prompt in every window
        assert body[-1]["role"] == "assistant" and body[0]["role"] not in ("tool",)
        assert len(pieces) == 1 or p.index == 0 or body[0]["role"] != "assistant"
        assert check_example({"messages": msgs}) == []  # no tool result without its call
        assert p.rows == sorted(p.rows) and p.rows  # rows in order
        tokens = 3 + sum(4 + -(-(len(m.get("content") or "") + len(json.dumps(m["tool_calls"]) if "tool_calls" in m
                                                                      else "")) // 4) for m in msgs)
        over += not (len(body) <= max_turns and (max_tokens is None or tokens <= max_tokens))
        trained += [r for t in p.turns if t.message["role"] == "assistant" and t.message.get("weight", 1) == 1
                    for r in t.rows]
    assert over == (counts["window_over_limit"] if len(pieces) > 1 else over)  # every window over the limit is flagged
    answers = [r for t in turns if t.message["role"] == "assistant" for r in t.rows]
    assert trained == answers  # every assistant turn trained exactly once, in order
    covered = {r for p in pieces for r in p.rows}
    assert covered == {r for t in turns for r in t.rows}  # no row lost
