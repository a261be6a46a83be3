"""Helpers of the destination tests (tests/test_target_<name>.py): hand-written chats and targets; the sample config
run as `chatprep prepare --set target.provider=P` runs it; real exports and a small crafted file with every
optional chat feature, run for the OpenAI target and a destination at once; reading what a target wrote; and the
checks every destination shares: its independent checker passes, every source row is in exactly one place, and
records read back to the exported chat examples (up to what a round trip may change: `comparable`)."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.config_loader import load_config
from pipeline.runner import run_pipeline
from pipeline.targets import resolve_target
from pipeline.targets.features import prepare
from schemas.target import TargetConfig
from tests.conftest import ROOT

SPLITS = ("train", "validation")
STAGES = [{"name": "validate"}, {"name": "tokens"}, {"name": "split", "validation_fraction": 0.1}, {"name": "export"}]
ROLES = {"s": "system", "u": "user", "a": "assistant", "t": "tool", "f": "function"}


# ------------------------------------------------------------------------------------ hand-written chats

def chat(*turns: str, **top) -> dict:
    """A chat example from "role letter:text" turns (s, u, a, t, f), e.g. chat("u:Hi", "a:Hello")."""
    return {"messages": [{"role": ROLES[t[0]], "content": t[2:]} for t in turns], **top}


def image_chat() -> dict:
    """A user asking about an image (a text part and an image_url part), and the assistant's answer."""
    example = chat("u:x", "a:Hi")
    example["messages"][0]["content"] = [{"type": "text", "text": "What is it?"},
                                         {"type": "image_url", "image_url": {"url": "https://x/y.png"}}]
    return example


def resolved(provider: str, lossy: str = "reject", model: str | None = None, **config):
    """The resolved target of `provider` with this loss policy (and model, and other target keys)."""
    return resolve_target(TargetConfig(provider=provider, lossy=lossy, model=model, **config))


def details(problems, provider: str) -> list[str]:
    """What a reject says of each rule problem."""
    return [p.detail(provider) for p in problems]


# ------------------------------------------------------------------------------------------------- runs

def checked_sample_run(tmp_path: Path, monkeypatch, provider: str, checker, model: str | None = None):
    """configs/default.yaml as `chatprep prepare --config configs/default.yaml --set target.provider=<provider>`
    runs it from the repository root without an OpenAI key; both split files pass `checker` and every source row
    is in exactly one place. Returns (result, out folder, stats)."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.chdir(ROOT)
    out = tmp_path / "out"
    config = load_config(ROOT / "configs/default.yaml", [f"target.provider={provider}",
                                                         f"cache.dir={tmp_path / 'cache'}", "cache.checkpoints=false"])
    result = run_pipeline(config, "configs/default.yaml", out, quiet=True)
    assert checker_problems(out, checker, model) == {"train": [], "validation": []}
    return result, out, rows_accounted(out)


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


def with_openai(run_config, inputs: list[dict], provider: str, lossy: str = "reject", **config) -> tuple:
    """Run `inputs` for OpenAI and `provider` at once; returns (result, openai folder, provider folder)."""
    result, out = run_config({"inputs": inputs, "stages": STAGES,
                              "targets": [{"provider": "openai"}, {"provider": provider, "lossy": lossy, **config}]})
    (openai_folder,) = [p for p in out.iterdir() if p.is_dir() and p.name.startswith("openai-")]
    (folder,) = [p for p in out.iterdir() if p.is_dir() and p.name.startswith(provider + "-")]
    return result, openai_folder, folder


# -------------------------------------------------------------------------------- what a target wrote

def read_lines(path: Path) -> list[dict]:
    """A written JSONL file's records (a UTF-8 byte-order mark, where the destination writes one, skipped)."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8-sig").splitlines() if line.strip()]


def reasons(folder: Path) -> dict[str, int]:
    """How many of the folder's rejects each reason has."""
    found: dict[str, int] = {}
    for r in read_lines(folder / "rejects.jsonl"):
        found[r["reason"]] = found.get(r["reason"], 0) + 1
    return found


def by_id(folder: Path) -> dict[str, dict]:
    """example_id -> the line a folder exported (from an `openai` folder: the chat example), split by split."""
    out = {}
    provenance = read_lines(folder / "provenance.jsonl")
    for split in SPLITS:
        ids = [p["example_id"] for p in provenance if p["file"] == f"{split}.jsonl"]
        out.update(zip(ids, read_lines(folder / f"{split}.jsonl"), strict=True))
    assert len(out) == len(provenance)
    return out


