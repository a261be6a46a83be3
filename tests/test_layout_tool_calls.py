"""ShareGPT function_call / observation turns -> OpenAI tool_calls, tool messages and tools."""

from __future__ import annotations

import json

import polars as pl

from pipeline.convert import convert_table
from schemas.config import ConvertConfig
from schemas.inputs import ConversationsInput
from tests.openai_format_check import check_example

TOOLS = [{"name": "get_weather", "description": "Weather for a city",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
         {"name": "get_time", "parameters": {"type": "object", "properties": {}}}]


def sharegpt_input(**kw) -> ConversationsInput:
    return ConversationsInput(path="g.json", layout="conversations", roles={"human": "user", "gpt": "assistant"},
                              columns={"messages": "conversations", "role_key": "from", "content_key": "value"},
                              tool_calls=kw.pop("tool_calls", {}), **kw)


def turn(who: str, value) -> dict:
    return {"from": who, "value": value if isinstance(value, str) else json.dumps(value)}


def run(conversations: list[list[dict]], tools=TOOLS, path="g.json", **kw):
    f = pl.DataFrame({"conversations": [json.dumps(c) for c in conversations],
                      "tools": [json.dumps(tools) if not isinstance(tools, str) else tools] * len(conversations),
                      "__row": list(range(1, len(conversations) + 1))})
    return convert_table(f, path, sharegpt_input(**kw), 0, ConvertConfig(), [])


WEATHER = [turn("human", "Weather in Oslo?"), turn("function_call", {"name": "get_weather", "arguments": {"city": "Oslo"}}),
           turn("observation", {"temp": -3}), turn("gpt", "It is -3 °C in Oslo.")]


def test_calls_results_and_tools_become_openai_shape_accepted_by_the_format_check():
    r = run([WEATHER])
    (e,) = [json.loads(x) for x in r.examples["example"]]
    _, call, result, answer = e["messages"]
    (c,) = call["tool_calls"]
    assert call["role"] == "assistant" and "content" not in call
    assert c["type"] == "function" and c["function"] == {"name": "get_weather", "arguments": '{"city":"Oslo"}'}
    assert c["id"].startswith("call_") and result == {"role": "tool", "tool_call_id": c["id"], "content": '{"temp": -3}'}
    assert answer == {"role": "assistant", "content": "It is -3 °C in Oslo."}
    assert e["tools"] == [{"type": "function", "function": t} for t in TOOLS]
    assert check_example(e) == []


def test_call_ids_are_stable_and_distinct_per_source_row_and_call():
    parallel = [turn("human", "Weather and time?"),
                turn("function_call", [{"name": "get_weather", "arguments": {"city": "Oslo"}},
                                       {"name": "get_time", "arguments": "{}"}]),
                turn("observation", "-3"), turn("observation", "12:00"), turn("gpt", "-3 °C, noon.")]
    first = [json.loads(x) for x in run([WEATHER, parallel]).examples["example"]]
    again = [json.loads(x) for x in run([WEATHER, parallel]).examples["example"]]
    other_file = [json.loads(x) for x in run([WEATHER, parallel], path="h.json").examples["example"]]
    assert first == again
    ids = [c["id"] for e in first for m in e["messages"] for c in m.get("tool_calls", [])]
    assert len(ids) == len(set(ids)) == 3
    assert ids != [c["id"] for e in other_file for m in e["messages"] for c in m.get("tool_calls", [])]
    msgs = first[1]["messages"]
    assert [m.get("tool_call_id") for m in msgs[2:4]] == [c["id"] for c in msgs[1]["tool_calls"]]
    assert all(check_example(e) == [] for e in first)


def test_malformed_tool_use_is_rejected_with_the_reason():
    cases = {
        "invalid_tool_call": [turn("human", "q"), turn("function_call", '{"name": "get_weather", "arguments": '),
                              turn("observation", "x"), turn("gpt", "a")],
        "unknown_tool": [turn("human", "q"), turn("function_call", {"name": "launch", "arguments": {}}),
                         turn("observation", "x"), turn("gpt", "a")],
        "orphan_tool_result": [turn("human", "q"), turn("observation", "x"), turn("gpt", "a")],
        "missing_tool_result": [turn("human", "q"), turn("function_call", {"name": "get_time", "arguments": {}}),
                                turn("gpt", "a")],
    }
    r = run(list(cases.values()))
    assert r.examples.height == 0
    assert r.rejects["reason"].to_list() == list(cases)
    details = r.rejects["detail"].to_list()
    assert details[0].startswith("row 1, message 2 (function_call): invalid JSON in the tool call")
    assert "'launch', which is not in the tools (get_time, get_weather)" in details[1]
    assert "message 2 (observation): a tool result with no open tool call" in details[2]
    assert "'get_time' of message 2 have no result" in details[3]


def test_malformed_tools_column_is_rejected():
    r = run([WEATHER], tools='[{"description": "no name"}]')
    assert r.rejects.select("reason").to_series().to_list() == ["invalid_tools"]
    assert "tool 1: expected an object with a \"name\"" in r.rejects["detail"][0]
    r = run([WEATHER], tools='{"name": "get_weather"')
    assert r.rejects["reason"].to_list() == ["invalid_json"]


def test_a_final_call_without_result_is_kept_and_custom_labels_work():
    conv = [{"from": "human", "value": "time?"}, {"from": "tool_use", "value": '{"name": "get_time"}'}]
    r = run([conv], tool_calls={"call_label": "tool_use", "result_label": "tool_result"})
    (e,) = [json.loads(x) for x in r.examples["example"]]
    assert e["messages"][-1]["tool_calls"][0]["function"] == {"name": "get_time", "arguments": "{}"}
    assert check_example(e) == []


def test_without_the_option_dialect_labels_stay_unknown_roles():
    f = pl.DataFrame({"conversations": [json.dumps(WEATHER)], "__row": [1]})
    inp = ConversationsInput(path="g.json", layout="conversations", roles={"human": "user", "gpt": "assistant"},
                             columns={"messages": "conversations", "role_key": "from", "content_key": "value"})
    r = convert_table(f, "g.json", inp, 0, ConvertConfig(), [])
    assert r.rejects["reason"].to_list() == ["unknown_role"]
