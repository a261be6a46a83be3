"""validate: every rule of OpenAI's chat fine-tuning line format, accepted and rejected, and the real files."""

from __future__ import annotations

import itertools
import json

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from pipeline.engine.facts import merge_parts, render
from pipeline.engine.records import dumps_example
from pipeline.engine.segments import stage_facts
from pipeline.stages.validate import stage as validate
from schemas.chat import ChatExample
from schemas.stages.validate import ValidateParams
from tests.openai_format_check import check_example as independent_check

DEFAULT = ValidateParams(name="validate")
PNG = "data:image/png;base64," + "iVBORw0KGgo" * 4


def ex(*messages, **top) -> dict:
    return {"messages": list(messages), **top}


def u(content="hi", **kw):
    return {"role": "user", "content": content, **kw}


def a(content="hello", **kw):
    return {"role": "assistant", "content": content, **kw}


def call(id_="call_1", name="get_weather", arguments='{"city": "Paris"}'):
    return {"id": id_, "type": "function", "function": {"name": name, "arguments": arguments}}


TOOL = {"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
                                         "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}

ACCEPTED = {
    "plain": ex(u(), a()),
    "system first": ex({"role": "system", "content": "Be brief."}, u(), a()),
    "no system (toy row 3)": ex(u(), a()),
    "multi-turn": ex(u(), a(), u("and?"), a("done")),
    "names": ex(u(name="alice_1"), a(name="bot-2"), {"role": "system", "content": "s", "name": "ops"}),
    "text parts": ex({"role": "system", "content": [{"type": "text", "text": "s"}]},
                     u([{"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": "https://x/y.png"}}]),
                     a([{"type": "text", "text": "a"}, {"type": "text", "text": "b"}])),
    "image data url with detail": ex(u([{"type": "image_url", "image_url": {"url": PNG, "detail": "low"}}]), a()),
    "refusal part": ex(u(), a([{"type": "refusal", "refusal": "I can't help with that."}])),
    "refusal key": ex(u(), a("no", refusal="I can't help with that.")),
    "weights": ex(u(), a(weight=0), u(), a(weight=1)),
    "tool call without content key": ex(u(), {"role": "assistant", "tool_calls": [call()]}),
    "tool call, null content, answer": ex(u(), a(None, tool_calls=[call()]),
                                          {"role": "tool", "content": "18C", "tool_call_id": "call_1"}, a("18C"),
                                          tools=[TOOL], parallel_tool_calls=False),
    "tool content parts": ex(u(), a(None, tool_calls=[call()]),
                             {"role": "tool", "content": [{"type": "text", "text": "18C"}], "tool_call_id": "call_1"},
                             a("ok")),
    "deprecated functions": ex(u(), a(None, function_call={"name": "get_weather", "arguments": "{}"}),
                               {"role": "function", "name": "get_weather", "content": "18C"}, a("18C"),
                               functions=[{"name": "get_weather", "parameters": {"type": "object"}}]),
    "tool without parameters": ex(u(), a(), tools=[{"type": "function", "function": {"name": "ping"}}]),
    "empty string content": ex(u(""), a("x")),
}

