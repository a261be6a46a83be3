"""Runs for the destination tests of azure-openai, fireworks and together (tests/test_target_*.py): the sample
config with `--set target.provider=P`, real exports and a small crafted file with every optional chat feature;
reading what a target wrote; the checks every destination shares (the independent checker passes, every source
row is in exactly one place, records go back to the exported chat examples)."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.config_loader import load_config
from pipeline.runner import run_pipeline
from pipeline.targets.features import drop_features
from tests.conftest import ROOT
from tests.destination_checkers import DESTINATIONS

SPLITS = ("train", "validation")
STAGES = [{"name": "validate"}, {"name": "tokens"}, {"name": "split", "validation_fraction": 0.1}, {"name": "export"}]


def sample_run(tmp_path: Path, *sets: str):
    """configs/default.yaml as `chatprep prepare --config configs/default.yaml --set ...` runs it (from ROOT, so
    its relative input paths resolve); returns (result, out folder)."""
    out = tmp_path / "out"
    config = load_config(ROOT / "configs/default.yaml",
                         [*sets, f"cache.dir={tmp_path / 'cache'}", "cache.checkpoints=false"])
    return run_pipeline(config, "configs/default.yaml", out, quiet=True), out


def real_inputs(realdata: Path) -> dict[str, dict]:
    """Real exports with tools (the cookbook's drone file, LLaMA-Factory's glaive demo) and plain chats (FastChat)."""
    return {
        "drone": {"path": str(realdata / "openai-cookbook-ft/drone_training.jsonl"), "layout": "conversations"},
        "glaive": {"path": str(realdata / "llamafactory-demo/glaive_toolcall_en_demo.json"), "layout": "conversations",
                   "columns": {"messages": "conversations", "role_key": "from", "content_key": "value",
                               "tools": "tools"},
                   "roles": {"human": "user", "gpt": "assistant"}, "tool_calls": {"format": "sharegpt"}},
        "fastchat": {"path": str(realdata / "fastchat-dummy/dummy_conversation.json"), "layout": "conversations",
                     "columns": {"messages": "conversations", "id": "id", "role_key": "from", "content_key": "value"},
                     "roles": {"human": "user", "gpt": "assistant"}},
    }


def featured_file(folder: Path, n: int = 12) -> dict:
    """An input of `n` chats using every optional feature an OpenAI line may carry: weights, message names,
    a refusal, parallel tool calls (two tool results in a row), `parallel_tool_calls`; plus plain chats."""
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {
        "type": "object", "properties": {"q": {"type": "string"}}}}}]
    lines = []
    for i in range(n):
        calls = [{"id": f"c{i}a", "type": "function", "function": {"name": "lookup", "arguments": f'{{"q": "a{i}"}}'}},
                 {"id": f"c{i}b", "type": "function", "function": {"name": "lookup", "arguments": f'{{"q": "b{i}"}}'}}]
        kind = i % 4
        if kind == 0:  # weights and a name
            msgs = [{"role": "system", "content": "You answer billing questions."},
                    {"role": "user", "content": f"When is invoice {i} due?", "name": f"customer{i}"},
                    {"role": "assistant", "content": f"A draft about invoice {i} we keep untrained.", "weight": 0},
                    {"role": "user", "content": f"Please answer about invoice {i} properly."},
                    {"role": "assistant", "content": f"Invoice {i} is due on the first working day.", "weight": 1}]
            lines.append({"messages": msgs})
        elif kind == 1:  # parallel tool calls answered by two tool messages
            msgs = [{"role": "user", "content": f"Look up records a{i} and b{i} for me."},
                    {"role": "assistant", "content": None, "tool_calls": calls},
                    {"role": "tool", "tool_call_id": f"c{i}a", "content": f"record a{i}: open"},
                    {"role": "tool", "tool_call_id": f"c{i}b", "content": f"record b{i}: closed"},
                    {"role": "assistant", "content": f"Record a{i} is open and b{i} is closed."}]
            lines.append({"messages": msgs, "tools": tools, "parallel_tool_calls": True})
        elif kind == 2:  # one tool call, text parts
            msgs = [{"role": "user", "content": [{"type": "text", "text": f"Find record a{i}."},
                                                 {"type": "text", "text": "Quickly please."}]},
                    {"role": "assistant", "content": None, "tool_calls": calls[:1]},
                    {"role": "tool", "tool_call_id": f"c{i}a", "content": f"record a{i}: open"},
                    {"role": "assistant", "content": f"Record a{i} is open."}]
            lines.append({"messages": msgs, "tools": tools})
        else:  # a refusal
            msgs = [{"role": "user", "content": f"Tell me customer {i}'s card number."},
                    {"role": "assistant", "content": f"I can't share card details for customer {i}.",
                     "refusal": "card numbers are private"}]
            lines.append({"messages": msgs})
    path = folder / "featured.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return {"name": "featured", "path": str(path), "layout": "conversations"}


def read_lines(path: Path) -> list[dict]:
    """A written JSONL file's records (a UTF-8 byte-order mark, where the destination writes one, skipped)."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8-sig").splitlines() if line.strip()]


