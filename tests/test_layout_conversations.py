"""`conversations` layout: extra message keys (`extra_keys`), pairs in a list column (`columns.pairs`), a list
as the system prompt (`columns.system`) and a final answer column (`columns.response`): each case as a unit
test on convert_table, end to end through the documented recipes on files the tests write, and on the real
LLaMA-Factory preference files where they have the shape."""

from __future__ import annotations

import json

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from pipeline.convert import convert_table
from pipeline.convert.message_keys import CHAT_KEYS
from schemas.config import ConvertConfig
from schemas.inputs import ConversationsInput
from tests.conftest import read_jsonl
from tests.openai_format_check import check_example, check_file
from tests.recipes import recipe_config

SHAREGPT = {"messages": "conversations", "role_key": "from", "content_key": "value"}
SHAREGPT_ROLES = {"system": "system", "human": "user", "gpt": "assistant"}


def convert(columns: dict, cells: dict[str, list], **kw):
    frame = pl.DataFrame({**{k: [c if c is None or isinstance(c, str) else json.dumps(c) for c in v]
                             for k, v in cells.items()},
                          "__row": list(range(1, len(next(iter(cells.values()))) + 1))})
    inp = ConversationsInput(path="c.json", layout="conversations", columns=columns, **kw)
    r = convert_table(frame, "c.json", inp, 0, ConvertConfig(), [])
    examples = [json.loads(x) for x in r.examples["example"]]
    return examples, r.rejects.select("reason", "detail", "source_rows").to_dicts(), r.facts


def reasons(rejects: list[dict]) -> list[str]:
    return [r["reason"] for r in rejects]


def accounted(result, n_rows: int) -> None:
    rows = result.stats["rows"]
    assert rows["input"] == n_rows == rows["exported"] + rows["rejected"]


# ------------------------------------------------------------------ extra keys on messages

ANNOTATED = [{"from": "human", "value": "Book a table for two.", "index": 0, "dialog_act": {"inform": ["people"]},
              "user_state": None},
             {"from": "gpt", "value": "Which day?", "index": 1, "name": "agent", "weight": 1, "annotations": []}]


def test_extra_keys_are_dropped_by_default_and_counted_per_key_chat_keys_kept():
    (e,), rejects, facts = convert(SHAREGPT, {"conversations": [ANNOTATED]}, roles=SHAREGPT_ROLES)
    assert rejects == []
    assert e["messages"] == [{"role": "user", "content": "Book a table for two."},
                             {"role": "assistant", "content": "Which day?", "name": "agent", "weight": 1}]
    # user_state is null: absent, not counted; annotations is an empty list: a key all the same
    assert dict(facts["dropped_message_keys"]) == {"index": 2, "dialog_act": 1, "annotations": 1}
    assert check_example(e) == []


def test_extra_keys_keep_passes_every_key_through():
    (e,), rejects, facts = convert(SHAREGPT, {"conversations": [ANNOTATED]}, roles=SHAREGPT_ROLES, extra_keys="keep")
    assert rejects == [] and facts == {}
    assert e["messages"][0] == {"role": "user", "content": "Book a table for two.", "index": 0,
                                "dialog_act": {"inform": ["people"]}}


def test_extra_keys_reject_names_the_row_message_and_key():
    ok = [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello", "weight": 0}]
    examples, rejects, _ = convert(SHAREGPT, {"conversations": [ANNOTATED, ok]}, roles=SHAREGPT_ROLES,
                                   extra_keys="reject")
    assert len(examples) == 1
    (r,) = rejects
    assert r["reason"] == "extra_message_key" and r["source_rows"] == [1]
    assert r["detail"].startswith("row 1, column 'conversations', message 1: key 'index' is not a chat message key")
    assert "extra_keys: drop" in r["detail"]


def test_openai_rows_keep_tool_calls_and_tool_call_ids_and_lose_only_extras():
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    msgs = [{"role": "user", "content": "q", "ts": 1}, {"role": "assistant", "tool_calls": [call], "ts": 2},
            {"role": "tool", "tool_call_id": "call_1", "content": "r", "ts": 3},
            {"role": "assistant", "content": "a", "ts": 4}]
    (e,), rejects, facts = convert({}, {"messages": [msgs]})
    assert rejects == []
    assert [set(m) for m in e["messages"]] == [{"role", "content"}, {"role", "tool_calls"},
                                               {"role", "tool_call_id", "content"}, {"role", "content"}]
    assert dict(facts["dropped_message_keys"]) == {"ts": 4} and check_example(e) == []


def test_dropped_keys_of_rejected_rows_are_not_counted():
    unknown = [{"from": "human", "value": "q", "index": 0}, {"from": "bot", "value": "a", "index": 1}]
    examples, rejects, facts = convert(SHAREGPT, {"conversations": [unknown]}, roles=SHAREGPT_ROLES)
    assert examples == [] and reasons(rejects) == ["unknown_role"] and facts == {}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(["index", "name", "weight", "act", "tool_call_id", "meta"]),
                                st.one_of(st.none(), st.integers(0, 1), st.just("x")), max_size=4),
                min_size=1, max_size=6))
