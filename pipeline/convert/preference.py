"""`preference` layout: one row = one pair — a prompt, a preferred (chosen) and a non-preferred (rejected) reply.

The prompt is a conversation column (`columns.messages`, OpenAI or ShareGPT keys) or a text column
(`columns.prompt`), with an optional `columns.system`; each reply is a text or a message object
(`columns.chosen` / `columns.rejected`), as in LLaMA-Factory's `dpo_*` files. Or two whole conversations
(`columns.chosen_messages` / `columns.rejected_messages`, LLaMA-Factory v1) whose shared start is the prompt.
Messages map as in the conversations layout (roles, extra_keys); content parts whose text is under
`columns.part_text_key` become OpenAI text parts (one part: its text). The example is built by
preference_pairs.build_pair; the split groups pairs by prompt.
"""

from __future__ import annotations

import polars as pl

from pipeline.convert.conversations import DROPPED_KEYS
from pipeline.convert.preference_pairs import build_pair, prompt_group
from pipeline.convert.preference_rows import MessageMapper, prompt_messages, row_replies, row_tools
from pipeline.convert.sink import ConversionSink
from pipeline.convert.turns import Turn
from pipeline.ingest.readers import ROW


def _split_conversations(rec: dict, c, mapper: MessageMapper, row: int):
    """(prompt, chosen, rejected) from two whole conversations: the prompt is their shared start, and each
    must continue with exactly one assistant reply."""
    sides = {}
    for side, col in (("chosen", c.chosen_messages), ("rejected", c.rejected_messages)):
        sides[side], bad = mapper.messages(rec[col], f"row {row}, column {col!r}")
        if bad:
            return None, bad
    chosen, rejected = sides["chosen"], sides["rejected"]
    shared = 0
    while shared < min(len(chosen), len(rejected)) and chosen[shared] == rejected[shared]:
        shared += 1
    if mapper.inp.extra_keys == "drop":  # the shared prompt's keys count once, as in one conversation
        mapper.dropped.subtract(key for extra in mapper.extras[:shared] for key in extra)
        mapper.dropped = +mapper.dropped
    if shared == len(chosen) == len(rejected):
        return None, ("identical_pair", f"row {row}: the chosen and rejected conversations are identical")
    for side, messages, col in (("chosen", chosen, c.chosen_messages), ("rejected", rejected, c.rejected_messages)):
        rest = len(messages) - shared
        if rest == 0:
            return None, (f"missing_{side}", (f"row {row}, column {col!r}: no reply after the prompt the two "
                                             f"conversations share ({shared} messages)"))
        if rest > 1:
            return None, ("multi_message_side", (f"row {row}, column {col!r}: {rest} messages after the prompt the "
                                                 f"two conversations share ({shared} messages); a side is one "
                                                 f"assistant reply"))
    return (chosen[:shared], chosen[-1], rejected[-1]), None


def _pieces(rec: dict, inp, mapper: MessageMapper, row: int):
    """(prompt messages, chosen, rejected) of one row, or the problem."""
    c = inp.columns
    if c.chosen_messages:
        return _split_conversations(rec, c, mapper, row)
    prompt, bad = prompt_messages(rec, c, mapper, row)
    if bad:
        return None, bad
    replies, bad = row_replies(rec, mapper, row, (("chosen", c.chosen), ("rejected", c.rejected)))
    return (None, bad) if bad else ((prompt, *replies), None)


def convert_preference(frame: pl.DataFrame, inp, index: int, sink: ConversionSink) -> None:
    c = inp.columns
    mapper = MessageMapper(inp, index)
    for rec in frame.iter_rows(named=True):
        row = rec[ROW]
        mapper.dropped.clear()
        pieces, bad = _pieces(rec, inp, mapper, row)
        top, tools_bad = row_tools(rec, c, row)
        bad = bad or tools_bad
        example = None
        if not bad:
            prompt, chosen, rejected = pieces
            example, bad = build_pair([Turn(m) for m in prompt], chosen, rejected, sink.cfg, sink.counts,
                                      f"row {row}", top)
        if bad:
            sink.counts[bad[0]] += 1
            sink.reject([row], *bad)
            continue
        sink.facts[DROPPED_KEYS].update(mapper.dropped)
        sink.add_example(example, [row], prompt_group(example), meta={m: rec.get(m) for m in inp.metadata})