REJECTED = {  # name: (example, reason, words in the detail)
    "not an object": ([], "invalid_example", "not a JSON object"),
    "no messages": ({"tools": [TOOL]}, "missing_key", "messages"),
    "empty messages": (ex(), "invalid_messages", "at least 1"),
    "developer role": (ex({"role": "developer", "content": "x"}, u(), a()), "invalid_role", "use 'system'"),
    "unknown role": (ex({"role": "bot", "content": "x"}, a()), "invalid_role", "message 1 (bot)"),
    "no role": (ex({"content": "x"}, a()), "invalid_role", "no 'role' key"),
    "list role": (ex({"role": ["user"], "content": "x"}, a()), "invalid_role", "a role is a string"),
    "object role": (ex({"role": {"name": "user"}, "content": "x"}, a()), "invalid_role", "a role is a string"),
    "message not object": (ex("hi", a()), "invalid_messages", "message 1"),
    "unknown key": (ex(u(), a(foo=1)), "unknown_key", "key 'foo' is not allowed for assistant (allowed: content,"),
    "weight on user": (ex(u(weight=1), a()), "unknown_key", "assistant messages only"),
    "tool_call_id on user": (ex(u(tool_call_id="x"), a()), "unknown_key", "tool_call_id"),
    "audio on assistant": (ex(u(), a(audio={"id": "x"})), "unknown_key", "audio is not supported"),
    "top-level key": (ex(u(), a(), metadata={"x": 1}), "unknown_key", "top-level key 'metadata'"),
    "user content int": (ex(u(5), a()), "content_type", "message 1 (user): content"),
    "user content null": (ex(u(None), a()), "content_type", "message 1 (user)"),
    "empty part list": (ex(u([]), a()), "content_type", "at least 1"),
    "image on system": (ex({"role": "system", "content": [{"type": "image_url", "image_url": {"url": PNG}}]}, u(), a()),
                        "content_type", "'text' in system"),
    "image on assistant": (ex(u(), a([{"type": "image_url", "image_url": {"url": PNG}}])), "content_type", "assistant"),
    "audio part": (ex(u([{"type": "input_audio", "input_audio": {"data": "x", "format": "wav"}}]), a()),
                   "content_type", "'image_url'"),
    "part extra key": (ex(u([{"type": "text", "text": "x", "cache": True}]), a()), "unknown_key", "cache"),
    "text part not str": (ex(u([{"type": "text", "text": 3}]), a()), "content_type", "content[0].text"),
    "refusal with text": (ex(u(), a([{"type": "text", "text": "x"}, {"type": "refusal", "refusal": "no"}])),
                          "content_type", "exactly one refusal"),
    "missing content user": (ex({"role": "user"}, a()), "missing_key", "'content'"),
    "assistant null content": (ex(u(), a(None)), "null_content", "message 2 (assistant)"),
    "assistant no content": (ex(u(), {"role": "assistant"}), "null_content", "tool_calls"),
    "weight 2": (ex(u(), a(weight=2)), "invalid_weight", "0 or 1"),
    "weight true": (ex(u(), a(weight=True)), "invalid_weight", "True"),
    "weight 1.0": (ex(u(), a(weight=1.0)), "invalid_weight", "1.0"),
    "name with space": (ex(u(name="Bob Smith"), a()), "invalid_name", "pattern"),
    "name too long": (ex(u(name="x" * 65), a()), "invalid_name", "pattern"),
    "tool_calls empty": (ex(u(), a(None, tool_calls=[])), "invalid_tool_calls", "at least 1"),
    "tool call type": (ex(u(), a(None, tool_calls=[{**call(), "type": "custom"}])), "invalid_tool_calls", "type"),
    "tool call no id": (ex(u(), a(None, tool_calls=[{"type": "function", "function": call()["function"]}])),
                        "missing_key", "'tool_calls'"),
    "arguments object": (ex(u(), a(None, tool_calls=[call(arguments={"city": "Paris"})])), "invalid_tool_calls",
                         "arguments"),
    "function name": (ex(u(), a(None, tool_calls=[call(name="get weather")])), "invalid_tool_calls", "name"),
    "tool without id": (ex(u(), a(None, tool_calls=[call()]), {"role": "tool", "content": "x"}), "missing_key",
                        "'tool_call_id'"),
    "tool id mismatch": (ex(u(), a(None, tool_calls=[call()]), {"role": "tool", "content": "x", "tool_call_id": "c9"},
                            a()), "tool_call_id_mismatch", "message 3 (tool): tool_call_id 'c9'"),
    "tool before call": (ex(u(), {"role": "tool", "content": "x", "tool_call_id": "call_1"},
                            a(None, tool_calls=[call()])), "tool_call_id_mismatch", "earlier ids: none"),
    "tool name on tool msg": (ex(u(), a(None, tool_calls=[call()]), {"role": "tool", "content": "x",
                                                                     "tool_call_id": "call_1", "name": "f"}),
                              "unknown_key", "'name' is not allowed for tool"),
    "function msg without name": (ex(u(), a(), {"role": "function", "content": "x"}), "missing_key", "'name'"),
    "image ftp": (ex(u([{"type": "image_url", "image_url": {"url": "ftp://x/y.png"}}]), a()), "invalid_image", "http"),
    "image gif": (ex(u([{"type": "image_url", "image_url": {"url": "data:image/gif;base64,R0lG"}}]), a()),
                  "invalid_image", "JPEG, PNG or WEBP"),
    "image too big": (ex(u([{"type": "image_url", "image_url": {"url": "data:image/png;base64," + "A" * 14_100_000}}]),
                         a()), "invalid_image", "10 MB"),
    "image detail": (ex(u([{"type": "image_url", "image_url": {"url": PNG, "detail": "max"}}]), a()), "content_type",
                     "detail"),
    "eleven images": (ex(u([{"type": "image_url", "image_url": {"url": PNG}}] * 11), a()), "too_many_images", "11"),
    "no assistant": (ex({"role": "system", "content": "s"}, u()), "missing_assistant", "no assistant message"),
    "tools empty": (ex(u(), a(), tools=[]), "invalid_tools", "tools"),
    "tools type": (ex(u(), a(), tools=[{"type": "retrieval"}]), "invalid_tools", "tools[0]"),
    "tools params not object": (ex(u(), a(), tools=[{"type": "function", "function": {"name": "f", "parameters":
                                                                                       {"type": "array"}}}]),
                                "invalid_tools", "type 'object'"),
    "tools params list": (ex(u(), a(), tools=[{"type": "function", "function": {"name": "f", "parameters": []}}]),
                          "invalid_tools", "parameters"),
    "tool name pattern": (ex(u(), a(), tools=[{"type": "function", "function": {"name": "get weather"}}]),
                          "invalid_tools", "name"),
    "parallel not bool": (ex(u(), a(), parallel_tool_calls="yes"), "invalid_tools", "parallel_tool_calls"),
    "functions empty": (ex(u(), a(), functions=[]), "invalid_tools", "functions"),
    "tools null": (ex(u(), a(), tools=None), "invalid_tools", "tools"),
    "special token": (ex(u("hi <|endoftext|>"), a()), "special_token", "message 1 (user): content contains <|endoftext|>"),
    "chatml token": (ex(u(), a("<|im_start|>assistant")), "special_token", "<|im_start|>"),
    "token in part": (ex(u([{"type": "text", "text": "<|fim_suffix|>"}]), a()), "special_token", "content[0].text"),
    "token in arguments": (ex(u(), a(None, tool_calls=[call(arguments='{"q": "<|endofprompt|>"}')])), "special_token",
                           "arguments"),
    "all weights zero": (ex(u(), a(weight=0)), "no_trainable_assistant", "weight 0"),
    "arguments not json": (ex(u(), a(None, tool_calls=[call(arguments="{city: Paris")])), "invalid_tool_arguments",
                           "not a JSON object"),
    "arguments json list": (ex(u(), a(None, function_call={"name": "f", "arguments": "[1]"})), "invalid_tool_arguments",
                            "function_call"),
}
POLICY_CODES = {"no_trainable_assistant", "invalid_tool_arguments"}  # ours, not OpenAI's format


