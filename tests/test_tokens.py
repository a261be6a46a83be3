"""tokens: counts checked against tiktoken and OpenAI's published API counts, the model table, overflow
handling (drop / truncate / keep), the epochs and cost formula, and parts on the Executor."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest
import tiktoken
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.chat.encodings import PROJECT_CACHE, get_encoding
from pipeline.chat.model_limits import UnknownModelError, resolve_model
from pipeline.chat.token_counting import (
    TOOL_CALL_OVERHEAD,
    ChatTokenCounter,
    default_epochs,
    training_estimate,
)
from pipeline.engine.executor import LocalExecutor
from pipeline.engine.facts import merge_parts, render
from pipeline.engine.parts import write_parts
from pipeline.engine.records import dumps_example
from pipeline.engine.segments import Segment, run_segment, stage_facts
from pipeline.engine.stage import StageContext
from pipeline.errors import UserError
from pipeline.stages.tokens import stage as tokens
from schemas.stages.tokens import TokensParams
from tests.conftest import read_jsonl


class _NoBar:
    def update(self, n): pass
    def close(self): pass


def ctx(tmp_path: Path, warnings: list | None = None) -> StageContext:
    return StageContext(None, tmp_path / "out", tmp_path / ".cache", lambda **kw: _NoBar(),
                        (warnings if warnings is not None else []).append)


def frame(examples: list) -> pl.DataFrame:
    texts = [e if isinstance(e, str) else dumps_example(e) for e in examples]
    return pl.DataFrame({"example_id": [f"e{i}" for i in range(len(texts))], "example": texts,
                         "flags": [[] for _ in texts]},
                        schema={"example_id": pl.Utf8, "example": pl.Utf8, "flags": pl.List(pl.Utf8)})


def run(tmp_path, examples, **params):
    """The stage's output, with its facts as the runner reports them."""
    params = TokensParams(name="tokens", **params)
    out = tokens.run(frame(examples), params, ctx(tmp_path))
    return replace(out, facts=stage_facts(tokens, params, [out.facts]))


def enc(name="o200k_base"):
    return get_encoding(name)  # provisioned offline like the pipeline does, whatever ran before


# --------------------------------------------------------------------------- counts
# The two examples of OpenAI's cookbook "How to count tokens with tiktoken" (sections 6 and 7) with the
# prompt_tokens the API returned there: 129 / 124 and, with the tool, 105 / 101 (cl100k / o200k models).
JARGON = [
    {"role": "system", "content": "You are a helpful, pattern-following assistant that translates corporate "
                                  "jargon into plain English."},
    {"role": "system", "name": "example_user", "content": "New synergies will help drive top-line growth."},
    {"role": "system", "name": "example_assistant", "content": "Things working well together will increase revenue."},
    {"role": "system", "name": "example_user", "content": "Let's circle back when we have more bandwidth to touch "
                                                          "base on opportunities for increased leverage."},
    {"role": "system", "name": "example_assistant", "content": "Let's talk later when we're less busy about how to "
                                                               "do better."},
    {"role": "user", "content": "This late pivot means we don't have time to boil the ocean for the client "
                                "deliverable."},
]
WEATHER_TOOLS = [{"type": "function", "function": {
    "name": "get_current_weather", "description": "Get the current weather in a given location",
    "parameters": {"type": "object", "properties": {
        "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
        "unit": {"type": "string", "description": "The unit of temperature to return",
                 "enum": ["celsius", "fahrenheit"]}}, "required": ["location"]}}}]
WEATHER = [{"role": "system", "content": "You are a helpful assistant that can answer to questions about the weather."},
           {"role": "user", "content": "What's the weather like in San Francisco?"}]


@pytest.mark.parametrize("encoding,jargon,weather", [("cl100k_base", 129, 105), ("o200k_base", 124, 101)])
def test_counts_equal_the_api_counts_published_in_the_cookbook(encoding, jargon, weather):
    counter = ChatTokenCounter(enc(encoding), encoding)
    assert counter.example({"messages": JARGON}).total == jargon
    assert counter.example({"messages": WEATHER, "tools": WEATHER_TOOLS}).total == weather


def direct_count(example: dict, e) -> tuple[int, int]:
    """The cookbook rule written out with tiktoken calls: (total, assistant content tokens)."""
    total, assistant = 3, 0
    for m in example["messages"]:
        total += 3 + len(e.encode(m["role"])) + len(e.encode(m.get("content") or ""))
        total += len(e.encode(m["name"])) + 1 if "name" in m else 0
        if m["role"] == "assistant":
            assistant += len(e.encode(m.get("content") or ""))
    return total, assistant


