"""A pool of real chat messages for the bench's `--text real` data, built at run time from ../shared/realdata.

Nothing read here is copied into the project: the pool lives in memory while the bench data is generated.
Messages are whole real utterances, by language and by side (the customer / user side and the agent /
assistant side), so the generated conversations have real message lengths, vocabulary and punctuation:

- en: the TWCS customer-support tweets (inbound = user), PersuasionForGood (persuadee = user, persuader =
  assistant), Agentune's insurance calls (Customer / Agent), XDailyDialog en (turns alternate), LLaMA-Factory's
  alpaca demo (instruction + input / output) and glaive tool-call demo (human / gpt turns only).
- de, it: XDailyDialog's translations (turns alternate).
- zh: XDailyDialog zh, LLaMA-Factory's glaive tool-call zh demo (human / gpt) and dpo zh demo (prompt / chosen).

The shared folder is ../shared beside the project (or $CHATPREP_SHARED, as the tests use).
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
USER, ASSISTANT = "user", "assistant"
Pool = dict[str, dict[str, list[str]]]  # language -> side -> messages


class RealDataMissing(Exception):
    """The shared real-data folder (or one of its files) is not there."""


def realdata_dir() -> Path:
    return Path(os.environ.get("CHATPREP_SHARED", ROOT.parent / "shared")) / "realdata"


def _csv_rows(path: Path) -> list[dict]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _json(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


def _add(pool: Pool, lang: str, side: str, text) -> None:
    if isinstance(text, str) and text.strip():
        pool.setdefault(lang, {USER: [], ASSISTANT: []})[side].append(text.strip())


def _sharegpt(pool: Pool, lang: str, records: list[dict]) -> None:
    for rec in records:
        for m in rec.get("conversations", []):
            side = {"human": USER, "gpt": ASSISTANT}.get(m.get("from"))
            if side:  # tool calls, tool results and system prompts are not chat messages here
                _add(pool, lang, side, m.get("value"))


def _dailydialog(pool: Pool, lang: str, path: Path) -> None:
    for line in path.read_text(encoding="utf-8").splitlines():
        turns = [t.strip() for t in line.split("\t")[0].split("__eou__") if t.strip()]
        for k, t in enumerate(turns):
            _add(pool, lang, USER if k % 2 == 0 else ASSISTANT, t)


def real_pool(root: Path | None = None) -> Pool:
    """Every real message by language and side, in file order (deterministic for the same files).
    Raises RealDataMissing, naming the folder or file, when the shared data is absent."""
    root = root or realdata_dir()
    if not root.is_dir():
        raise RealDataMissing(f"real data folder not found at {root} (../shared/realdata beside the project, "
                              f"or set CHATPREP_SHARED)")
    pool: Pool = {}
    try:
        for r in _csv_rows(root / "twcs-sample" / "sample.csv"):
            _add(pool, "en", USER if r["inbound"] == "True" else ASSISTANT, r["text"])
        for r in _csv_rows(root / "persuasionforgood" / "full_dialog.csv"):
            _add(pool, "en", ASSISTANT if r["B4"] == "0" else USER, r["Unit"])
        for r in _csv_rows(root / "agentune-insurance-calls" / "messages.csv"):
            _add(pool, "en", ASSISTANT if r["author"] == "Agent" else USER, r["message"])
        for lang in ("en", "de", "it", "zh"):
            _dailydialog(pool, lang, root / "xdailydialog" / f"{lang}_test_human.txt")
        demos = root / "llamafactory-demo"
        for r in _json(demos / "alpaca_en_demo.json"):
            _add(pool, "en", USER, "\n\n".join(x for x in (r["instruction"], r["input"]) if x.strip()))
            _add(pool, "en", ASSISTANT, r["output"])
        _sharegpt(pool, "en", _json(demos / "glaive_toolcall_en_demo.json"))
        _sharegpt(pool, "zh", _json(demos / "glaive_toolcall_zh_demo.json"))
        for r in _json(demos / "dpo_zh_demo.json"):
            _sharegpt(pool, "zh", [r])
            _add(pool, "zh", ASSISTANT, r["chosen"]["value"])
    except FileNotFoundError as e:
        raise RealDataMissing(f"real data file not found: {e.filename}") from None
    return pool