def verdict(obj, params=DEFAULT) -> validate.Verdict:
    return validate.check_example(json.dumps(obj), params)


@pytest.mark.parametrize("name", ACCEPTED)
def test_accepts(name):
    v = verdict(ACCEPTED[name])
    assert v.problems == [], v.problems
    assert independent_check(ACCEPTED[name]) == []


@pytest.mark.parametrize("name", REJECTED)
def test_rejects_with_reason_and_detail(name):
    obj, reason, words = REJECTED[name]
    v = verdict(obj)
    assert v.problems, f"{name} was accepted"
    code, detail = v.problems[0]
    assert code == reason, v.problems
    assert words in detail, detail
    if reason not in POLICY_CODES:
        assert independent_check(obj), f"the independent checker accepts {name}"


def test_policies_can_be_switched_off():
    relaxed = ValidateParams(name="validate", require_trainable_assistant=False, tool_arguments_json=False)
    assert verdict(REJECTED["all weights zero"][0], relaxed).problems == []
    assert verdict(REJECTED["arguments not json"][0], relaxed).problems == []


def test_every_problem_is_listed_not_only_the_first():
    obj = ex({"role": "developer", "content": "x"}, u(5), a(foo=1), extra=1)
    codes = [c for c, _ in verdict(obj).problems]
    assert codes.count("invalid_role") == 1 and "content_type" in codes and codes.count("unknown_key") == 2