def test_toy_file_counts_match_tiktoken_directly(tmp_path, realdata):
    toy = read_jsonl(realdata / "openai-cookbook-ft/toy_chat_fine_tuning.jsonl")
    out = run(tmp_path, toy, max_tokens=100_000).frame
    expected = [direct_count(x, enc()) for x in toy]
    assert out["n_tokens"].to_list() == [t for t, _ in expected]
    assert out["n_assistant_tokens"].to_list() == [a for _, a in expected]
    cl = run(tmp_path, toy, model="gpt-3.5-turbo-0125", max_tokens=100_000).frame
    assert cl["n_tokens"].to_list() == [direct_count(x, enc("cl100k_base"))[0] for x in toy]
    assert cl["n_tokens"].to_list() != out["n_tokens"].to_list()  # the encodings really differ


@given(st.lists(st.tuples(st.sampled_from(["user", "assistant", "system"]), st.text(max_size=40)), max_size=6))
@settings(max_examples=60, deadline=None)
def test_plain_messages_count_as_the_cookbook_rule(messages):
    # the fast path for {"role", "content"} messages, lone surrogates included (tiktoken replaces them)
    example = {"messages": [{"role": r, "content": c} for r, c in messages]}
    counted = ChatTokenCounter(enc(), "o200k_base").example(example)
    assert (counted.total, counted.assistant) == direct_count(example, enc())


def test_plain_messages_with_lone_surrogates_and_a_full_memo_count_alike(monkeypatch):
    import pipeline.chat.token_counting as counting

    monkeypatch.setattr(counting, "_MEMO_CHARS", 100)  # the memo empties itself every few texts
    counter = ChatTokenCounter(enc(), "o200k_base")
    for k in range(4):  # the repeated text is counted fresh, then from the memo
        example = {"messages": [{"role": "user", "content": f"a lone \ud800 surrogate, then more words {k}"},
                                {"role": "assistant", "content": "x\udfffy and a second answer " * 3},
                                {"role": "user", "content": f"a lone \ud800 surrogate, then more words {k}"}]}
        counted = counter.example(example)
        assert (counted.total, counted.assistant) == direct_count(example, enc())
        assert counter._memo_chars == sum(map(len, counter._memo)) + sum(map(len, counter._tools_memo))
        assert counter._memo_chars <= 100 + max(len(m["content"]) for m in example["messages"])


def flat_tools_lower_bound(tools: list, e) -> int:
    """The cookbook's num_tokens_for_tools on the flat part of each schema (o200k constants)."""
    n = 12
    for t in tools:
        f = t["function"]
        n += 7 + len(e.encode(f["name"] + ":" + f.get("description", "").removesuffix(".")))
        props = f["parameters"]["properties"]
        n += 3 if props else 0
        for key, p in props.items():
            n += 3 + len(e.encode(f"{key}:{p['type']}:{p.get('description', '').removesuffix('.')}"))
            if "enum" in p:
                n += -3 + sum(3 + len(e.encode(item)) for item in p["enum"])
    return n


def test_drone_file_with_tools_and_tool_calls(tmp_path, realdata):
    drone = read_jsonl(realdata / "openai-cookbook-ft/drone_training.jsonl")
    bare = [{"messages": x["messages"]} for x in drone]
    with_tools = run(tmp_path, drone).frame
    without = run(tmp_path, bare).frame
    e = enc()
    for x, total, n_bare, n_assistant in zip(drone, with_tools["n_tokens"], without["n_tokens"],
                                             with_tools["n_assistant_tokens"]):
        calls = [c["function"] for m in x["messages"] for c in m.get("tool_calls", [])]
        written = sum(len(e.encode(c["name"])) + len(e.encode(c["arguments"])) for c in calls)
        plain = direct_count({"messages": [{k: v for k, v in m.items() if k != "tool_calls"}
                                           for m in x["messages"]]}, e)
        assert n_bare == plain[0] + written + TOOL_CALL_OVERHEAD * len(calls)
        assert n_assistant == plain[1] + written
        tools_part = total - n_bare
        exact_flat = flat_tools_lower_bound(x["tools"], e)
        # conservative: never below the cookbook rule, and what it adds is the nested/extra schema keys only
        assert exact_flat <= tools_part <= exact_flat + len(e.encode(json.dumps(x["tools"])))
    assert len(set((with_tools["n_tokens"] - without["n_tokens"]).to_list())) == 1  # same tools, same count


