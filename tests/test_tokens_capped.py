"""Counting stops once a long example is over the limit (pipeline/chat/token_counting.py, `capped`): a huge
example is not encoded in full, counts within the limit stay exact, over-limit ones are lower bounds
("over N"), and truncation finds the same cut as with a full count."""

from __future__ import annotations

import json
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.chat.encodings import get_encoding
from pipeline.chat.token_counting import (
    FULL_COUNT_CHARS_PER_TOKEN,
    MAX_TOKEN_BYTES,
    ChatTokenCounter,
    capped,
    count_batch,
)
from pipeline.stages.tokens.truncation import fit_by_dropping_oldest_turns
from tests.conftest import read_jsonl
from tests.test_tokens import run

HUGE = 30_000_000  # characters: ~4 s and ~1 GB of token ids to encode in full


def counter() -> ChatTokenCounter:
    return ChatTokenCounter(get_encoding("o200k_base"), "o200k_base")


def chat(*contents: str, system: str | None = "You are terse.") -> dict:
    msgs = [{"role": "system", "content": system}] if system is not None else []
    msgs += [{"role": "user" if k % 2 == 0 else "assistant", "content": c} for k, c in enumerate(contents)]
    return {"messages": msgs}


def test_a_huge_text_is_not_encoded_and_counts_as_a_lower_bound():
    example = chat("x " * (HUGE // 2), "short answer")
    started = time.perf_counter()
    c = counter().example(example, cap=4_000)
    assert time.perf_counter() - started < 1.0
    assert not c.exact and c.total > 4_000
    assert c.messages[1] == 3 + -(-HUGE // MAX_TOKEN_BYTES)  # ceil(characters / 128) + framing
    assert c.messages[0] == counter().example(chat(system="You are terse.")).messages[0]  # system: exact
    assert c.messages[2] == counter().example(chat("q", "short answer")).messages[2]  # last message: exact
    assert c.first_exact == 2


def test_many_messages_stop_once_over_and_keep_the_tail_exact():
    example = chat(*[f"turn {k} " + "word " * 200 for k in range(400)])
    full, cut = counter().example(example), counter().example(example, cap=1_000)
    assert full.exact and not cut.exact and cut.total > 1_000 and cut.total <= full.total
    assert cut.messages[cut.first_exact:] == full.messages[cut.first_exact:]
    assert cut.messages[:1] == full.messages[:1] and all(n == 3 for n in cut.messages[1:cut.first_exact])
    assert cut.assistant <= full.assistant


@settings(max_examples=80, deadline=None)
@given(lengths=st.lists(st.integers(0, 3_000), min_size=1, max_size=10), cap=st.integers(16, 2_000),
       system=st.booleans())
def test_capped_counts_are_exact_within_the_cap_and_lower_bounds_over_it(lengths, cap, system):
    example = chat(*["ab " * n for n in lengths], system="sys" if system else None)
    full, cut = counter().example(example), counter().example(example, cap=cap)
    if full.total <= cap:
        assert cut == full
    else:
        assert cut.total > cap and cut.total <= full.total and cut.assistant <= full.assistant
        assert cut.messages[cut.first_exact:] == full.messages[cut.first_exact:]
        if cut.exact:
            assert cut == full


@settings(max_examples=80, deadline=None)
@given(lengths=st.lists(st.tuples(st.integers(1, 400), st.integers(1, 400)), min_size=1, max_size=8),
       limit=st.integers(20, 1_500))
def test_truncation_finds_the_same_cut_with_a_capped_count(lengths, limit):
    msgs = [{"role": "system", "content": "sys"}]
    for q, a in lengths:
        msgs += [{"role": "user", "content": "q " * q}, {"role": "assistant", "content": "a " * a}]
    example = {"messages": msgs}
    full = fit_by_dropping_oldest_turns(msgs, counter().example(example), limit)
    cut = fit_by_dropping_oldest_turns(msgs, counter().example(example, cap=limit), limit)
    assert cut[0] == full[0]
    if cut[0] is None and "needs" in full[1] and "needs over" not in cut[1]:
        assert cut[1] == full[1]


def test_only_long_examples_get_a_cap():
    assert capped("x" * (FULL_COUNT_CHARS_PER_TOKEN * 100), 100) is None
    assert capped("x" * (FULL_COUNT_CHARS_PER_TOKEN * 100 + 1), 100) == 100
    short_over = json.dumps(chat("word " * 300))  # over 100 tokens but short: counted in full
    huge = json.dumps(chat("x " * (HUGE // 2)))
    (a, b) = count_batch("o200k_base", "", [short_over, huge], limit=100)
    assert a[3] is True and a[0] == counter().example(json.loads(short_over)).total
    assert b[3] is False and b[0] > 100


def test_stage_drop_says_over_n_and_keeps_exact_facts_for_the_rest(tmp_path):
    small = chat("hello", "hi there")
    out = run(tmp_path, [small, chat("x " * (HUGE // 2), "ok")], max_tokens=4_000)
    assert out.frame["drop_reason"].to_list() == [None, "over_token_limit"]
    detail = out.frame["drop_detail"][1]
    assert detail.startswith("over ") and "tokens > limit 4,000" in detail
    assert out.frame["n_tokens"][0] == counter().example(small).total
    assert out.facts["totals"]["tokens"] == counter().example(small).total
    assert out.facts["samples"]["over_limit"][0]["n_tokens_exact"] is False


def test_stage_truncate_keeps_the_recent_turns_of_a_huge_example(tmp_path):
    example = chat("x " * (HUGE // 2), "first answer", "recent question", "recent answer")
    out = run(tmp_path, [example], max_tokens=4_000, on_overflow="truncate")
    row = out.frame.row(0, named=True)
    kept = json.loads(row["example"])["messages"]
    assert row["flags"] == ["tokens:truncated"] and [m["content"] for m in kept[1:]] == ["recent question",
                                                                                          "recent answer"]
    assert row["n_tokens"] == counter().example({"messages": kept}).total
    sample = out.facts["samples"]["truncated"][0]
    assert sample["n_tokens_exact"] is False and sample["n_tokens_after"] == row["n_tokens"]


def test_end_to_end_huge_example_is_rejected_and_every_row_accounted(tmp_path, run_config):
    rows = [json.dumps(chat("hello", "hi there")), json.dumps(chat("x " * (HUGE // 2), "ok"))]
    src = tmp_path / "chats.jsonl"
    src.write_text("\n".join(rows) + "\n", encoding="utf-8")
    stages = [{"name": "tokens", "max_tokens": 4_000}, {"name": "export"}]
    started = time.perf_counter()
    inputs = [{"path": str(src), "layout": "conversations", "max_cell_chars": 40_000_000}]
    result, out = run_config({"inputs": inputs, "stages": stages})
    assert time.perf_counter() - started < 60
    rejects = [r for r in read_jsonl(out / "rejects.jsonl") if r["stage"] == "tokens"]
    assert [r["reason"] for r in rejects] == ["over_token_limit"] and rejects[0]["detail"].startswith("over ")
    assert result.stats["rows"]["input"] == 2 == result.stats["rows"]["exported"] + result.stats["rows"]["rejected"]


def test_real_cookbook_files_capped_counts_agree(realdata):
    examples = read_jsonl(realdata / "openai-cookbook-ft/toy_chat_fine_tuning.jsonl")
    examples += read_jsonl(realdata / "openai-cookbook-ft/drone_training.jsonl")[:40]
    for limit in (64, 300, 4_096):
        for example in examples:
            full, cut = counter().example(example), counter().example(example, cap=limit)
            assert cut == full if full.total <= limit else (limit < cut.total <= full.total)