def test_missing_user_message_is_a_warning_by_default_and_configurable():
    obj = ex({"role": "system", "content": "s"}, a())  # the toy file's row 4
    assert verdict(obj).problems == [] and [c for c, _ in verdict(obj).warnings] == ["no_user_message"]
    drop = ValidateParams(name="validate", missing_user_message="drop")
    assert [c for c, _ in verdict(obj, drop).problems] == ["missing_user"]
    ignore = ValidateParams(name="validate", missing_user_message="ignore")
    assert verdict(obj, ignore).warnings == [] and verdict(obj, ignore).problems == []
    tools_only = ex({"role": "system", "content": "s"}, a(None, tool_calls=[call()]))  # slow path too
    assert [c for c, _ in verdict(tools_only).warnings] == ["no_user_message"]


def test_strip_mode_removes_tokens_from_text_and_counts_them():
    strip = ValidateParams(name="validate", special_tokens="strip")
    obj = ex(u("a<|endoftext|>b"), a([{"type": "text", "text": "<|im_start|>x<|im_end|>"}]))
    v = verdict(obj, strip)
    assert v.problems == []
    assert v.rewritten["messages"][0]["content"] == "ab"
    assert v.rewritten["messages"][1]["content"][0]["text"] == "x"
    assert v.tokens_stripped == {"<|endoftext|>": 1, "<|im_start|>": 1, "<|im_end|>": 1}
    outside = ex(u(), a(None, tool_calls=[call(arguments='{"q": "<|endoftext|>"}')]))
    assert [c for c, _ in verdict(outside, strip).problems] == ["special_token"]


def test_special_token_list_covers_the_tokenizers():
    from pipeline.chat.encodings import EncodingUnavailable, get_encoding

    for name in ("cl100k_base", "o200k_base"):
        try:
            enc = get_encoding(name)
        except (OSError, ValueError, EncodingUnavailable) as e:  # no cache, no wheel, no network
            pytest.skip(f"tiktoken encoding {name} unavailable: {e}")
        assert enc.special_tokens_set <= set(validate.SPECIAL_TOKENS)
    assert {"<|im_start|>", "<|im_end|>", "<|im_sep|>"} <= set(validate.SPECIAL_TOKENS)
    for token in validate.SPECIAL_TOKENS + ("<|reserved_200013|>",):
        assert [c for c, _ in verdict(ex(u(f"x {token} y"), a())).problems] == ["special_token"], token
    assert verdict(ex(u("a <|user|> or <| b |> is text"), a())).problems == []


roles = st.sampled_from(["system", "user", "assistant", "developer", "tool"])
contents = st.one_of(st.text(max_size=20), st.none(), st.integers(), st.just([{"type": "text", "text": "t"}]))
plainish = st.fixed_dictionaries({"role": roles, "content": contents}, optional={"name": st.just("x")})


@settings(max_examples=300, deadline=None)
@given(st.lists(plainish, max_size=5))
def test_fast_path_agrees_with_the_schema(messages):
    obj = {"messages": messages}
    v = verdict(obj)
    try:
        ChatExample.model_validate(obj)
        schema_ok = True
    except ValidationError:
        schema_ok = False
    assert (v.problems == []) == schema_ok
    if v.fast:
        assert schema_ok


def frame(examples: list, file="chats.jsonl") -> pl.DataFrame:
    n = len(examples)
    return pl.DataFrame({
        "example_id": [f"id{i}" for i in range(n)], "source_file": [f"data/{file}"] * n,
        "source_rows": [[i + 1] for i in range(n)], "group_id": [f"g{i}" for i in range(n)],
        "example": [dumps_example(e) if not isinstance(e, str) else e for e in examples],
        "flags": [[] for _ in range(n)],
    })


def test_run_keeps_order_names_example_and_message_and_reports_facts():
    rows = [ACCEPTED["plain"], REJECTED["unknown key"][0], ex({"role": "system", "content": "s"}, a()),
            REJECTED["weight 2"][0], "not json", REJECTED["unknown key"][0]]
    out = validate.run(frame(rows), ValidateParams(name="validate", samples_per_reason=1), None)
    f = out.frame
    assert f["example_id"].to_list() == [f"id{i}" for i in range(6)]
    assert f["drop_reason"].to_list() == [None, "unknown_key", None, "invalid_weight", "invalid_example", "unknown_key"]
    assert f["drop_detail"][1].startswith("chats.jsonl row 2, message 2 (assistant): key 'foo' is not allowed")
    assert f["flags"].to_list()[2] == ["validate:no_user_message"] and f["flags"].to_list()[0] == []
    facts = render(out.facts)
    assert facts["checked"] == 6 and facts["passed"] == 2 and facts["rejected"] == 4
    assert facts["by_reason"] == {"unknown_key": 2, "invalid_weight": 1, "invalid_example": 1}
    assert len(facts["samples"]["unknown_key"]) == 1 and facts["samples"]["unknown_key"][0]["source_rows"] == [2]
    assert facts["warnings"] == {"no_user_message": 1}
    json.dumps(facts)  # JSON-able
    assert [p.code for p in out.problems] == ["mostly_invalid_format"]  # 4 of 6 rejected
    assert validate.run(frame(rows[:3]), DEFAULT, None).problems == []