def test_images_weights_and_unreadable_rows(tmp_path):
    image = {"messages": [{"role": "user", "content": [{"type": "text", "text": "what is this?"},
                                                       {"type": "image_url", "image_url": {"url": "https://x/y.png"}}]},
                          {"role": "assistant", "content": "a cat", "weight": 0},
                          {"role": "user", "content": "sure?"}, {"role": "assistant", "content": "yes", "weight": 1}]}
    out = run(tmp_path, [image, "not json", {"no": "messages"}]).frame
    e = enc()
    assert out["n_assistant_tokens"][0] == len(e.encode("yes"))  # weight 0 is not trained
    assert out["n_tokens"][0] >= 1445 + len(e.encode("what is this?"))
    assert out["drop_reason"].to_list() == [None, "unreadable_example", "unreadable_example"]


# --------------------------------------------------------------------------- model table
@pytest.mark.parametrize("name,encoding,limit", [
    ("gpt-4o-mini-2024-07-18", "o200k_base", 65_536),
    ("gpt-4o-2024-08-06", "o200k_base", 65_536),
    ("gpt-4.1-2025-04-14", "o200k_base", 65_536),
    ("gpt-4.1-mini-2025-04-14", "o200k_base", 65_536),
    ("gpt-4.1-nano-2025-04-14", "o200k_base", 65_536),
    ("gpt-3.5-turbo-0125", "cl100k_base", 16_385),
    ("gpt-3.5-turbo-1106", "cl100k_base", 16_385),
    ("gpt-3.5-turbo-0613", "cl100k_base", 4_096),
    ("gpt-4-0613", "cl100k_base", 8_192),
    ("ft:gpt-4o-mini-2024-07-18:my-org::A1b2C3", "o200k_base", 65_536),
    ("ft:gpt-3.5-turbo-0613:acme:support:7xYz", "cl100k_base", 4_096),
    ("ft:gpt-4.1-2025-04-14:acme::q9", "o200k_base", 65_536),
    ("gpt-35-turbo-0125", "cl100k_base", 16_385),
])
def test_model_table(name, encoding, limit):
    target = resolve_model(name)
    assert (target.encoding, target.max_example_tokens) == (encoding, limit)
    assert tiktoken.encoding_name_for_model(target.base) == encoding  # agrees with tiktoken's own table


def test_model_overrides_and_errors():
    assert resolve_model("gpt-4o-mini", max_tokens=1000).max_example_tokens == 1000
    custom = resolve_model("my-model", encoding="cl100k_base", max_tokens=4000)
    assert (custom.encoding, custom.price_per_million, custom.family) == ("cl100k_base", None, None)
    with pytest.raises(UnknownModelError, match="known families are gpt-4o-mini, gpt-4o"):
        resolve_model("llama-3-8b")
    with pytest.raises(UnknownModelError, match="max_tokens"):
        resolve_model("o4-mini-2025-04-16")  # tokenizer known, limit not published
    assert resolve_model("gpt-4", max_tokens=8192).price_source.startswith("unknown")
    assert resolve_model("gpt-4o-mini", price=1.5).price_per_million == 1.5


def test_unknown_model_is_a_config_error(tmp_path):
    from pipeline.config_loader import load_config, semantic_problems
    from schemas.config import Config

    config = Config.model_validate({"inputs": [{"path": "x.jsonl", "layout": "conversations"}],
                                    "stages": [{"name": "tokens", "model": "claude-3"}, {"name": "export"}]})
    [(loc, message)] = semantic_problems(config)
    assert loc == ("stages", 0, "model") and "known models" in message
    cfg = tmp_path / "c.yaml"
    cfg.write_text("inputs: [{path: x.jsonl, layout: conversations}]\n"
                   "stages: [{name: tokens, model: gpt-5o-turbo}, {name: export}]\n")
    with pytest.raises(UserError) as e:
        load_config(cfg)
    assert "c.yaml: stages[0]" in str(e.value) and "unknown model 'gpt-5o-turbo'" in str(e.value)


# --------------------------------------------------------------------------- overflow
def turns(n: int, words: int = 50) -> dict:
    msgs = [{"role": "system", "content": "You are terse."}]
    for k in range(n):
        msgs += [{"role": "user", "content": f"question {k} " + "word " * words},
                 {"role": "assistant", "content": f"answer {k} " + "reply " * words}]
    return {"messages": msgs}


