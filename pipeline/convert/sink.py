"""Collects converted conversations into example rows and rejects, applying the shared cleanup."""

from __future__ import annotations

from collections import Counter, defaultdict

import polars as pl

from pipeline.convert.turns import Turn, clean_turns
from pipeline.convert.windows import shape_conversation, window_part
from pipeline.engine.records import EXAMPLE_SCHEMA, dumps_example, example_id, frame_from_records

STAGE = "convert"
_DETAIL = {"no_assistant_message": "no assistant message to train on (after dropping empty and trailing turns)",
           "no_trainable_turn": "every assistant message has weight 0 (convert.weights / windows overlap)"}


class ConversionSink:
    def __init__(self, source_path: str, cfg, meta_columns: list[str], dumps=dumps_example):
        self.path, self.cfg, self.meta_columns = source_path, cfg, meta_columns
        self.dumps = dumps  # records.dumps_text_example where examples are built of text only
        self.examples: list[dict] = []
        self.rejects: list[dict] = []
        self.counts: Counter = Counter()
        self.facts: defaultdict[str, Counter] = defaultdict(Counter)  # fact name -> counts, e.g. per dropped key
        self.example_frames: list[pl.DataFrame] = []  # parts converted elsewhere (process pool), in order
        self.reject_frames: list[pl.DataFrame] = []
        self.on_examples = None  # callable(frame): takes each converted part as it arrives instead

    def take(self, examples: pl.DataFrame) -> None:
        """A part of examples converted elsewhere (a pool task), in order."""
        if self.on_examples is not None:
            self.on_examples(examples)
        else:
            self.example_frames.append(examples)

    def examples_frame(self) -> pl.DataFrame:
        schema = {**EXAMPLE_SCHEMA, **{f"meta.{m}": pl.Utf8 for m in self.meta_columns}}
        return frame_from_records(self.examples, schema) if self.examples else pl.DataFrame(schema=schema)

    def reject(self, rows: list[int], reason: str, detail: str, example: dict | None = None, part: int = 0) -> None:
        self.rejects.append({"stage": STAGE, "reason": reason, "detail": detail, "source_file": self.path,
                             "source_rows": rows, "example": self.dumps(example) if example else None,
                             "example_id": example_id(self.path, rows[0], part) if example and rows else None})

    def add_example(self, obj: dict, rows: list[int], group_id: str, meta: dict | None = None, part: int = 0) -> None:
        """One finished example (a preference pair, built by pipeline/convert/preference_pairs.py): no cleanup,
        no windows; `group_id` as the split should group it."""
        self.examples.append({"example_id": example_id(self.path, rows[0], part), "source_file": self.path,
                              "source_rows": rows, "group_id": group_id, "example": dumps_example(obj), "flags": [],
                              **{f"meta.{m}": (meta or {}).get(m) for m in self.meta_columns}})

    def add(self, turns: list[Turn] | None, rows: list[int], group_key: str, where: str,
            meta: dict | None = None, top_level: dict | None = None, part: int = 0, cleaned=None) -> None:
        """One conversation -> one example, or several (windows); `part` tells apart several examples
        that start on the same row (e.g. the paths of one reply tree). `cleaned`: clean_turns' result,
        when the caller got it another way (turns.clean_plain_turns; `turns` is then unused)."""
        kept, dropped, reason = cleaned if cleaned is not None else clean_turns(turns, self.cfg, self.counts)
        gone: set[int] = set()
        for drop_rows, code, detail in dropped:
            self.reject(drop_rows, code, detail)
            gone.update(drop_rows)
        rows = [r for r in rows if r not in gone] if gone else list(rows)
        if reason:
            self.counts[reason] += 1
            if rows:
                obj = {"messages": [t.message for t in kept], **(top_level or {})}
                self.reject(rows, reason, f"{where}: {_DETAIL.get(reason, reason)}", obj, part)
            return
        pieces, outside = shape_conversation(kept, rows, self.cfg, self.counts, top_level or {})
        for t in outside:
            self.counts["trailing_turn"] += 1
            if t.rows:
                self.reject(t.rows, "trailing_turn", f"{where}: {t.message.get('role')} message after the last "
                                                     f"window (windows end on an assistant turn)")
        for piece in pieces:
            obj = {"messages": [t.message for t in piece.turns], **(top_level or {})}
            pid = window_part(part, piece.index)
            if not piece.trained:
                self.counts["no_trainable_turn"] += 1
                self.reject(piece.rows, "no_trainable_turn", f"{where}: {_DETAIL['no_trainable_turn']}", obj, pid)
                continue
            self.examples.append({
                "example_id": example_id(self.path, rows[0], pid),
                "source_file": self.path,
                "source_rows": piece.rows,
                "group_id": f"{self.path}#{group_key}",
                "example": self.dumps(obj),
                "flags": [],
                **{f"meta.{m}": (meta or {}).get(m) for m in self.meta_columns},
            })
