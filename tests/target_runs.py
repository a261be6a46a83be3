"""Helpers of the destination tests (tests/test_target_<name>.py): the sample config run as
`chatprep prepare --set target.provider=P` runs it, real files run through the OpenAI target and a destination
in one run, exported records joined to the OpenAI chat line of the same source rows, the accounting of one
destination's folder, and the normalisation that says what a round trip may change.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.conftest import ROOT, read_jsonl

DEFAULT_CONFIG = ROOT / "configs" / "default.yaml"
SPLITS = ("train", "validation")
STAGES = [{"name": "validate"}, {"name": "split", "validation_fraction": 0.1}, {"name": "export"}]


def sample_run(tmp_path: Path, provider: str, *overrides: str):
    """configs/default.yaml with `--set target.provider=<provider>` alone (and `overrides`), as the CLI
    applies them."""
    from pipeline.config_loader import load_config
    from pipeline.runner import run_pipeline

    raw = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    raw["inputs"] = [{**i, "path": str(ROOT / i["path"])} for i in raw["inputs"]]
    raw["cache"] = {"dir": str(tmp_path / ".cache")}
    path = tmp_path / "default.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    sets = [f"target.provider={provider}", *overrides]
    result = run_pipeline(load_config(path, sets), str(path), tmp_path / "out", quiet=True)
    return result, tmp_path / "out"


def with_openai(run_config, inputs: list[dict], provider: str, lossy: str = "reject", **target) -> tuple:
    """Run `inputs` for OpenAI and `provider` at once; returns (result, openai folder, provider folder)."""
    result, out = run_config({"inputs": inputs, "stages": STAGES,
                              "targets": [{"provider": "openai"}, {"provider": provider, "lossy": lossy, **target}]})
    folders = {p.name.split("-")[0]: p for p in out.iterdir() if p.is_dir() and (p / "stats.json").exists()}
    theirs = next(p for p in out.iterdir() if p.is_dir() and p.name.startswith(provider + "-"))
    return result, folders["openai"], theirs


def _by_rows(folder: Path) -> dict[tuple, dict]:
    out = {}
    for split in SPLITS:
        lines = read_jsonl(folder / f"{split}.jsonl")
        prov = [p for p in read_jsonl(folder / "provenance.jsonl") if p["file"] == f"{split}.jsonl"]
        assert len(lines) == len(prov)
        for p, line in zip(prov, lines, strict=True):
            out[(p["source"]["file"], tuple(p["source"]["rows"]))] = line
    return out


def joined(openai_folder: Path, folder: Path) -> list[tuple[dict, dict]]:
    """(OpenAI chat line, destination record) of every line the destination folder exported."""
    chats, records = _by_rows(openai_folder), _by_rows(folder)
    return [(chats[key], record) for key, record in records.items()]


def assert_accounted(folder: Path) -> dict:
    """Every source row is exported once or rejected once in this folder (its stats say the same); returns
    the folder's stats."""
    stats = json.loads((folder / "stats.json").read_text(encoding="utf-8"))
    exported = [(p["source"]["file"], r) for p in read_jsonl(folder / "provenance.jsonl") for r in p["source"]["rows"]]
    rejected = [(r["source"]["file"], row) for r in read_jsonl(folder / "rejects.jsonl") for row in r["source"]["rows"]]
    assert len(exported) == len(set(exported)) and len(rejected) == len(set(rejected))
    assert not set(exported) & set(rejected)
    rows = stats["rows"]
    assert (rows["exported"], rows["rejected"]) == (len(exported), len(rejected))
    assert rows["input"] == rows["exported"] + rows["rejected"]
    return stats


def reasons(folder: Path) -> dict[str, int]:
    found: dict[str, int] = {}
    for r in read_jsonl(folder / "rejects.jsonl"):
        found[r["reason"]] = found.get(r["reason"], 0) + 1
    return found


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