def test_property_drop_keeps_only_chat_keys_and_counts_each_non_null_extra(extras):
    msgs = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"m{i}", **x} for i, x in enumerate(extras)]
    kept = ConversationsInput(path="c.json", layout="conversations")
    frame = pl.DataFrame({"messages": [json.dumps(msgs)], "__row": [1]})
    r = convert_table(frame, "c.json", kept, 0, ConvertConfig(merge_consecutive=False, drop_trailing_turns=False), [])
    expected = sum(1 for x in extras for k, v in x.items() if v is not None and k not in CHAT_KEYS)
    assert sum(r.facts.get("dropped_message_keys", {}).values()) == expected
    for e in r.examples["example"]:
        assert all(set(m) <= {"role", "content"} | CHAT_KEYS for m in json.loads(e)["messages"])


# ------------------------------------------------------------------ pairs and a list as the system prompt

def test_pairs_become_user_and_assistant_turns_with_the_persona_joined_as_system():
    (e,), rejects, _ = convert({"pairs": "dialogue", "system": "persona"},
                               {"dialogue": [[["hi", "hello!"], ["any pets?", "two cats."]]],
                                "persona": [["I have two cats.", "I like tea."]]})
    assert rejects == []
    assert e["messages"] == [{"role": "system", "content": "I have two cats.\nI like tea."},
                             {"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello!"},
                             {"role": "user", "content": "any pets?"}, {"role": "assistant", "content": "two cats."}]


def test_ragged_and_malformed_pairs_reject_their_row_with_the_reason():
    cells = [[["hi", "hello"], ["bye"]], [["a", "b", "c"]], [["a", 3]], ["hi"], [], "[[", None]
    examples, rejects, _ = convert({"pairs": "dialogue"}, {"dialogue": cells})
    assert examples == []
    assert reasons(rejects) == ["malformed_pair"] * 4 + ["malformed_conversation", "invalid_json",
                                                         "malformed_conversation"]
    assert rejects[0]["detail"] == ("row 1, column 'dialogue', pair 2: expected [user, assistant] (two texts), "
                                    "got 1 item")
    assert rejects[1]["detail"].endswith("got 3 items") and rejects[2]["detail"].endswith("got a int item")
    assert rejects[3]["detail"].endswith("got a str")


def test_system_column_text_list_separator_and_empty():
    pairs = [[["q", "a"]]] * 5
    examples, rejects, _ = convert({"pairs": "dialogue", "system": "persona"},
                                   {"dialogue": pairs, "persona": [["one", "two"], "plain text [1]", [], "", None]},
                                   system_separator=" ")
    assert rejects == []
    systems = [e["messages"][0]["content"] if e["messages"][0]["role"] == "system" else None for e in examples]
    assert systems == ["one two", "plain text [1]", None, None, None]


def test_system_column_non_text_items_and_conflicts_are_rejected():
    msgs = [{"role": "system", "content": "s"}, {"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
    examples, rejects, _ = convert({"system": "persona"}, {"messages": [msgs, msgs[1:]], "persona": ["p", [1, "x"]]})
    assert examples == []
    assert reasons(rejects) == ["system_prompt_conflict", "invalid_system_prompt"]
    assert "already hold one" in rejects[0]["detail"] and "got an item 1" in rejects[1]["detail"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.text(min_size=1, max_size=8).filter(str.strip),
                          st.text(min_size=1, max_size=8).filter(str.strip)), min_size=1, max_size=6))
