"""Collects converted conversations into example rows and rejects, applying the shared cleanup."""

from __future__ import annotations

from collections import Counter

from pipeline.convert.turns import Turn, clean_turns
from pipeline.records import dumps_example, example_id

STAGE = "convert"
_DETAIL = {"no_assistant_message": "no assistant message to train on (after dropping empty and trailing turns)"}


class ConversionSink:
    def __init__(self, source_path: str, cfg, meta_columns: list[str]):
        self.path, self.cfg, self.meta_columns = source_path, cfg, meta_columns
        self.examples: list[dict] = []
        self.rejects: list[dict] = []
        self.counts: Counter = Counter()

    def reject(self, rows: list[int], reason: str, detail: str, example: dict | None = None) -> None:
        self.rejects.append({"stage": STAGE, "reason": reason, "detail": detail, "source_file": self.path,
                             "source_rows": rows, "example": dumps_example(example) if example else None,
                             "example_id": example_id(self.path, rows[0]) if example and rows else None})

    def add(self, turns: list[Turn], rows: list[int], group_key: str, where: str,
            meta: dict | None = None, top_level: dict | None = None) -> None:
        kept, dropped, reason = clean_turns(turns, self.cfg, self.counts)
        gone: set[int] = set()
        for drop_rows, code, detail in dropped:
            self.reject(drop_rows, code, detail)
            gone.update(drop_rows)
        rows = [r for r in rows if r not in gone]
        obj = {"messages": [t.message for t in kept], **(top_level or {})}
        if reason:
            self.counts[reason] += 1
            if rows:
                self.reject(rows, reason, f"{where}: {_DETAIL.get(reason, reason)}", obj)
            return
        self.examples.append({
            "example_id": example_id(self.path, rows[0]),
            "source_file": self.path,
            "source_rows": rows,
            "group_id": f"{self.path}#{group_key}",
            "example": dumps_example(obj),
            "flags": [],
            **{f"meta.{m}": (meta or {}).get(m) for m in self.meta_columns},
        })
