"""`pairs` layout: one row per exchange; prompt (+ optional context) and response, optional system."""

from __future__ import annotations

import polars as pl

from pipeline.convert.sink import ConversionSink
from pipeline.convert.turns import Turn
from pipeline.ingest.readers import ROW


def convert_pairs(frame: pl.DataFrame, inp, index: int, sink: ConversionSink) -> None:
    c = inp.columns
    for rec in frame.iter_rows(named=True):
        row = rec[ROW]
        prompt = rec[c.prompt]
        context = rec[c.context] if c.context else None
        if prompt is None or not prompt.strip():
            if not (context and context.strip()):
                sink.counts["missing_prompt"] += 1
                sink.reject([row], "missing_prompt", f"row {row}, column {c.prompt!r}: empty prompt")
                continue
            prompt = ""
        if context and context.strip():
            prompt = f"{prompt.rstrip()}\n\n{context.strip()}" if prompt.strip() else context
        turns = []
        if c.system and rec[c.system] and rec[c.system].strip():
            turns.append(Turn({"role": "system", "content": rec[c.system]}))
        turns.append(Turn({"role": "user", "content": prompt}))
        turns.append(Turn({"role": "assistant", "content": rec[c.response] or ""}))
        key = f"id={rec[c.id]}" if c.id and rec[c.id] is not None else f"row{row}"
        sink.add(turns, [row], key, f"row {row}", meta={m: rec.get(m) for m in inp.metadata})
