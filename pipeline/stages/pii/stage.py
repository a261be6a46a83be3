"""pii (batch): find personal data and secrets in message text, then redact, drop or flag per type.

Only text content is scanned and changed: string `content` and the `text` of content parts (not
refusals: chat.texts.text_slots with refusals=False), in the messages whose role is in `roles`.
Tool-call arguments, names and tool definitions are left alone.
Detectors live in patterns.py beside this module. Per example, each found type takes its action
(`actions[type]`, else `action`): any `drop` rejects the example (reason `pii_<type>`, the
highest-priority dropping type), `flag` adds a 'pii:<type>' flag, `redact` swaps the value for its
placeholder. Redactions are applied even to dropped examples, so rejects.jsonl only keeps the raw values
of the types whose action is drop or flag. Facts and details never contain a raw value: every snippet is
cut from the text with all its detections replaced by placeholders.

Facts:
  scanned_messages     messages whose text was scanned
  detections           {type: values found}
  redacted             {type: values replaced by a placeholder} (types whose action is redact)
  near_misses          {"<type>: <reason>": candidates a validator turned down}, e.g. "phone: range"
                       (reasons: patterns.PiiMiss; those overlapping a detection are not counted)
  near_miss_samples    {type: [{example_id, where, reason, snippet}]}: the value between « », every
                       detection around it replaced; samples_per_type each
  examples_with_pii    {type: examples containing that type}
  by_role              {role: values found in messages of that role}
  outcome              {redacted, dropped, flagged}: examples per outcome (redacted = text changed)
  actions              {type: action in force}
  samples              {type: [{example_id, where, snippet}]}, redacted context, samples_per_type each
  samples_per_type     the cap on each samples list (chunks merge keeping the first that many)
  by_side              preference pairs only: {prompt, chosen, rejected}: values found on each side of the
                       pairs (the rejected reply is scanned, redacted, dropped or flagged like any message;
                       its samples' `where` says 'rejected reply')

Speed: most texts hold nothing any detector could match. Each type's gate (patterns.GATES, a
necessary condition of its detector) runs in polars over the whole `example` column of raw JSON first; an
example no gate matches is only parsed to count its scanned messages. The texts of the other examples
are gated again one by one, and a text runs only the detectors whose gate it matches. The result equals
running every detector on every text.
"""

from __future__ import annotations

import copy
from collections import Counter

import polars as pl

from pipeline.chat import preference
from pipeline.chat.texts import text_slots
from pipeline.engine.facts import FirstNPerKey, Same, Sum, Tally
from pipeline.engine.records import dumps_example, loads_example
from pipeline.engine.stage import StageContext, StageOutput, with_drops
from pipeline.stages.pii.patterns import (
    GATES,
    PII_TYPES,
    PLACEHOLDERS,
    RAW_JSON_ESCAPES,
    PiiMatch,
    PiiMiss,
    find_pii,
    redact,
)

RUNS = "per_part"
PREFERENCE = True  # pairs: the rejected reply is scanned and redacted too, findings counted per side (by_side)
SIDES = ("prompt", "chosen", "rejected")
CONTEXT = 40  # characters either side of a detection in a snippet
BLOCK = 4096  # examples parsed at a time: bounds the parsed objects held while their texts are gated


def _shifted(pos: int, matches: list[PiiMatch]) -> int:
    """Where position `pos` (outside every match) of a text lands once all `matches` are redacted."""
    return pos + sum(len(PLACEHOLDERS[m.type]) - (m.end - m.start) for m in matches if m.end <= pos)


def _snippet(redacted: str, start: int, end: int) -> str:
    left, right = max(0, start - CONTEXT), min(len(redacted), end + CONTEXT)
    text = " ".join(redacted[left:right].split())
    return ("…" if left else "") + text + ("…" if right < len(redacted) else "")


def gated_types(texts: pl.Series, types: tuple[str, ...], raw_json: bool) -> list[tuple[str, ...]]:
    """Per text, the types whose gate matches: the only detectors that can find anything in it.

    raw_json: the texts are examples' JSON, so one with a \\u or \\/ escape gets every type."""
    result: list[tuple[str, ...]] = [()] * len(texts)
    if not types or not len(texts):
        return result
    escapes = [RAW_JSON_ESCAPES] if raw_json else []
    hit = texts.str.contains("|".join([f"(?:{GATES[t]})" for t in types] + escapes))
    rows = hit.arg_true()
    if not len(rows):
        return result
    some = texts.gather(rows)
    columns = [some.str.contains(GATES[t]).to_list() for t in types]
    escaped = some.str.contains(RAW_JSON_ESCAPES).to_list() if raw_json else [False] * len(some)
    for k, row in enumerate(rows.to_list()):
        result[row] = types if escaped[k] else tuple(t for t, col in zip(types, columns) if col[k])
    return result


def _role_in(role, roles: frozenset) -> bool:
    return isinstance(role, str) and role in roles  # a list or dict role is never scanned (nor hashable)


