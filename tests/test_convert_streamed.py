"""A large messages-layout CSV is converted while it is read (pipeline/convert/message_stream.py): the same
examples, rejects, row universe and counts as when the table is read whole, batch size and task size
notwithstanding; files it cannot stream (rows of a conversation apart, quoting Arrow's reading does not
stand for) are read again whole with the same result."""

from __future__ import annotations

import json
import random

import polars as pl
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.config_loader import load_config
from pipeline.convert import message_stream, messages
from pipeline.convert.message_stream import NotGrouped, conversation_tasks
from pipeline.convert.step import example_schema, read_and_convert
from pipeline.engine.executor import LocalExecutor
from pipeline.engine.parts import PartWriter
from pipeline.errors import UserError
from pipeline.ingest import resolve_sources


def _csv_text(n_conversations: int, seed: int = 3, apart: bool = False) -> str:
    """Messages with the cases that leave rejects: missing and padded ids, unknown and dropped speakers, bad
    turn numbers, a cell over max_cell_chars, message_where misses, multi-line cells with commas."""
    rng = random.Random(seed)
    rows = []
    for c in range(n_conversations):
        cid = f"c{c:04d}" if c % 17 else f"  c{c:04d} "
        for t in range(rng.randint(1, 7)):
            who = "customer" if t % 2 == 0 else "agent"
            text = rng.choice(["hello there", "thanks, bye", "it broke\nagain, twice, today", "ok", "",
                               "why, when, how\n\nnot,again", "x" * 90 if c % 29 == 5 else "fine"])
            if c % 23 == 4 and t == 1:
                who = "supervisor"  # unknown: the conversation is rejected
            if c % 19 == 6 and t == 2:
                who = "note"  # dropped speaker
            turn = "x" if c % 31 == 7 and t == 0 else str(t)
            rows.append([("" if c % 37 == 9 and t == 0 else cid), turn, who, text,
                         "spam" if c % 13 == 12 and c > 60 and t == 1 else "chat"])
    rows[:0] = [["c-first", "0", "customer", "hi", "chat"], ["c-first", "1", "note", "account pulled up", "chat"],
                ["c-first", "2", "agent", "hello", "chat"]]  # a dropped speaker batches before any message_where miss
    if apart:  # one conversation's rows far apart
        rows.insert(len(rows) - 3, rows[2])
    out = ["conversation_id,turn,speaker,text,channel"]
    for r in rows:
        out.append(",".join('"' + v.replace('"', '""') + '"' if any(ch in v for ch in ',\n"') else v for v in r))
    return "\n".join(out) + "\n"


