"""`preference_edits` layout: one row = a prompt, the model's draft and the reply actually sent after a person
edited it (docs/preference-design.md, 4). The sent reply (`columns.final`) is chosen, the draft
(`columns.draft`) rejected; signal "edits".

A draft sent as it is gives no pair (`identical_pair`): it counts as a draft accepted as is, which the
report shows as the acceptance rate (fact `preference_edits`: drafts, accepted_as_is, edited, trivial_edit).
With `min_edit`, a pair whose two texts differ by less than that share of characters is rejected as
`trivial_edit` (cosmetic edits teach little). The share is the normalized edit distance: characters
inserted, deleted or replaced along difflib's alignment of the two texts (the standard library;
chatprep has no edit-distance dependency), over the longer text's length.
"""

from __future__ import annotations

import difflib

import polars as pl

from pipeline.convert.conversations import DROPPED_KEYS
from pipeline.convert.preference_pairs import build_pair, prompt_group
from pipeline.convert.preference_rows import MessageMapper, prompt_messages, row_replies, row_tools
from pipeline.convert.sink import ConversionSink
from pipeline.convert.turns import Turn
from pipeline.engine.records import dumps_example
from pipeline.ingest.readers import ROW

FACT = "preference_edits"


def _text(message: dict) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    return dumps_example({k: v for k, v in message.items() if k != "role"})


def edit_share(a: str, b: str) -> float:
    """Normalized edit distance of two texts: 0 when equal, 1 when nothing is shared."""
    if a == b:
        return 0.0
    ops = difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    changed = sum(max(i2 - i1, j2 - j1) for tag, i1, i2, j1, j2 in ops if tag != "equal")
    return changed / max(len(a), len(b))


def _pieces(rec: dict, inp, mapper: MessageMapper, row: int):
    """(prompt, top-level keys, final, draft) of one row, or its problem."""
    c = inp.columns
    prompt, bad = prompt_messages(rec, c, mapper, row)
    if bad:
        return None, bad
    top, bad = row_tools(rec, c, row)
    if bad:
        return None, bad
    replies, bad = row_replies(rec, mapper, row, (("chosen", c.final), ("rejected", c.draft)))
    return (None, bad) if bad else ((prompt, top, *replies), None)


def convert_preference_edits(frame: pl.DataFrame, inp, index: int, sink: ConversionSink) -> None:
    c = inp.columns
    mapper = MessageMapper(inp, index)
    for rec in frame.iter_rows(named=True):
        row = rec[ROW]
        mapper.dropped.clear()
        pieces, bad = _pieces(rec, inp, mapper, row)
        example = None
        if not bad:
            prompt, top, final, draft = pieces
            where = f"row {row} (columns {c.final!r} and {c.draft!r})"
            example, bad = build_pair([Turn(m) for m in prompt], final, draft, sink.cfg, sink.counts, where, top,
                                      "edits")
        if bad and bad[0] == "identical_pair":
            sink.facts[FACT].update({"drafts": 1, "accepted_as_is": 1})
            bad = (bad[0], (f"row {row}: the sent reply ({c.final!r}) is the draft ({c.draft!r}) as it is: a "
                            f"draft accepted without edits, counted for the acceptance rate; it makes no pair"))
        elif example is not None:
            sink.facts[FACT]["drafts"] += 1
            share = edit_share(_text(example["messages"][-1]), _text(example["preference"]["rejected"]))
            if share < inp.min_edit:
                sink.facts[FACT]["trivial_edit"] += 1
                bad = ("trivial_edit", (f"row {row}: the sent reply differs from the draft in {share:.1%} of its "
                                        f"characters (normalized edit distance {share:.3f}), below min_edit "
                                        f"{inp.min_edit}: a cosmetic edit"))
            else:
                sink.facts[FACT]["edited"] += 1
        if bad:
            sink.counts[bad[0]] += 1
            sink.reject([row], *bad)
            continue
        sink.facts[DROPPED_KEYS].update(mapper.dropped)
        sink.add_example(example, [row], prompt_group(example), meta={m: rec.get(m) for m in inp.metadata})