def test_property_pairs_alternate_and_keep_every_text(pairs):
    frame = pl.DataFrame({"dialogue": [json.dumps([list(p) for p in pairs])], "__row": [1]})
    inp = ConversationsInput(path="p.json", layout="conversations", columns={"pairs": "dialogue"})
    cfg = ConvertConfig(trim_whitespace=False, merge_consecutive=False)
    (e,) = [json.loads(x) for x in convert_table(frame, "p.json", inp, 0, cfg, []).examples["example"]]
    assert [(m["role"], m["content"]) for m in e["messages"]] == [
        (role, text) for u, a in pairs for role, text in (("user", u), ("assistant", a))]


# ------------------------------------------------------------------ a response column

def test_response_text_or_message_object_is_appended_as_the_final_assistant_message():
    convo = [{"from": "human", "value": "2+2?"}]
    cells = {"conversations": [convo] * 3,
             "chosen": ["4", {"from": "gpt", "value": "4.", "loss": 1}, '{"answer": 4}']}
    examples, rejects, facts = convert({**SHAREGPT, "response": "chosen"}, cells, roles=SHAREGPT_ROLES)
    assert rejects == []
    assert [e["messages"][-1] for e in examples] == [{"role": "assistant", "content": "4"},
                                                     {"role": "assistant", "content": "4."},
                                                     {"role": "assistant", "content": '{"answer": 4}'}]
    assert dict(facts["dropped_message_keys"]) == {"loss": 1}


def test_bad_responses_are_rejected_with_the_reason():
    convo = [{"from": "human", "value": "q"}]
    cells = {"conversations": [convo] * 7,
             "chosen": [None, "  ", {"from": "human", "value": "x"}, {"from": "robot", "value": "x"},
                        [{"from": "gpt", "value": "a"}], {"value": "no role"}, "[1, 2]"]}
    examples, rejects, _ = convert({**SHAREGPT, "response": "chosen"}, cells, roles=SHAREGPT_ROLES)
    assert [e["messages"][-1]["content"] for e in examples] == ["[1, 2]"]  # a text that looks like JSON
    assert reasons(rejects) == ["missing_response", "missing_response", "invalid_response", "unknown_role",
                                "invalid_response", "invalid_response"]
    assert rejects[4]["detail"].endswith("expected a text or one message object, got a list of messages")
    assert rejects[2]["detail"] == ("row 3, column 'chosen': a user message (from 'human'); "
                                    "expected the assistant's answer")


def test_config_refuses_messages_with_pairs_and_pairs_with_tool_calls():
    with pytest.raises(ValidationError, match="not both"):
        ConversationsInput(path="x", layout="conversations", columns={"messages": "m", "pairs": "p"})
    with pytest.raises(ValidationError, match="tool_calls"):
        ConversationsInput(path="x", layout="conversations", columns={"pairs": "p"}, tool_calls={})
    assert ConversationsInput(path="x", layout="conversations").columns.messages == "messages"
    assert ConversationsInput(path="x", layout="conversations", columns={"pairs": "p"}).columns.messages is None


# ------------------------------------------------------------------ end to end through the recipes