def joined(openai_folder: Path, folder: Path) -> list[tuple[dict, dict]]:
    """(OpenAI chat line, destination record) of every line the destination folder exported."""
    chats = by_id(openai_folder)
    return [(chats[i], record) for i, record in by_id(folder).items()]


# ------------------------------------------------------------------------------------- shared checks

def checker_problems(folder: Path, checker, model: str | None = None) -> dict[str, list[str]]:
    """The independent checker's findings on the train and validation files (split by split; [] = valid); an
    empty validation file (no validation split) is not judged."""
    return {s: checker.check_file(folder / f"{s}.jsonl", **({"model": model} if model else {}), split=s)
            for s in SPLITS if (folder / f"{s}.jsonl").stat().st_size or s == "train"}


def rows_accounted(folder: Path) -> dict:
    """Every source row is exported once or rejected once in this folder, its stats say the same and every
    exported line has its provenance line; returns the folder's stats."""
    stats = json.loads((folder / "stats.json").read_text(encoding="utf-8"))
    exported = [(p["source"]["file"], r) for p in read_lines(folder / "provenance.jsonl") for r in p["source"]["rows"]]
    rejected = [(x["source"]["file"], r) for x in read_lines(folder / "rejects.jsonl") for r in x["source"]["rows"]]
    assert len(exported) == len(set(exported)) and len(rejected) == len(set(rejected))
    assert not set(exported) & set(rejected)
    rows = stats["rows"]
    assert (rows["exported"], rows["rejected"]) == (len(exported), len(rejected))
    assert rows["input"] == rows["exported"] + rows["rejected"]
    lines = sum(len(read_lines(folder / f"{s}.jsonl")) for s in SPLITS)
    assert lines == len(read_lines(folder / "provenance.jsonl"))
    return stats


def _text(content) -> str | None:
    if isinstance(content, list):
        return "\n".join(p["text"] for p in content if p.get("type") == "text")
    return content


def comparable(chat: dict) -> dict:
    """A chat example without what no destination record keeps: tool call ids (numbered call_1, call_2, ... in
    call order, answers renumbered with them), the spelling of arguments (parsed), `weight: 1`, a function's
    `strict`, text parts (joined with newlines), an absent or empty assistant content beside tool calls."""
    numbered: list[list] = []   # [original id, new id, answered]
    messages = []
    for m in chat["messages"]:
        m = {k: v for k, v in m.items() if not (k == "weight" and v == 1)}
        m["content"] = _text(m.get("content"))
        if m.get("tool_calls"):
            if not m["content"]:
                m["content"] = None
            calls = []
            for call in m["tool_calls"]:
                numbered.append([call.get("id"), f"call_{len(numbered) + 1}", False])
                calls.append({"id": numbered[-1][1], "type": "function",
                              "function": {"name": call["function"]["name"],
                                           "args": json.loads(call["function"]["arguments"])}})
            m["tool_calls"] = calls
        if m.get("role") == "tool":
            entry = next((e for e in numbered if e[0] == m.get("tool_call_id") and not e[2]), None)
            if entry is not None:
                entry[2] = True
                m["tool_call_id"] = entry[1]
        messages.append(m)
    out = {"messages": messages}
    if chat.get("tools"):
        out["tools"] = [{"type": "function", "function": {k: v for k, v in t["function"].items() if k != "strict"}}
                        for t in chat["tools"]]
    return out


def assert_round_trips(openai_folder: Path, folder: Path, module, checker, target, normalise=None,
                       checker_sees=comparable) -> list:
    """Both split files pass `checker`, and every record `folder` exported, read back with the destination
    `module`'s from_record, is the chat example it was written from after `target`'s loss handling (to the letter,
    or as `normalise` sees both); read back with the checker's own to_chat, it is that example as `checker_sees`
    sees both. `parallel_tool_calls` is OpenAI's training setting, not data: a record without it leaves it out.
    Returns the (chat line, record) pairs."""
    assert checker_problems(folder, checker) == {"train": [], "validation": []}
    same = normalise or (lambda example: example)
    pairs = joined(openai_folder, folder)
    for chat_line, record in pairs:
        exported = prepare(chat_line, target).chat   # the chat example after the loss handling: what was written
        exported = {k: v for k, v in exported.items() if k != "parallel_tool_calls" or k in record}
        assert same(module.from_record(record)) == same(exported)
        assert checker_sees(checker.to_chat(record)) == checker_sees(exported)
    return pairs