def _text_series(texts: list[str]) -> pl.Series:
    try:
        return pl.Series(texts, dtype=pl.Utf8)
    except UnicodeEncodeError:  # a lone surrogate (from a \ud800 escape; normalize replaces them): as '?',
        # which no gate matches either, so the gates still match wherever they did
        return pl.Series([t.encode("utf-8", "replace").decode("utf-8") for t in texts], dtype=pl.Utf8)


def _scanned_messages(obj, roles: frozenset, rejected: dict | None = None):
    """(where, side, message) of each message whose text is scanned: role in roles, content a string or a list
    of parts (a list without text parts counts too). A preference pair's rejected reply comes last (`rejected`
    when given: the copy the caller redacts and writes back through with_rejected); `side` is prompt / chosen /
    rejected for a pair's messages, None for an ordinary example's."""
    messages = obj.get("messages") if isinstance(obj, dict) else None
    pair = isinstance(obj, dict) and preference.is_preference(obj)
    listed = [(f"message {i + 1}", ("chosen" if i == len(messages) - 1 else "prompt") if pair else None, message)
              for i, message in enumerate(messages or ())]
    if pair:
        listed.append(("rejected reply", "rejected", preference.rejected(obj) if rejected is None else rejected))
    for where, side, message in listed:
        if isinstance(message, dict) and _role_in(message.get("role"), roles) \
                and isinstance(message.get("content"), (str, list)):
            yield where, side, message


def _scanned_count(obj, roles: frozenset) -> int:
    """len(list(_scanned_messages(obj, roles))), without labelling each message (every example is counted,
    few are scanned)."""
    if not isinstance(obj, dict) or preference.is_preference(obj):
        return sum(1 for _ in _scanned_messages(obj, roles))
    n = 0
    for message in obj.get("messages") or ():
        if isinstance(message, dict):
            role, content = message.get("role"), message.get("content")
            n += isinstance(role, str) and role in roles and isinstance(content, (str, list))
    return n


class _Scan:
    """One example's detections: (where, role, side, type, redacted snippet) and the rewritten text; its
    near-misses: (where, role, miss, redacted text, start, end); their snippets are cut only for the samples
    kept. `where` is 'message 3' or 'rejected reply'; `side` a pair's prompt / chosen / rejected, else None."""

    def __init__(self, phone_regions: tuple[str, ...]):
        self.phone_regions = phone_regions
        self.found: list[tuple[str, str, str | None, str, str]] = []
        self.missed: list[tuple[str, str, PiiMiss, str, int, int]] = []  # + the redacted text, the span in it

    def text(self, text: str, where: str, role: str, side: str | None, types, redact_types: set[str]) -> str:
        misses: list[PiiMiss] = []
        matches = find_pii(text, types, self.phone_regions, misses)
        if not matches and not misses:
            return text
        shown = redact(text, matches)
        for x in misses:
            self.missed.append((where, role, x, shown, _shifted(x.start, matches), _shifted(x.end, matches)))
        if not matches:
            return text
        shift = 0
        for m in matches:  # positions of each placeholder inside the fully redacted text
            start = m.start + shift
            end = start + len(PLACEHOLDERS[m.type])
            self.found.append((where, role, side, m.type, _snippet(shown, start, end)))
            shift += len(PLACEHOLDERS[m.type]) - (m.end - m.start)
        return redact(text, [m for m in matches if m.type in redact_types])


class _Tally:
    """The facts, summed over examples in input order."""

    def __init__(self, action_of: dict[str, str], samples_per_type: int):
        self.action_of, self.cap = action_of, samples_per_type
        self.scanned_messages = 0
        self.detections: Counter = Counter()
        self.redacted: Counter = Counter()
        self.near_misses: Counter = Counter()
        self.near_miss_samples: dict[str, list[dict]] = {}
        self.with_type: Counter = Counter()
        self.by_role: Counter = Counter()
        self.by_side: Counter | None = None  # a Counter once a preference pair is seen: values per side
        self.outcome: Counter = Counter()
        self.samples: dict[str, list[dict]] = {}

    def example(self, ex_id: str, scan: _Scan) -> tuple[str | None, str | None, list[str]]:
        """Count one example's detections; its (drop reason, drop detail, flags to add)."""
        types_here = {t for *_, t, _ in scan.found}
        self.detections.update(t for *_, t, _ in scan.found)
        self.redacted.update(t for *_, t, _ in scan.found if self.action_of[t] == "redact")
        for where, role, miss, shown, start, end in scan.missed:
            self.near_misses[f"{miss.type}: {miss.reason}"] += 1
            bucket = self.near_miss_samples.setdefault(miss.type, [])
            if len(bucket) < self.cap:
                marked = f"{shown[:start]}«{shown[start:end]}»{shown[end:]}"
                bucket.append({"example_id": ex_id, "where": f"{where} ({role})", "reason": miss.reason,
                               "snippet": _snippet(marked, start, end + 2)})
        self.with_type.update(types_here)
        self.by_role.update(r for _, r, *_ in scan.found)
        if self.by_side is not None:
            self.by_side.update(side for _, _, side, _, _ in scan.found if side is not None)
        for where, role, _, t, snip in scan.found:
            bucket = self.samples.setdefault(t, [])
            if len(bucket) < self.cap:
                bucket.append({"example_id": ex_id, "where": f"{where} ({role})", "snippet": snip})
        dropping = [t for t in PII_TYPES if t in types_here and self.action_of[t] == "drop"]
        if dropping:
            listed = [f"{where} ({role}): {t} in {snip!r}" for where, role, _, t, snip in scan.found
                      if self.action_of[t] == "drop"]
            detail = "; ".join(listed[:3]) + (f"; and {len(listed) - 3} more" if len(listed) > 3 else "")
            self.outcome["dropped"] += 1
            return f"pii_{dropping[0]}", detail, []
        flagged = [f"pii:{t}" for t in PII_TYPES if t in types_here and self.action_of[t] == "flag"]
        if flagged:
            self.outcome["flagged"] += 1
        return None, None, flagged

    def facts(self) -> dict:
        """Typed facts (pipeline/engine/facts.py): chunks merge exactly, in input order."""
        sides = {} if self.by_side is None else {"by_side": Tally(self.by_side, SIDES)}
        return {
            "scanned_messages": Sum(self.scanned_messages),
            "detections": Tally(self.detections, PII_TYPES),
            "redacted": Tally(self.redacted, PII_TYPES),
            "near_misses": Tally(self.near_misses, "key"),
            "near_miss_samples": FirstNPerKey(self.cap, self.near_miss_samples),
            "examples_with_pii": Tally(self.with_type, PII_TYPES),
            "by_role": Tally(self.by_role, "key"),
            "outcome": {k: Sum(self.outcome[k]) for k in ("redacted", "dropped", "flagged")},
            "actions": Same(self.action_of),
            "samples": FirstNPerKey(self.cap, self.samples),
            "samples_per_type": Same(self.cap),
            **sides,
        }