def write_jsonl(path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def test_recipe_annotated_messages_end_to_end(tmp_path, run_config):
    def turn(speaker, text, i):
        return {"speaker": speaker, "utterance": text, "index": i, "dialog_act": {"act": "inform"}, "turn_count": i}
    rows = [{"dialogue_id": f"d{n}", "turns": [turn("USER", f"I need a taxi {n}.", 0),
                                                turn("SYSTEM", f"Where to, {n}?", 1)]} for n in range(6)]
    rows.append({"dialogue_id": "bad", "turns": [turn("USER", "hi", 0), turn("WIZARD", "hello", 1)]})
    path = tmp_path / "dialogues.jsonl"
    write_jsonl(path, rows)
    result, out = run_config(recipe_config("annotated-messages", path))
    accounted(result, 7)
    assert result.stats["rows"]["exported"] == 6
    assert result.stats["facts"]["convert"]["dropped_message_keys"] == {"dialog_act": 12, "index": 12,
                                                                        "turn_count": 12}
    assert [r["reason"] for r in read_jsonl(out / "rejects.jsonl")] == ["unknown_role"]
    assert check_file(out / "train.jsonl") == [] and check_file(out / "validation.jsonl") == []
    report = (out / "report.html").read_text(encoding="utf-8")
    assert "dropped message keys" in report and "turn_count" in report


def test_recipe_persona_pairs_end_to_end(tmp_path, run_config):
    rows = [{"persona": [f"I am person {n}.", "I like rain."], "dialogue": [["hi", "hello"], [f"who? {n}", f"me {n}"]]}
            for n in range(5)]
    rows.append({"persona": ["x"], "dialogue": [["hi", "hello"], ["unanswered"]]})
    path = tmp_path / "personachat.jsonl"
    write_jsonl(path, rows)
    result, out = run_config(recipe_config("persona-pairs", path))
    accounted(result, 6)
    lines = read_jsonl(out / "train.jsonl") + read_jsonl(out / "validation.jsonl")
    assert len(lines) == 5 and all(e["messages"][0]["content"].endswith("\nI like rain.") for e in lines)
    assert [r["reason"] for r in read_jsonl(out / "rejects.jsonl")] == ["malformed_pair"]


def test_recipe_preference_chosen_end_to_end(tmp_path, run_config):
    rows = [{"conversations": [{"from": "human", "value": f"question {n}"}],
             "chosen": {"from": "gpt", "value": f"good answer {n}"}, "rejected": {"from": "gpt", "value": "bad"}}
            for n in range(5)]
    rows.append({"conversations": [{"from": "human", "value": "q"}], "chosen": "", "rejected": "x"})
    path = tmp_path / "dpo.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    result, out = run_config(recipe_config("preference-chosen", path))
    accounted(result, 6)
    lines = read_jsonl(out / "train.jsonl") + read_jsonl(out / "validation.jsonl")
    assert sorted(e["messages"][-1]["content"] for e in lines) == [f"good answer {n}" for n in range(5)]
    assert [r["reason"] for r in read_jsonl(out / "rejects.jsonl")] == ["missing_response"]


def test_parquet_list_of_structs_with_extra_fields(tmp_path, run_config):
    msgs = [[{"role": "user", "content": f"q{n}", "intent": "ask"}, {"role": "assistant", "content": f"a{n}",
                                                                    "intent": None}] for n in range(4)]
    path = tmp_path / "convs.parquet"
    pl.DataFrame({"messages": msgs}).write_parquet(path)
    result, _ = run_config({"inputs": [{"path": str(path), "layout": "conversations"}],
                            "stages": [{"name": "validate"}, {"name": "export"}]})
    accounted(result, 4)
    assert result.stats["rows"]["exported"] == 4
    assert result.stats["facts"]["convert"]["dropped_message_keys"] == {"intent": 4}


# ------------------------------------------------------------------ real files

def test_realdata_dpo_zh_every_row_exports_with_the_chosen_answer(realdata, run_config):
    path = realdata / "llamafactory-demo/dpo_zh_demo.json"
    source = json.loads(path.read_text(encoding="utf-8"))
    result, out = run_config(recipe_config("preference-chosen", path))
    accounted(result, 300)
    assert result.stats["rows"]["exported"] == 300
    lines = read_jsonl(out / "train.jsonl") + read_jsonl(out / "validation.jsonl")
    assert check_file(out / "train.jsonl") == [] and check_file(out / "validation.jsonl") == []
    assert all(e["messages"][-1]["role"] == "assistant" for e in lines)
    assert sorted(e["messages"][-1]["content"] for e in lines) == sorted(r["chosen"]["value"].strip() for r in source)


def test_realdata_v1_dpo_loss_weight_dropped_or_rejected(realdata, run_config):
    path = realdata / "llamafactory-demo/v1_dpo_demo.jsonl"
    entry = {"path": str(path), "layout": "conversations", "columns": {"messages": "chosen_messages"}}
    stages = [{"name": "split"}, {"name": "export"}]
    result, _ = run_config({"inputs": [entry], "stages": stages})
    accounted(result, 10)
    n_messages = sum(len(json.loads(line)["chosen_messages"]) for line in path.read_text(encoding="utf-8").splitlines())
    assert result.stats["facts"]["convert"]["dropped_message_keys"] == {"loss_weight": n_messages}
    result, out = run_config({"inputs": [{**entry, "extra_keys": "reject"}], "stages": stages}, out="out_reject")
    accounted(result, 10)
    rejects = read_jsonl(out / "rejects.jsonl")
    assert len(rejects) == 10 and all(r["reason"] == "extra_message_key" and "'loss_weight'" in r["detail"]
                                      for r in rejects)
