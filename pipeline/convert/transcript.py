"""`transcript` layout: one cell holds a whole conversation as text with speaker markers.

Three ways to find turns (inputs[].markers, exactly one):
- speakers: literal labels, e.g. [Human, Assistant]: a turn starts where `<label><label_suffix>` begins
  a line (or, with anywhere: true, follows whitespace mid-line: "Customer: hi Agent: hello");
- pattern: a regex whose matches start turns; its named group `speaker` is the label;
- separator: e.g. "__eou__" (DailyDialog): turns are the pieces between separators; speakers alternate
  through speaker_roles.order (user, assistant, user, ...). A trailing separator ends the last turn.
Labels become roles through `roles`, or speaker_roles (by position / column).

Nothing is guessed: a transcript with no marker, or with text before the first marker, is rejected whole
(reason unparsed_transcript, with what was expected), never half-converted; an empty cell is
empty_transcript; a label not in `roles` is unknown_role. A label mapped to `drop` (e.g. `action` notes)
is no turn: the transcript is converted without it, and the drop counted per label.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import polars as pl

from pipeline.convert.sink import ConversionSink
from pipeline.convert.speaker_roles import assign_roles, require_column
from pipeline.convert.turns import RoleMap, Turn
from pipeline.ingest.readers import ROW


@dataclass(frozen=True)
class Segment:
    speaker: str | None  # the label (None for separator transcripts)
    marker: tuple[int, int]  # span of the marker (or of the separator after the turn)
    content: tuple[int, int]  # span of the turn's text


def marker_regex(fmt) -> re.Pattern:
    return _regex(fmt.pattern, tuple(fmt.speakers or ()), fmt.label_suffix, fmt.anywhere)


@lru_cache(maxsize=32)
def _regex(pattern: str | None, speakers: tuple[str, ...], suffix: str, anywhere: bool) -> re.Pattern:
    if pattern:
        return re.compile(pattern)
    labels = "|".join(re.escape(s.strip()) for s in sorted(speakers, key=len, reverse=True))
    lead = r"(?:^|(?<=\s))" if anywhere else r"(?m:^)[ \t]*"
    return re.compile(f"{lead}(?P<speaker>{labels}){re.escape(suffix)}")


def _expected(fmt) -> str:
    if fmt.pattern:
        return f"a match of markers.pattern {fmt.pattern!r}"
    where = "after whitespace" if fmt.anywhere else "at the start of a line"
    return "one of " + ", ".join(repr(s.strip() + fmt.label_suffix) for s in fmt.speakers) + " " + where


def parse_transcript(text: str, fmt) -> tuple[list[Segment] | None, str | None]:
    """Segments covering the text after any leading whitespace, or (None, why it cannot be parsed)."""
    if fmt.separator:
        if fmt.separator not in text:
            return None, f"no {fmt.separator!r} separator found"
        segments, start = [], 0
        while True:
            at = text.find(fmt.separator, start)
            if at < 0:
                if text[start:].strip():
                    segments.append(Segment(None, (len(text), len(text)), (start, len(text))))
                return segments, None
            segments.append(Segment(None, (at, at + len(fmt.separator)), (start, at)))
            start = at + len(fmt.separator)
    matches = [m for m in marker_regex(fmt).finditer(text) if m.end() > m.start()]
    if not matches:
        return None, f"no speaker marker found (expected {_expected(fmt)})"
    lead = text[: matches[0].start()]
    if lead.strip():
        shown = lead.strip()
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        return None, f"{len(lead.strip())} characters before the first speaker marker ({shown!r})"
    segments = []
    for m, nxt in zip(matches, matches[1:] + [None]):
        end = nxt.start() if nxt else len(text)
        segments.append(Segment(m.group("speaker").strip(), (m.start(), m.end()), (m.end(), end)))
    return segments, None


def convert_transcript(frame: pl.DataFrame, inp, index: int, sink: ConversionSink) -> None:
    c, fmt, opts = inp.columns, inp.markers, inp.speaker_roles
    for key, col in (("text", c.text), ("id", c.id), ("system", c.system), ("column", opts.column)):
        if col:
            require_column(frame, col, f"inputs[{index}].{'speaker_roles' if key == 'column' else 'columns'}.{key}",
                           sink.path)
    roles = RoleMap(inp.roles, index)
    for rec in frame.iter_rows(named=True):
        row = rec[ROW]
        where = f"row {row}, column {c.text!r}"
        text = rec[c.text]
        if text is None or not str(text).strip():
            sink.counts["empty_transcript"] += 1
            sink.reject([row], "empty_transcript", f"{where}: the transcript is empty")
            continue
        text = str(text)
        segments, why = parse_transcript(text, fmt)
        if why:
            sink.counts["unparsed_transcript"] += 1
            sink.reject([row], "unparsed_transcript", f"{where}: {why}")
            continue
        if fmt.separator:
            labels = [opts.order[i % len(opts.order)] for i in range(len(segments))]
            got, reason, detail = labels, None, None
        else:
            labels = [s.speaker for s in segments]
            got, reason, detail = assign_roles(labels, roles, opts, rec.get(opts.column) if opts.column else None,
                                               lambda i, where=where: f"{where}, turn {i + 1}")
        if got is None:
            sink.counts[reason] += 1
            sink.reject([row], reason, detail)
            continue
        turns = [Turn({"role": role, "content": text[s.content[0]:s.content[1]]}, label=roles.name_of(s.speaker))
                 for role, s in zip(got, segments)]
        system = rec.get(c.system) if c.system else None
        if system and str(system).strip():
            turns.insert(0, Turn({"role": "system", "content": str(system)}))
        key = f"id={rec[c.id]}" if c.id and rec[c.id] is not None else f"row{row}"
        sink.add(turns, [row], key, f"row {row}", meta={m: rec.get(m) for m in inp.metadata})
