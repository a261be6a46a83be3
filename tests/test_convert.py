"""Layouts messages / pairs / conversations and every convert option; property tests for the cleanup."""

from __future__ import annotations

import itertools
import json
from collections import Counter

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.convert import convert_table
from pipeline.convert.turns import Turn, clean_plain_turns, clean_turns
from schemas.config import ConvertConfig
from schemas.inputs import ConversationsInput, MessagesInput, PairsInput


def frame(**cols) -> pl.DataFrame:
    n = len(next(iter(cols.values())))
    return pl.DataFrame({**cols, "__row": list(range(1, n + 1))})


def msgs_input(**kw):
    return MessagesInput(path="f.csv", layout="messages", roles={"customer": "user", "agent": "assistant",
                                                                 "system": "system"},
                         columns={"conversation_id": "cid", "role": "who", "content": "text", **kw})


def examples(result) -> list[dict]:
    return [json.loads(e) for e in result.examples["example"]]


def test_messages_groups_orders_and_merges():
    f = frame(cid=["a", "b", "a", "a", "b", "a"], who=["Agent", "customer", "customer", "customer", "agent", "agent"],
              text=["second?", "hi", "first", "again", "hello", "answer"], n=["4", "1", "1", "2", "2", "3"])
    r = convert_table(f, "f.csv", msgs_input(order="n"), 0, ConvertConfig(), [])
    a, b = examples(r)
    assert [m["role"] for m in a["messages"]] == ["user", "assistant"]
    assert a["messages"][0]["content"] == "first\nagain"
    assert a["messages"][1]["content"] == "answer\nsecond?"
    assert r.examples["source_rows"].to_list()[0] == [3, 4, 6, 1]
    assert b["messages"] == [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    assert r.counts["merged"] == 2


def test_unknown_role_rejects_whole_conversation_never_guesses():
    f = frame(cid=["a", "a", "a"], who=["customer", "supervisor", "agent"], text=["q", "x", "a"])
    r = convert_table(f, "f.csv", msgs_input(), 0, ConvertConfig(), [])
    assert r.examples.height == 0
    rej = r.rejects.row(0, named=True)
    assert rej["reason"] == "unknown_role" and rej["source_rows"] == [1, 2, 3]
    assert "speaker 'supervisor' is not in inputs[0].roles" in rej["detail"] and "row 2" in rej["detail"]


def test_empty_trailing_and_no_assistant():
    f = frame(cid=["a", "a", "a", "a", "b", "b"], who=["customer", "agent", "agent", "customer", "customer", "customer"],
              text=["q", "  ", "answer", "thanks!", "hello?", "anyone?"])
    r = convert_table(f, "f.csv", msgs_input(), 0, ConvertConfig(), [])
    (a,) = examples(r)
    assert a["messages"] == [{"role": "user", "content": "q"}, {"role": "assistant", "content": "answer"}]
    reasons = {(x["reason"], tuple(x["source_rows"])) for x in r.rejects.iter_rows(named=True)}
    assert reasons == {("empty_message", (2,)), ("trailing_turn", (4,)), ("no_assistant_message", (5, 6))}
    assert r.examples["source_rows"].to_list() == [[1, 3]]


def test_options_off_and_default_system_prompt():
    f = frame(cid=["a"] * 4, who=["customer", "customer", "agent", "customer"], text=[" q1 ", "q2", "a", "bye"])
    cfg = ConvertConfig(merge_consecutive=False, trim_whitespace=False, drop_trailing_turns=False,
                        system_prompt="You are helpful.")
    (a,) = examples(convert_table(f, "f.csv", msgs_input(), 0, cfg, []))
    assert [m["content"] for m in a["messages"]] == ["You are helpful.", " q1 ", "q2", "a", "bye"]


def test_missing_conversation_id_row_rejected():
    f = frame(cid=["a", None, "a"], who=["customer", "agent", "agent"], text=["q", "lost", "a"])
    r = convert_table(f, "f.csv", msgs_input(), 0, ConvertConfig(), [])
    assert r.rejects["reason"].to_list() == ["missing_conversation_id"]


def test_conversation_ids_are_matched_without_surrounding_whitespace():
    """Ids are stripped (any Unicode white space, as str.strip_chars) before grouping: a padded id joins its
    conversation and one of white space only is missing; a file without padded ids groups the same."""
    f = frame(cid=[" a", "a\u3000", "\u00a0a\t", " ", "b"], who=["customer", "agent", "customer", "agent", "customer"],
              text=["q", "answer", "more", "lost", "x"])
    r = convert_table(f, "f.csv", msgs_input(), 0, ConvertConfig(), [])
    (a,) = examples(r)
    assert a["messages"] == [{"role": "user", "content": "q"}, {"role": "assistant", "content": "answer"}]
    assert r.examples["group_id"].to_list() == ["f.csv#a"]
    reasons = sorted((x["reason"], tuple(x["source_rows"])) for x in r.rejects.iter_rows(named=True))
    assert reasons == [("missing_conversation_id", (4,)), ("no_assistant_message", (5,)), ("trailing_turn", (3,))]
    plain = convert_table(frame(cid=["a", "a", "a"], who=["customer", "agent", "customer"], text=["q", "answer", "more"]),
                          "f.csv", msgs_input(), 0, ConvertConfig(), [])
    assert plain.examples["example"].to_list() == r.examples["example"].to_list()


def test_pairs_with_system_context_and_ids():
    inp = PairsInput(path="p.json", layout="pairs", metadata=["cat"],
                     columns={"prompt": "instruction", "context": "input", "response": "output", "system": "sys", "id": "id"})
    f = frame(instruction=["Translate", "", "Sum"], input=["hola", "", ""], output=["hello", "x", ""],
              sys=[None, None, "Be terse"], id=["1", "2", "3"], cat=["t", "t", "m"])
    r = convert_table(f, "p.json", inp, 0, ConvertConfig(), ["cat"])
    (e,) = examples(r)
    assert e["messages"] == [{"role": "user", "content": "Translate\n\nhola"}, {"role": "assistant", "content": "hello"}]
    assert dict(Counter(r.rejects["reason"].to_list())) == {"missing_prompt": 1, "no_assistant_message": 1}
    assert r.examples["meta.cat"].to_list() == ["t"] and r.examples["group_id"].to_list() == ["p.json#id=1"]


def test_conversations_openai_format_passes_through_intact():
    line = {"messages": [
        {"role": "system", "content": "sys"}, {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "w", "arguments": "{\"q\": 1}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        {"role": "assistant", "content": "Sunny.", "weight": 1}],
        "tools": [{"type": "function", "function": {"name": "w", "parameters": {"type": "object"}}}],
        "parallel_tool_calls": False}
    f = frame(messages=[json.dumps(line["messages"])], tools=[json.dumps(line["tools"])], parallel_tool_calls=["false"])
    r = convert_table(f, "d.jsonl", ConversationsInput(path="d.jsonl", layout="conversations"), 0, ConvertConfig(), [])
    assert examples(r) == [line]


def test_conversations_sharegpt_and_native_structs():
    inp = ConversationsInput(path="s.parquet", layout="conversations", roles={"human": "user", "gpt": "assistant"},
                             columns={"messages": "conversations", "role_key": "from", "content_key": "value"})
    f = pl.DataFrame({"conversations": [[{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}],
                                        [{"from": "human", "value": "x"}, {"from": "bot", "value": "y"}]],
                      "__row": [1, 2]})
    r = convert_table(f, "s.parquet", inp, 0, ConvertConfig(), [])
    assert examples(r)[0]["messages"] == [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    assert r.rejects["reason"].to_list() == ["unknown_role"]
    assert "message 2" in r.rejects["detail"][0]


def test_conversations_invalid_json_and_malformed():
    f = frame(messages=["[{\"role\": \"user\"", "[]", "[\"just text\"]"])
    r = convert_table(f, "d.csv", ConversationsInput(path="d.csv", layout="conversations"), 0, ConvertConfig(), [])
    assert r.rejects["reason"].to_list() == ["invalid_json", "malformed_conversation", "malformed_message"]
    assert "row 1, column 'messages': invalid JSON" in r.rejects["detail"][0]


# ------------------------------------------------------------------ properties of the shared cleanup

roles = st.sampled_from(["user", "assistant", "system"])
texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(roles, texts), min_size=1, max_size=12), st.booleans(), st.booleans())
def test_cleanup_loses_no_row_and_keeps_order(turns, merge, trailing):
    source = [Turn({"role": r, "content": t}, [i]) for i, (r, t) in enumerate(turns)]
    cfg = ConvertConfig(merge_consecutive=merge, drop_trailing_turns=trailing)
    kept, dropped, reason = clean_turns(source, cfg, Counter())
    kept_rows = [row for t in kept for row in t.rows]
    dropped_rows = [row for rows, _, _ in dropped for row in rows]
    assert sorted(kept_rows + dropped_rows) == list(range(len(turns)))  # every row exactly once
    assert kept_rows == sorted(kept_rows)  # order preserved
    if reason is None:
        assert kept[-1].message["role"] == "assistant" or not trailing
        assert all(t.message["content"].strip() for t in kept)
        if merge:
            assert all(a.message["role"] != b.message["role"] for a, b in itertools.pairwise(kept))
        # text is preserved: every kept message is the stripped text of its rows, joined
        for t in kept:
            parts = [turns[r][1].strip() for r in t.rows if turns[r][1].strip()]
            assert t.message["content"] == "\n".join(parts)
    else:
        assert reason == "no_assistant_message"
        assert not any(t.message["role"] == "assistant" for t in kept)


plain_texts = st.text(alphabet=st.sampled_from(["a", "b", " ", "\t", "\n", "\u3000", "\x1c", "é"]), max_size=6)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(roles, plain_texts), min_size=1, max_size=10), st.booleans(), st.booleans(), st.booleans(),
       st.booleans(), st.sampled_from([None, "Be brief."]), st.sampled_from(["\n", " | "]))
def test_plain_cleanup_is_clean_turns(turns, merge, trailing, trim, drop_empty, system_prompt, sep):
    """The messages layout's clean_plain_turns gives what clean_turns gives on the same messages: kept turns,
    dropped rows with reasons and details, the reject reason, and the counts in the same order."""
    cfg = ConvertConfig(merge_consecutive=merge, drop_trailing_turns=trailing, trim_whitespace=trim,
                        drop_empty_messages=drop_empty, system_prompt=system_prompt, merge_separator=sep)
    rows = [10 + i for i in range(len(turns))]
    a_counts, b_counts = Counter(), Counter()
    a = clean_turns([Turn({"role": r, "content": t}, [row]) for row, (r, t) in zip(rows, turns)], cfg, a_counts)
    b = clean_plain_turns(rows, [r for r, _ in turns], [t for _, t in turns], cfg, b_counts)
    assert [(t.message, t.rows, t.label) for t in b[0]] == [(t.message, t.rows, t.label) for t in a[0]]
    assert b[1:] == a[1:]
    assert list(b_counts.items()) == list(a_counts.items())