def _config(tmp_path, csv_text: str):
    (tmp_path / "chats.csv").write_text(csv_text)
    cfg = {"inputs": [{"path": str(tmp_path / "chats.csv"), "layout": "messages", "max_cell_chars": 80,
                       "columns": {"conversation_id": "conversation_id", "order": "turn", "role": "speaker",
                                   "content": "text"},
                       "roles": {"customer": "user", "agent": "assistant", "note": "drop"},
                       "message_where": "channel != 'spam'", "metadata": ["channel"]}],
           "stages": [{"name": "export"}], "target": {"provider": "openai", "model": "gpt-4o-mini-2024-07-18"},
           "output": {"dir": str(tmp_path / "out")}, "cache": {"dir": str(tmp_path / "cache")}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    return load_config(tmp_path / "c.yaml")


def _run(tmp_path, config, name: str, executor=None, said: list | None = None):
    writer = PartWriter(tmp_path / name, "examples", 40, example_schema(config))
    rejects, universe, stages, sources = read_and_convert(config, resolve_sources(config.inputs), writer,
                                                          (said if said is not None else []).append, executor)
    for s in stages:
        s.pop("seconds")
    return writer.parts().read_all(), rejects, universe, stages, sources, writer.parts().heights


def _assert_same(a, b):
    for x, y in zip(a[:3], b[:3]):
        assert x.equals(y)
    assert json.dumps(a[3:]) == json.dumps(b[3:])  # (key order too: stats.json writes it)


@pytest.fixture
def small_tasks(monkeypatch):
    monkeypatch.setattr(messages, "CONVERSATIONS_PER_TASK", 9)
    monkeypatch.setattr(message_stream, "CONVERSATIONS_PER_TASK", 9)


@pytest.mark.parametrize("block", [1 << 10, 3 << 10, 1 << 20])
def test_streamed_equals_whole(tmp_path, monkeypatch, small_tasks, block):
    config = _config(tmp_path, _csv_text(300))
    monkeypatch.setattr(message_stream, "STREAM_MIN_BYTES", 1 << 40)
    whole = _run(tmp_path, config, "whole")
    monkeypatch.setattr(message_stream, "STREAM_MIN_BYTES", 0)
    monkeypatch.setattr(message_stream, "STREAM_BLOCK_BYTES", block)
    said: list[str] = []
    streamed = _run(tmp_path, config, "streamed", said=said)
    assert any("while converting it" in s for s in said)  # it did stream
    reasons = set(whole[1]["reason"])
    assert {"missing_conversation_id", "unknown_role", "dropped_role", "message_filtered", "cell_too_large",
            "invalid_integer"} <= reasons, reasons
    _assert_same(whole, streamed)
    assert len(whole[5]) > 3  # several parts, the same ones


def test_streamed_on_the_process_pool(tmp_path, monkeypatch, small_tasks):
    config = _config(tmp_path, _csv_text(200, seed=5))
    monkeypatch.setattr(message_stream, "STREAM_MIN_BYTES", 1 << 40)
    whole = _run(tmp_path, config, "whole")
    monkeypatch.setattr(message_stream, "STREAM_MIN_BYTES", 0)
    monkeypatch.setattr(message_stream, "STREAM_BLOCK_BYTES", 2 << 10)
    executor = LocalExecutor(2)
    try:
        _assert_same(whole, _run(tmp_path, config, "pool", executor))
    finally:
        executor.close()


def test_rows_apart_are_read_again_whole(tmp_path, monkeypatch, small_tasks):
    config = _config(tmp_path, _csv_text(200, apart=True))
    monkeypatch.setattr(message_stream, "STREAM_MIN_BYTES", 1 << 40)
    whole = _run(tmp_path, config, "whole")
    monkeypatch.setattr(message_stream, "STREAM_MIN_BYTES", 0)
    monkeypatch.setattr(message_stream, "STREAM_BLOCK_BYTES", 1 << 10)
    said: list[str] = []
    again = _run(tmp_path, config, "again", said=said)
    assert any("read again whole" in s for s in said), said
    _assert_same(whole, again)


def test_bad_quoting_goes_to_the_exact_path(tmp_path, monkeypatch):
    """A stray quote far into the file: Arrow's reading does not stand, the exact path reads it (rejecting the
    line), and the streamed attempt leaves nothing behind."""
    text = _csv_text(120).splitlines()
    text[200] = text[200].split(",")[0] + ',1,agent,"unclosed quote, never closed,chat'
    config = _config(tmp_path, "\n".join(text) + "\n")
    monkeypatch.setattr(message_stream, "STREAM_MIN_BYTES", 1 << 40)
    whole = _run(tmp_path, config, "whole")
    assert "unclosed_quote" in set(whole[1]["reason"])
    monkeypatch.setattr(message_stream, "STREAM_MIN_BYTES", 0)
    monkeypatch.setattr(message_stream, "STREAM_BLOCK_BYTES", 1 << 10)
    _assert_same(whole, _run(tmp_path, config, "streamed"))


def test_missing_column_stops_before_any_work(tmp_path, monkeypatch):
    config = _config(tmp_path, _csv_text(20).replace("speaker", "who", 1))
    monkeypatch.setattr(message_stream, "STREAM_MIN_BYTES", 0)
    with pytest.raises(UserError, match=r"column 'speaker' \(inputs\[0\]\.columns\.role\) not found"):
        _run(tmp_path, config, "x")
    assert not (tmp_path / "x").exists() or not any((tmp_path / "x").iterdir())


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 6), min_size=1, max_size=60), st.data())
def test_tasks_hold_whole_conversations_in_first_row_order(lengths, data):
    """Any grouped file (a conversation's rows together, or interleaved with its neighbour's), cut into any
    batches: the tasks hold exactly `per_task` conversations each, in order of first row, all their rows, in
    file order — the tasks of the whole table."""
    cids = [f"c{i}" for i, n in enumerate(lengths) for _ in range(n + 1)]
    swaps = data.draw(st.lists(st.integers(0, max(len(cids) - 2, 0)), max_size=5))
    for i in swaps:  # neighbouring rows swapped: conversations interleave, still together
        if i + 1 < len(cids):
            cids[i], cids[i + 1] = cids[i + 1], cids[i]
    frame = pl.DataFrame({"__cid": cids, "__row": list(range(1, len(cids) + 1))})
    cuts = sorted(set(data.draw(st.lists(st.integers(1, len(cids)), max_size=8))))
    batches = [frame.slice(a, b - a) for a, b in zip([0, *cuts], [*cuts, len(cids)]) if b > a]
    per_task = data.draw(st.integers(1, 5))
    order = frame["__cid"].unique(maintain_order=True).to_list()
    expected = [order[i:i + per_task] for i in range(0, len(order), per_task)]
    together = all(cids.index(c) + cids.count(c) - 1 == len(cids) - 1 - cids[::-1].index(c) for c in order)
    try:
        tasks = list(conversation_tasks(iter(batches), per_task))
    except NotGrouped:  # interleaved rows that a batch cut apart: read whole, never wrong
        assert not together
        return
    assert [t["__cid"].unique(maintain_order=True).to_list() for t in tasks] == expected
    for t in tasks:
        want = frame.filter(pl.col("__cid").is_in(t["__cid"].unique().implode()))
        assert t["__row"].to_list() == want["__row"].to_list()


def test_a_conversation_coming_back_is_not_grouped():
    frame = pl.DataFrame({"__cid": ["a", "a", "b", "c", "a"], "__row": [1, 2, 3, 4, 5]})
    with pytest.raises(NotGrouped):
        list(conversation_tasks(iter([frame.slice(0, 4), frame.slice(4)]), 1))