def _flags_column(flags: pl.Series, added: dict[int, list[str]]) -> pl.Series:
    """The input flags (null as []) with each row's added 'pii:<type>' flags, none twice."""
    if not added:
        return pl.select(flags.fill_null(pl.lit([], pl.List(pl.Utf8))).cast(pl.List(pl.Utf8))).to_series()
    rows = flags.to_list()
    for row, new in added.items():
        have = list(rows[row] or [])
        rows[row] = have + [f for f in new if f not in have]
    return pl.Series("flags", [r if r is not None else [] for r in rows], pl.List(pl.Utf8))


def run(frame: pl.DataFrame, params, ctx: StageContext) -> StageOutput:
    types = tuple(t for t in PII_TYPES if t in params.types)
    action_of = {t: params.actions.get(t, params.action) for t in types}
    redact_types = {t for t, a in action_of.items() if a == "redact"}
    roles = frozenset(params.roles)
    phone_regions = tuple(params.phone_regions)
    tally = _Tally(action_of, params.samples_per_type)
    examples, ids = frame["example"], frame["example_id"]
    candidates = gated_types(examples, types, raw_json=True)
    n = frame.height
    reasons: list[str | None] = [None] * n
    details: list[str | None] = [None] * n
    rewritten: dict[int, str] = {}
    flags_added: dict[int, list[str]] = {}
    for first in range(0, n, BLOCK):
        # of the examples a gate matched: (row, parsed example, a copy of its rejected reply or None,
        # [(where, role, side, text slot)])
        pending = []
        for row, raw in enumerate(examples.slice(first, BLOCK).to_list(), first):
            obj = loads_example(raw)
            pair = isinstance(obj, dict) and preference.is_preference(obj)
            if pair and tally.by_side is None:
                tally.by_side = Counter()
            if candidates[row]:
                rejected = copy.deepcopy(preference.rejected(obj)) if pair else None
                scanned = list(_scanned_messages(obj, roles, rejected))
                pending.append((row, obj, rejected, [(where, message["role"], side, slot) for where, side, message
                                                     in scanned for slot in text_slots(message, refusals=False)]))
                tally.scanned_messages += len(scanned)
            else:
                tally.scanned_messages += _scanned_count(obj, roles)
        texts = _text_series([slot.get() for *_, slots in pending for *_, slot in slots])
        gated = iter(gated_types(texts, types, raw_json=False))
        for row, obj, rejected, slots in pending:
            scan, changed = _Scan(phone_regions), False
            for (where, role, side, slot), types_here in zip(slots, gated):
                if types_here:
                    old = slot.get()
                    new = scan.text(old, where, role, side, types_here, redact_types)
                    if new != old:
                        slot.set(new)
                        changed = True
            if scan.found or scan.missed:
                reasons[row], details[row], flags = tally.example(ids[row], scan)
                if flags:
                    flags_added[row] = flags
            if changed:
                tally.outcome["redacted"] += 1
                if rejected is not None:  # its copy was redacted in place
                    obj = preference.with_rejected(obj, rejected)
                rewritten[row] = dumps_example(obj)
    out = frame.with_columns(_flags_column(frame["flags"], flags_added))
    if rewritten:
        out = out.with_columns(examples.clone().scatter(list(rewritten), list(rewritten.values())))
    return StageOutput(with_drops(out, reasons, details), tally.facts())