def checker_problems(folder: Path, provider: str, model: str | None = None) -> dict[str, list[str]]:
    """The independent checker's findings on the train and validation files (split by split; [] = valid); an
    empty validation file (no validation split) is not judged."""
    dest = DESTINATIONS[provider]
    return {s: dest.check_file(folder / f"{s}.jsonl", **({"model": model} if model else {}), split=s)
            for s in SPLITS if (folder / f"{s}.jsonl").stat().st_size or s == "train"}


def rows_accounted(folder: Path, stats: dict) -> None:
    """Every source row of the run is in exactly one of this folder's provenance or rejects."""
    exported = [(p["source"]["file"], r) for p in read_lines(folder / "provenance.jsonl") for r in p["source"]["rows"]]
    rejected = [(x["source"]["file"], r) for x in read_lines(folder / "rejects.jsonl") for r in x["source"]["rows"]]
    assert len(set(exported)) == len(exported) and not set(exported) & set(rejected)
    assert len(exported) + len(set(rejected)) == stats["input"]
    assert stats["input"] == stats["exported"] + stats["rejected"]
    assert len(exported) == stats["exported"]
    lines = sum(len(read_lines(folder / f"{s}.jsonl")) for s in SPLITS)
    assert lines == len(read_lines(folder / "provenance.jsonl"))


def chat_by_id(folder: Path) -> dict[str, dict]:
    """example_id -> the exported chat example, from an `openai` folder (whose lines are the chat examples)."""
    ids = [p["example_id"] for p in read_lines(folder / "provenance.jsonl")]
    lines = [line for s in SPLITS for line in read_lines(folder / f"{s}.jsonl")]
    return dict(zip(ids, lines, strict=True))


def records_by_id(folder: Path) -> dict[str, dict]:
    ids = [p["example_id"] for p in read_lines(folder / "provenance.jsonl")]
    lines = [line for s in SPLITS for line in read_lines(folder / f"{s}.jsonl")]
    return dict(zip(ids, lines, strict=True))


def round_trip_mismatches(chats: dict[str, dict], records: dict[str, dict], module, lost=()) -> list[str]:
    """Ids whose record, read back with `module.from_record`, is not the exported chat example (less the features
    the destination cannot carry, when they were dropped: `lost`)."""
    def expected(chat: dict, record: dict) -> dict:
        chat = drop_features(chat, lost) if lost else chat
        # parallel_tool_calls is OpenAI's training setting, not data: destinations without it leave it out
        return {k: v for k, v in chat.items() if k != "parallel_tool_calls" or k in record}

    return [i for i, record in records.items() if module.from_record(record) != expected(chats[i], record)]