def test_drop_names_tokens_limit_and_model(tmp_path):
    out = run(tmp_path, [turns(1), turns(20)], max_tokens=500)
    assert out.frame["drop_reason"].to_list() == [None, "over_token_limit"]
    assert "> limit 500 of gpt-4o-mini-2024-07-18 (max_tokens)" in out.frame["drop_detail"][1]
    assert out.facts["over_limit"] == out.facts["dropped_over_limit"] == 1 and out.facts["examples"] == 1


def test_truncate_keeps_system_starts_on_user_ends_on_assistant(tmp_path):
    long = turns(20)
    out = run(tmp_path, [long], max_tokens=600, on_overflow="truncate")
    row = out.frame.row(0, named=True)
    kept = json.loads(row["example"])["messages"]
    assert row["drop_reason"] is None and row["flags"] == ["tokens:truncated"]
    assert kept[0] == long["messages"][0] and kept[1]["role"] == "user" and kept[-1] == long["messages"][-1]
    assert kept[1:] == long["messages"][len(long["messages"]) - len(kept) + 1:]  # only the oldest turns went
    assert row["n_tokens"] <= 600
    one_more = {"messages": [long["messages"][0]] + long["messages"][-(len(kept) + 1):]}
    assert ChatTokenCounter(enc(), "o200k_base").example(one_more).total > 600  # it removed no more than needed
    assert out.facts["truncated"] == 1 and out.facts["samples"]["truncated"][0]["n_tokens_after"] == row["n_tokens"]


def test_truncate_drops_with_reason_when_nothing_fits(tmp_path):
    huge_last = turns(3)
    huge_last["messages"][-1]["content"] = "word " * 3000
    untrained_tail = turns(6)
    for m in untrained_tail["messages"][-4:]:
        if m["role"] == "assistant":
            m["weight"] = 0
    counter = ChatTokenCounter(enc(), "o200k_base")
    two_turns = counter.example({"messages": untrained_tail["messages"][:1] + untrained_tail["messages"][-4:]}).total
    out = run(tmp_path, [huge_last, untrained_tail], max_tokens=two_turns + 5, on_overflow="truncate").frame
    # what fits of the second example has only weight-0 answers: nothing left to train on
    assert out["drop_reason"].to_list() == ["over_token_limit_untruncatable"] * 2
    assert "the shortest part that can be kept (system prompt and tools, then messages 6..7) needs" in \
        out["drop_detail"][0]


@settings(max_examples=60, deadline=None)
@given(lengths=st.lists(st.tuples(st.integers(1, 80), st.integers(1, 80)), min_size=1, max_size=8),
       limit=st.integers(40, 900))
def test_truncation_property(tmp_path_factory, lengths, limit):
    msgs = [{"role": "system", "content": "sys"}]
    for q, a in lengths:
        msgs += [{"role": "user", "content": "q " * q}, {"role": "assistant", "content": "a " * a}]
    out = run(tmp_path_factory.mktemp("t"), [{"messages": msgs}], max_tokens=limit, on_overflow="truncate").frame
    row = out.row(0, named=True)
    counter = ChatTokenCounter(enc(), "o200k_base")
    if row["drop_reason"] is None:
        kept = json.loads(row["example"])["messages"]
        assert counter.example({"messages": kept}).total == row["n_tokens"] <= limit
        assert kept[0]["role"] == "system" and kept[1]["role"] == "user" and kept[-1]["role"] == "assistant"
        assert kept[1:] == msgs[len(msgs) - len(kept) + 1:]
    else:
        last_turn = [msgs[0], *msgs[-2:]]
        assert row["drop_reason"] == "over_token_limit_untruncatable"
        assert counter.example({"messages": last_turn}).total > limit


def test_keep_flags_and_warns(tmp_path):
    out = run(tmp_path, [turns(1), turns(20)], max_tokens=500, on_overflow="keep")
    assert out.frame["drop_reason"].to_list() == [None, None]
    assert out.frame["flags"].to_list() == [[], ["tokens:over_limit"]]
    assert out.facts["kept_over_limit"] == 1 and out.facts["examples"] == 2
    assert [p.code for p in out.problems] == ["tokens_over_limit"] and out.problems[0].level == "warning"


