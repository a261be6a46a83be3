"""Convert: raw tables -> examples frame, one converter per layout, shared cleanup in `turns`."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import polars as pl

from pipeline.convert.conversations import convert_conversations
from pipeline.convert.message_filters import filter_message_rows
from pipeline.convert.messages import convert_messages
from pipeline.convert.pairs import convert_pairs
from pipeline.convert.preference import convert_preference
from pipeline.convert.preference_edits import convert_preference_edits
from pipeline.convert.preference_ratings import convert_preference_ratings
from pipeline.convert.sink import ConversionSink
from pipeline.convert.speaker_roles import messages_with_roles
from pipeline.convert.threads import convert_threads
from pipeline.convert.transcript import convert_transcript
from pipeline.engine.records import rejects_frame

LAYOUTS = {"messages": convert_messages, "pairs": convert_pairs, "conversations": convert_conversations,
           "transcript": convert_transcript, "threads": convert_threads,
           "preference": convert_preference, "preference_ratings": convert_preference_ratings,
           "preference_edits": convert_preference_edits}


@dataclass
class Converted:
    examples: pl.DataFrame | None
    rejects: pl.DataFrame
    counts: Counter
    facts: dict[str, Counter]  # counts by fact name (conversations: dropped_message_keys)


def convert_table(frame: pl.DataFrame, path: str, inp, index: int, cfg, meta_columns: list[str],
                  executor=None, on_examples=None) -> Converted:
    """`executor` (pipeline.engine.executor) lets the messages layout convert in parallel tasks.
    With `on_examples`, converted examples are handed over part by part as they are built (so they never
    pile up in memory) and `Converted.examples` is None."""
    sink = ConversionSink(path, cfg, [m for m in meta_columns if m in inp.metadata])
    sink.on_examples = on_examples
    if inp.layout == "messages":
        frame = filter_message_rows(frame, inp, index, sink)
    if inp.layout == "messages" and inp.speaker_roles.by != "label":
        frame, inp = messages_with_roles(frame, inp, index, sink)
    if inp.layout == "messages":
        convert_messages(frame, inp, index, sink, executor)
    else:
        LAYOUTS[inp.layout](frame, inp, index, sink)
    if on_examples is not None:
        if sink.examples:
            on_examples(sink.examples_frame())
        examples = None
    else:
        examples = pl.concat([sink.examples_frame(), *sink.example_frames], how="vertical")
    rejects = pl.concat([rejects_frame(sink.rejects), *sink.reject_frames], how="vertical")
    return Converted(examples, rejects, sink.counts, {k: v for k, v in sink.facts.items() if v})