def test_run_rewrites_only_stripped_examples():
    rows = [ACCEPTED["plain"], ex(u("a<|endoftext|>"), a())]
    f = frame(rows)
    out = validate.run(f, ValidateParams(name="validate", special_tokens="strip"), None)
    assert out.frame["example"][0] == f["example"][0]
    assert json.loads(out.frame["example"][1])["messages"][0]["content"] == "a"
    assert render(out.facts)["special_tokens_stripped"] == {"<|endoftext|>": 1} and out.frame["drop_reason"][1] is None


def cookbook(realdata, name: str) -> pl.DataFrame:
    lines = (realdata / "openai-cookbook-ft" / name).read_text(encoding="utf-8").splitlines()
    return frame([json.loads(line) for line in lines], file=name)


def test_cookbook_toy_file_is_what_openai_accepts(realdata):
    out = validate.run(cookbook(realdata, "toy_chat_fine_tuning.jsonl"), DEFAULT, None)
    # row 3 (no system) and row 5 (a 26,000-character answer: the tokens stage judges length) are valid;
    # row 4 (no user message) is accepted by OpenAI too, so it is kept and flagged, not dropped
    assert out.frame["drop_reason"].to_list() == [None] * 5
    assert out.frame["flags"].to_list() == [[], [], [], ["validate:no_user_message"], []]
    assert render(out.facts)["warning_samples"]["no_user_message"][0]["source_rows"] == [4]
    drop = validate.run(cookbook(realdata, "toy_chat_fine_tuning.jsonl"),
                        ValidateParams(name="validate", missing_user_message="drop"), None)
    assert drop.frame["drop_reason"].to_list() == [None, None, None, "missing_user", None]


def test_drone_tool_calls_without_content_pass(realdata):
    f = cookbook(realdata, "drone_training.jsonl")
    assert all("content" not in json.loads(e)["messages"][-1] for e in f["example"])
    out = validate.run(f, DEFAULT, None)
    assert out.frame["drop_reason"].null_count() == f.height == 103
    assert render(out.facts)["fast_path"] == 0 and render(out.facts)["passed"] == 103


# --- chunked runs ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("params", [ValidateParams(name="validate", samples_per_reason=2),
                                    ValidateParams(name="validate", special_tokens="strip", samples_per_reason=0)])
def test_facts_of_uneven_chunks_merge_to_the_whole(params):
    bad = [REJECTED[name][0] for name in ("unknown key", "weight 2", "all weights zero", "arguments not json")]
    rows = ([ACCEPTED["plain"], "not json", ex(a()), ex(u("x <|endoftext|>"), a()), ex(u("<|reserved_7|>"), a())]
            + bad) * 3 + bad * 2  # mostly rejected: a run-level warning, from the merged facts too
    f = frame(rows)
    whole = validate.run(f, params, None)
    cuts = [0, 4, 5, f.height]  # three uneven chunks, the second a single row
    parts = [validate.run(f.slice(lo, hi - lo), params, None) for lo, hi in itertools.pairwise(cuts)]
    merged = stage_facts(validate, params, [p.facts for p in parts])
    facts = render(whole.facts)
    assert json.dumps(merged) == json.dumps(facts)  # same values and the same key order
    assert merge_parts([whole.facts]) == facts
    assert pl.concat([p.frame for p in parts]).equals(whole.frame)
    assert validate.problems_from_facts(merged, params) == whole.problems
    assert [p.code for p in whole.problems] == ["mostly_invalid_format"]
    assert sum(facts["by_reason"].values()) == facts["rejected"] > f.height / 2
    if params.special_tokens == "drop":
        assert facts["special_tokens"] == {"<|endoftext|>": 3, "<|reserved_*|>": 3}
