"""pii (batch): find personal data and secrets in message text, then redact, drop or flag per type.

Only text content is scanned and changed: string `content` and the `text` of content parts, in the
messages whose role is in `roles`. Tool-call arguments, names and tool definitions are left alone.
Detectors live in pipeline/pii_patterns.py. Per example, each found type takes its action
(`actions[type]`, else `action`): any `drop` rejects the example (reason `pii_<type>`, the
highest-priority dropping type), `flag` adds a 'pii:<type>' flag, `redact` swaps the value for its
placeholder. Redactions are applied even to dropped examples, so rejects.jsonl only keeps the raw values
of the types whose action is drop or flag. Facts and details never contain a raw value: every snippet is
cut from the text with all its detections replaced by placeholders.

Facts:
  scanned_messages     messages whose text was scanned
  detections           {type: values found}
  examples_with_pii    {type: examples containing that type}
  by_role              {role: values found in messages of that role}
  outcome              {redacted, dropped, flagged}: examples per outcome (redacted = text changed)
  actions              {type: action in force}
  samples              {type: [{example_id, where, snippet}]}, redacted context, samples_per_type each
"""

from __future__ import annotations

import json
from collections import Counter

import polars as pl

from pipeline.pii_patterns import PII_TYPES, PLACEHOLDERS, find_pii, redact
from pipeline.records import dumps_example
from pipeline.stage_api import StageContext, StageOutput, with_drops

SCOPE = "batch"
CONTEXT = 40  # characters either side of a detection in a snippet


def _snippet(redacted: str, start: int, end: int) -> str:
    left, right = max(0, start - CONTEXT), min(len(redacted), end + CONTEXT)
    text = " ".join(redacted[left:right].split())
    return ("…" if left else "") + text + ("…" if right < len(redacted) else "")


class _Scan:
    """One example's detections: (message index, role, type, redacted snippet) and the rewritten text."""

    def __init__(self):
        self.found: list[tuple[int, str, str, str]] = []

    def text(self, text: str, index: int, role: str, types, redact_types: set[str]) -> str:
        matches = find_pii(text, types)
        if not matches:
            return text
        shown = redact(text, matches)
        shift = 0
        for m in matches:  # positions of each placeholder inside the fully redacted text
            start = m.start + shift
            end = start + len(PLACEHOLDERS[m.type])
            self.found.append((index, role, m.type, _snippet(shown, start, end)))
            shift += len(PLACEHOLDERS[m.type]) - (m.end - m.start)
        return redact(text, [m for m in matches if m.type in redact_types])


def _scan_example(obj: dict, params, redact_types: set[str]) -> tuple[_Scan, bool, int]:
    scan, changed, scanned = _Scan(), False, 0
    for i, message in enumerate(obj.get("messages") or []):
        role = message.get("role")
        if role not in params.roles:
            continue
        content = message.get("content")
        if isinstance(content, str):
            scanned += 1
            new = scan.text(content, i, role, params.types, redact_types)
            if new != content:
                message["content"], changed = new, True
        elif isinstance(content, list):
            scanned += 1
            for part in content:
                if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
                    new = scan.text(part["text"], i, role, params.types, redact_types)
                    if new != part["text"]:
                        part["text"], changed = new, True
    return scan, changed, scanned


def run(frame: pl.DataFrame, params, ctx: StageContext) -> StageOutput:
    action_of = {t: params.actions.get(t, params.action) for t in PII_TYPES if t in params.types}
    redact_types = {t for t, a in action_of.items() if a == "redact"}
    detections: Counter = Counter()
    with_type: Counter = Counter()
    by_role: Counter = Counter()
    outcome: Counter = Counter()
    samples: dict[str, list[dict]] = {}
    examples, flags_out, reasons, details = [], [], [], []
    scanned_messages = 0
    for ex_id, example, flags in frame.select("example_id", "example", "flags").iter_rows():
        obj = json.loads(example)
        scan, changed, scanned = _scan_example(obj, params, redact_types)
        scanned_messages += scanned
        examples.append(dumps_example(obj) if changed else example)
        flags = list(flags or [])
        reason = detail = None
        if scan.found:
            types_here = {t for _, _, t, _ in scan.found}
            detections.update(t for _, _, t, _ in scan.found)
            with_type.update(types_here)
            by_role.update(r for _, r, _, _ in scan.found)
            for i, role, t, snip in scan.found:
                bucket = samples.setdefault(t, [])
                if len(bucket) < params.samples_per_type:
                    bucket.append({"example_id": ex_id, "where": f"message {i + 1} ({role})", "snippet": snip})
            dropping = [t for t in PII_TYPES if t in types_here and action_of[t] == "drop"]
            if dropping:
                reason = f"pii_{dropping[0]}"
                listed = [f"message {i + 1} ({role}): {t} in {snip!r}" for i, role, t, snip in scan.found
                          if action_of[t] == "drop"]
                detail = "; ".join(listed[:3]) + (f"; and {len(listed) - 3} more" if len(listed) > 3 else "")
                outcome["dropped"] += 1
            flagged = [f"pii:{t}" for t in PII_TYPES if t in types_here and action_of[t] == "flag"]
            if flagged and not dropping:
                flags += [f for f in flagged if f not in flags]
                outcome["flagged"] += 1
        if changed:
            outcome["redacted"] += 1
        flags_out.append(flags)
        reasons.append(reason)
        details.append(detail)
    out = frame.with_columns(pl.Series("example", examples, pl.Utf8), pl.Series("flags", flags_out, pl.List(pl.Utf8)))
    facts = {
        "scanned_messages": scanned_messages,
        "detections": {t: detections[t] for t in PII_TYPES if detections[t]},
        "examples_with_pii": {t: with_type[t] for t in PII_TYPES if with_type[t]},
        "by_role": dict(sorted(by_role.items())),
        "outcome": {k: outcome[k] for k in ("redacted", "dropped", "flagged")},
        "actions": action_of,
        "samples": samples,
    }
    return StageOutput(with_drops(out, reasons, details), facts)