# --------------------------------------------------------------------------- epochs and cost
@pytest.mark.parametrize("n,epochs", [(0, 0), (1, 25), (3, 25), (4, 25), (5, 20), (10, 10), (33, 3), (34, 3),
                                      (5_000, 3), (8_333, 3), (8_334, 2), (12_501, 1), (100_000, 1)])
def test_default_epochs(n, epochs):
    assert default_epochs(n) == epochs


def test_training_estimate_formula():
    est = training_estimate([100, 5_000, 70_000], limit=65_536, price_per_million=3.0)
    assert est["n_epochs"] == 25  # 3 examples: 100 // 3 = 33 epochs, capped at 25
    assert est["billed_tokens_per_epoch"] == 100 + 5_000 + 65_536  # over-limit examples are billed up to the limit
    assert est["billed_tokens"] == 25 * 70_636
    assert est["cost_usd"] == round(25 * 70_636 * 3.0 / 1e6, 4)
    fixed = training_estimate([1000] * 50, limit=4096, price_per_million=None, n_epochs=4)
    assert (fixed["n_epochs"], fixed["epochs_rule"], fixed["billed_tokens"], fixed["cost_usd"]) == (4, "fixed", 200_000,
                                                                                                   None)


def test_facts_shape(tmp_path, realdata):
    toy = read_jsonl(realdata / "openai-cookbook-ft/toy_chat_fine_tuning.jsonl")
    facts = run(tmp_path, toy, model="ft:gpt-4o-mini-2024-07-18:org::x1").facts
    assert facts["base_model"] == "gpt-4o-mini-2024-07-18" and facts["limit"] == 65_536
    assert sum(facts["histograms"]["tokens_per_example"]["counts"]) == facts["examples"] == len(toy)
    assert facts["histograms"]["tokens_per_example"]["limit"] == 65_536
    assert sum(facts["histograms"]["messages_per_example"]["counts"]) == len(toy)
    est = facts["training_estimate"]
    assert est["price_per_million"] == 3.0 and est["n_epochs"] == 20  # 5 examples -> 100 // 5
    assert est["billed_tokens"] == 20 * facts["totals"]["tokens"]
    json.dumps(facts)


# --------------------------------------------------------------------------- scale path
@pytest.mark.slow  # spawns two worker processes (each loads the encoding)
def test_parts_on_two_workers_give_the_same_counts(tmp_path, realdata):
    """The stage has no pool of its own: the engine runs it part by part on the Executor, and two workers
    over uneven parts give the whole-frame frame and facts."""
    drone = read_jsonl(realdata / "openai-cookbook-ft/drone_training.jsonl")
    many = [dict(x, messages=x["messages"][:-1] + [{"role": "assistant", "content": f"ok {i}"}])
            for i in range(30) for x in drone]  # 3,090 examples
    p = TokensParams(name="tokens", max_tokens=2_000)
    whole = tokens.run(frame(many), p, ctx(tmp_path))
    parts = write_parts(frame(many), tmp_path / "in", "examples", 700)
    executor = LocalExecutor(2)
    try:
        kept, (result,) = run_segment(Segment([(p, tokens)], True), parts, tmp_path / "run",
                                      replace(ctx(tmp_path), executor=executor))
    finally:
        executor.close()
    assert result.workers == 2
    assert kept.read_all().equals(whole.frame.filter(pl.col("drop_reason").is_null()).drop("drop_reason", "drop_detail"))
    assert json.dumps(result.facts) == json.dumps(stage_facts(tokens, p, [whole.facts]))


def test_end_to_end_on_the_cookbook_files(realdata, run_config):
    inputs = [{"path": str(realdata / "openai-cookbook-ft/*.jsonl"), "layout": "conversations"}]
    stages = [{"name": "tokens", "max_tokens": 4096}, {"name": "split"}, {"name": "export"}]
    result, out = run_config({"inputs": inputs, "stages": stages})
    rejects = [r for r in read_jsonl(out / "rejects.jsonl") if r["stage"] == "tokens"]
    assert [r["reason"] for r in rejects] == ["over_token_limit"]  # the toy file's 26,000-character answer
    assert result.stats["facts"]["tokens"]["examples"] == result.stats["examples"]["train"] + \
        result.stats["examples"]["validation"]
    assert result.stats["rows"]["input"] == result.stats["rows"]["exported"] + result.stats["rows"]["rejected"]


