"""`preference_ratings` layout: several rows per prompt, each one reply with a score (or a thumb); pairs are
made from the score differences (docs/preference-design.md, 4).

Rows are grouped by `columns.prompt_id`, or, without it, by the prompt itself (messages or text, system,
tools; surrounding whitespace ignored). Groups are per file. With a prompt id every row of a group must give
the group's prompt (its first row's): a row that differs is rejected as `inconsistent_prompt`, naming both
rows. The score is a label of `scores` (matched case-insensitively after trimming) or a number; anything else
rejects the row as `invalid_score`.

`pairs: best_vs_worst` pairs the best reply of a prompt with its worst (on equal scores the first in row
order); `pairs: all` pairs every better reply with every worse one, the largest score differences first,
ties by row order, at most `max_pairs_per_prompt`. A pair needs a score difference above 0 and at least
`min_margin`; two replies of the same text make no pair. The pair's source_rows are [chosen row, rejected
row], so a row in several pairs is listed in each; its example id is (file, chosen row, rejected row).
Every row ends in at least one pair or in exactly one reject: `single_reply` (the only reply to its prompt),
`unpaired_reply` (the reason in words: ties, margin, best_vs_worst, the cap, same text), or a row or prompt
problem. The scores go into `preference.chosen_score` / `rejected_score`, the chosen row's metadata onto
the example.
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import polars as pl

from pipeline.convert.conversations import DROPPED_KEYS
from pipeline.convert.preference_pairs import Problem, build_pair, prompt_group, prompt_problem, reply_problem
from pipeline.convert.preference_rows import MessageMapper, prompt_messages, row_tools
from pipeline.convert.sink import ConversionSink
from pipeline.convert.turns import Turn
from pipeline.engine.records import dumps_example
from pipeline.ingest.readers import ROW

FACT = "preference_ratings"  # prompts paired, pairs made, replies in a pair


@dataclass(eq=False)
class _Reply:
    row: int
    message: dict
    score: int | float
    meta: dict
    dropped: Counter  # message keys dropped from this row (counted when the row is in a pair)


@dataclass
class _Group:
    label: str  # how details name the group: "prompt_id 'c1'" or "the prompt of row 4"
    prompt: list[dict]
    top: dict  # tools of the prompt
    key: str  # the prompt as compared between rows
    first_row: int
    replies: list[_Reply] = field(default_factory=list)


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


def _score(cell, inp, index: int, row: int) -> tuple[int | float | None, Problem | None]:
    """The score of a cell: a label of `scores`, else a finite number."""
    col = inp.columns.score
    text = "" if cell is None else str(cell).strip()
    labels = {k.strip().casefold(): v for k, v in (inp.scores or {}).items()}
    if text.casefold() in labels:
        return _number(labels[text.casefold()]), None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if math.isfinite(value):
        return _number(value), None
    known = f" nor a label of inputs[{index}].scores ({', '.join(map(repr, inp.scores))})" if inp.scores else ""
    fix = (f"add it to inputs[{index}].scores with its number" if inp.scores else
           f"map the labels to numbers in inputs[{index}].scores, e.g. {{'👍': 1, '👎': 0}}")
    shown = "empty" if not text else f"{cell!r} is not a number{known}"
    return None, ("invalid_score", f"row {row}, column {col!r}: {shown}; fix: {fix}, or correct the cell")


def _prompt_key(prompt: list[dict], top: dict) -> str:
    """The prompt as rows are compared: text contents without surrounding whitespace, and the tools."""
    messages = [{**m, "content": m["content"].strip()} if isinstance(m.get("content"), str) else m for m in prompt]
    return dumps_example({"messages": messages, "tools": top.get("tools")})


def _read_row(rec: dict, inp, index: int, mapper: MessageMapper, row: int):
    """(group id or None, prompt, tools, reply message, score) of a row, or its problem."""
    c = inp.columns
    group_id = None
    if c.prompt_id:
        cell = rec[c.prompt_id]
        group_id = None if cell is None else str(cell).strip()
        if not group_id:
            return None, ("missing_prompt_id", (f"row {row}, column {c.prompt_id!r}: empty; every reply row names "
                                               f"its prompt there (or remove columns.prompt_id to group the "
                                               f"replies by their prompt)"))
    prompt, bad = prompt_messages(rec, c, mapper, row)
    if bad:
        return None, bad
    top, bad = row_tools(rec, c, row)
    if bad:
        return None, bad
    where = f"row {row}, column {c.reply!r}"
    reply, bad = mapper.reply(rec[c.reply], "reply", where)
    if bad or (bad := reply_problem(reply, "reply", where)):
        return None, bad
    score, bad = _score(rec[c.score], inp, index, row)
    if bad:
        return None, bad
    return (group_id, prompt, top, reply, score), None


class _Pairing:
    """The pairs a group allows, in the order they are tried. `pairs: all` makes them lazily, the largest
    score difference first (score values walked from the two ends, then the rows of each value), so a
    prompt with thousands of replies and a cap builds only the pairs it tries."""

    def __init__(self, replies: list[_Reply], inp):
        self.inp = inp
        self.by_score: dict[float, list[_Reply]] = {}  # each list in row order, as the rows were read
        for r in replies:
            self.by_score.setdefault(r.score, []).append(r)
        self.values = sorted(self.by_score)
        self.scores = sorted(r.score for r in replies)
        self.best = max(replies, key=lambda r: (r.score, -r.row))  # on equal scores: the first row
        self.worst = min(replies, key=lambda r: (r.score, r.row))

    def allowed(self, better: float, worse: float) -> bool:
        return better - worse > 0 and better - worse >= self.inp.min_margin

    def partners(self, r: _Reply) -> int:
        """How many pairs `pairs: all` allows with reply `r` (as better or as worse)."""
        m = self.inp.min_margin
        if m > 0:
            return bisect_right(self.scores, r.score - m) + len(self.scores) - bisect_left(self.scores, r.score + m)
        return bisect_left(self.scores, r.score) + len(self.scores) - bisect_right(self.scores, r.score)

    def __iter__(self) -> Iterator[tuple[_Reply, _Reply]]:
        """(better, worse): the largest score difference first, equal ones by chosen row, then rejected row."""
        if self.inp.pairs == "best_vs_worst":
            if self.allowed(self.best.score, self.worst.score):
                yield self.best, self.worst
            return
        v = self.values
        margin = lambda i, j: round(v[i] - v[j], 9)  # equal differences of float scores compare equal
        heap, seen = [(-margin(len(v) - 1, 0), len(v) - 1, 0)], {(len(v) - 1, 0)}
        while heap and self.allowed(v[heap[0][1]], v[heap[0][2]]):
            top, batch = heap[0][0], []
            while heap and heap[0][0] == top:  # every pair of values with this difference
                _, i, j = heapq.heappop(heap)
                batch.append(_in_row_order(self.by_score[v[i]], self.by_score[v[j]]))
                for ni, nj in ((i - 1, j), (i, j + 1)):  # the next smaller differences
                    if ni > nj and (ni, nj) not in seen:
                        seen.add((ni, nj))
                        heapq.heappush(heap, (-margin(ni, nj), ni, nj))
            for _, _, better, worse in heapq.merge(*batch):
                yield better, worse


def _in_row_order(better: list[_Reply], worse: list[_Reply]) -> Iterator[tuple]:
    return ((b.row, w.row, b, w) for b in better for w in worse)


def _unpaired_detail(r: _Reply, group: _Group, pairing: _Pairing, tried: Counter, same_text: dict) -> str:
    """Why reply `r` is in no pair, in words. `tried`: pairs tried per reply (built, or refused for the same
    text: `same_text` lists those partners' rows) before the cap stopped."""
    inp, best, worst = pairing.inp, pairing.best, pairing.worst
    head = f"row {r.row} (score {r.score}) of {group.label}"
    if len(pairing.values) == 1:
        return f"{head} ties with every other reply of its prompt: no better or worse reply to pair it with"
    if inp.pairs == "best_vs_worst":
        if not pairing.allowed(best.score, worst.score):
            return (f"{head}: the best reply (row {best.row}) and the worst (row {worst.row}) differ by "
                    f"{_number(best.score - worst.score)}, less than min_margin {inp.min_margin}: no pair is made")
        if r is best or r is worst:
            other = worst if r is best else best
            return f"{head}: its reply is the same text as row {other.row}'s, the other side of the best/worst pair"
        return (f"{head} is neither the best nor the worst reply: pairs: best_vs_worst makes one pair per prompt, "
                f"row {best.row} (score {best.score}) over row {worst.row} (score {worst.score}); set pairs: all "
                f"to pair it too")
    partners = pairing.partners(r)
    if not partners:
        return (f"{head}: its score differs from every other reply's by less than min_margin {inp.min_margin} "
                f"(or not at all), so no pair is made with it")
    if tried[r.row] == partners:
        rows = ", ".join(map(str, same_text[r.row]))
        return f"{head}: its reply is the same text as row {rows}, the replies it could pair with"
    return (f"{head}: its pairs fell outside max_pairs_per_prompt {inp.max_pairs_per_prompt} (the largest score "
            f"differences are kept first, ties by row order)")


def _pair_group(group: _Group, inp, sink: ConversionSink) -> None:
    rows = [r.row for r in group.replies]
    if len(rows) == 1:
        sink.counts["single_reply"] += 1
        sink.reject(rows, "single_reply", (f"row {rows[0]} is the only reply to {group.label}; a pair needs two "
                                           f"rated replies to the same prompt"))
        return
    turns = [Turn(m) for m in group.prompt]
    bad = prompt_problem(turns, sink.cfg, f"{group.label} (rows {', '.join(map(str, rows))})")
    if bad:
        sink.counts[bad[0]] += 1
        sink.reject(rows, *bad)
        return
    pairing = _Pairing(group.replies, inp)
    tried, same_text, paired = Counter(), {}, set()
    made = 0
    for better, worse in pairing:
        if made == inp.max_pairs_per_prompt:
            break
        tried.update((better.row, worse.row))
        example, bad = build_pair(turns, better.message, worse.message, sink.cfg, sink.counts,
                                  f"{group.label}, rows {better.row} and {worse.row}", group.top, "ratings",
                                  (better.score, worse.score))
        if bad:  # the prompt is fine and the replies were checked: only their texts can be the same
            same_text.setdefault(better.row, []).append(worse.row)
            same_text.setdefault(worse.row, []).append(better.row)
            continue
        sink.add_example(example, [better.row, worse.row], prompt_group(example), meta=better.meta, part=worse.row)
        paired.update((better.row, worse.row))
        made += 1
    for r in group.replies:
        if r.row in paired:
            sink.facts[DROPPED_KEYS].update(r.dropped)
            continue
        sink.counts["unpaired_reply"] += 1
        sink.reject([r.row], "unpaired_reply", _unpaired_detail(r, group, pairing, tried, same_text))
    if made:
        sink.facts[FACT].update({"prompts": 1, "pairs": made, "replies": len(paired)})


def convert_preference_ratings(frame: pl.DataFrame, inp, index: int, sink: ConversionSink) -> None:
    c = inp.columns
    mapper = MessageMapper(inp, index)
    groups: dict[tuple, _Group] = {}
    for rec in frame.iter_rows(named=True):
        row = rec[ROW]
        mapper.dropped.clear()
        read, bad = _read_row(rec, inp, index, mapper, row)
        if bad:
            sink.counts[bad[0]] += 1
            sink.reject([row], *bad)
            continue
        group_id, prompt, top, reply, score = read
        key = _prompt_key(prompt, top)
        label = f"prompt_id {group_id!r}" if c.prompt_id else f"the prompt of row {row}"
        group = groups.setdefault(("id", group_id) if c.prompt_id else ("prompt", key),
                                  _Group(label, prompt, top, key, row))
        if key != group.key:
            sink.counts["inconsistent_prompt"] += 1
            sink.reject([row], "inconsistent_prompt", (
                f"row {row}: its prompt differs from row {group.first_row}'s, and both have {group.label}; one "
                f"prompt id names one prompt (fix the id or the prompt, or remove columns.prompt_id to group "
                f"the replies by their prompt)"))
            continue
        group.replies.append(_Reply(row, reply, score, {m: rec.get(m) for m in inp.metadata}, Counter(mapper.dropped)))
    for group in groups.values():
        _pair_group(group, inp, sink)