# --------------------------------------------------------------------------- chunked runs
def mixed_examples(realdata) -> list:
    toy = read_jsonl(realdata / "openai-cookbook-ft/toy_chat_fine_tuning.jsonl")
    drone = read_jsonl(realdata / "openai-cookbook-ft/drone_training.jsonl")[:40]
    return [turns(k % 9 + 1, words=7 * k % 400) for k in range(60)] + toy + drone + ["not json", turns(30)]


@pytest.mark.parametrize("params", [{"max_tokens": 2_000}, {"max_tokens": 1_500, "on_overflow": "truncate"},
                                    {"max_tokens": 1_000, "on_overflow": "keep", "n_epochs": 2}])
def test_facts_of_uneven_chunks_merge_to_the_whole(tmp_path, realdata, params):
    examples = mixed_examples(realdata)
    f, p = frame(examples), TokensParams(name="tokens", **params)
    whole = tokens.run(f, p, ctx(tmp_path))
    cuts = [0, 3, 70, f.height]  # three uneven chunks
    parts = [tokens.run(f.slice(a, b - a), p, ctx(tmp_path)) for a, b in itertools.pairwise(cuts)]
    merged = stage_facts(tokens, p, [part.facts for part in parts])
    facts = stage_facts(tokens, p, [whole.facts])
    assert json.dumps(merged) == json.dumps(facts)  # same values, same key order
    assert merge_parts([whole.facts]) == render(whole.facts)
    assert pl.concat([part.frame for part in parts]).equals(whole.frame)
    assert tokens.problems_from_facts(merged, p) == whole.problems
    assert facts["over_limit"] > 0 and facts["training_estimate"]["n_examples"] == facts["examples"]
    assert (params.get("on_overflow") == "keep") == bool(whole.problems)
    # epochs follow the whole count, not a chunk's: 3 chunks of auto-epochs would each get more
    if "n_epochs" not in params:
        assert facts["training_estimate"]["n_epochs"] == default_epochs(facts["examples"])


def test_distribution_from_fixed_bins(tmp_path):
    values = [1, 2, 2, 3, 511, 512, 519, 520, 1000, 5_000, 70_000, 123_457]
    bins = [[v, c] for v, c in sorted(Counter(map(tokens.value_bin, values)).items())]
    exact = pl.Series(values)
    for q in (0.5, 0.95, 0.0, 1.0):
        got, want = tokens._nearest_rank(bins, len(values), q), exact.quantile(q, "nearest")
        assert got <= want and ((want < 512 and got == want) or want - got < want / 64)
    assert {tokens.value_bin(v) for v in range(512, 1024)} == set(range(512, 1024, 8))  # 64 bins per octave
    assert all(tokens.value_bin(v) <= v < tokens.value_bin(v) + max(1, v // 64) for v in range(0, 300_000, 7))
    small = run(tmp_path, [turns(1, words=w) for w in (1, 5, 30, 80)])
    s = pl.Series(small.frame["n_tokens"].to_list())
    assert small.facts["distribution"]["tokens"] == {  # below 512 the summary is exact
        "min": s.min(), "p50": float(s.quantile(0.5, "nearest")), "p95": float(s.quantile(0.95, "nearest")),
        "max": s.max(), "mean": round(s.mean(), 1)}


_ODD_MESSAGES = [',"weight":0', ',"name":"n"', ',"content":"the repeated key wins"', ',"role":"assistant"',
                 ',"content":null', ',"content":[{"type":"text","text":"part"}]', ',"content":1e400']


@given(st.lists(st.tuples(st.sampled_from(["user", "assistant", "system"]), st.text(max_size=30),
                          st.sampled_from(["", "", "", *_ODD_MESSAGES])), max_size=5),
       st.sampled_from(["", ',"tools":null', ',"x":1', ',"functions":[{"name":"f"}]']))
@settings(max_examples=150, deadline=None)
def test_count_batch_plain_path_counts_as_the_general_one(messages, extra):
    # count_batch decodes the usual example ({"role", "content"} strings only) with msgspec and counts it
    # inline; anything else (another key, a repeated key, a content that is no string) takes the general path
    from pipeline.chat.token_counting import chat_object, count_batch

    text = ('{"messages":[' + ",".join('{"role":' + json.dumps(r) + ',"content":' + json.dumps(c) + odd + "}"
                                       for r, c, odd in messages) + "]" + extra + "}")
    obj = chat_object(text)
    general = ChatTokenCounter(enc(), "o200k_base").example(obj)
    assert count_batch("o200k_base", str(PROJECT_CACHE), [text]) == [
        (general.total, general.assistant, len(general.messages), True)]
