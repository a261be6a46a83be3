"""normalize (batch): clean the text of every message, counting each kind of change; drops nothing.

Touches only message text (chat.texts.text_slots with refusals): string `content`, the `text` of text
parts, and refusals (parts and the `refusal` key), in every message and, for a preference pair, in its
rejected reply too (same rules, counted in the same facts; its samples' field says 'rejected reply').
Never roles, names, ids, tool-call arguments, tool definitions or image URLs. Steps, in order, each switchable in params:
  surrogates     lone UTF-16 surrogates (unencodable, OpenAI would reject the file) -> U+FFFD
  mojibake       ftfy.fix_encoding ("donâ€™t" -> "don’t"), only on text with a character it could flag
  line_endings   CRLF, CR, NEL, VT, FF, U+2028, U+2029 -> LF
  control_chars  remove C0/C1 control characters and DEL, keeping \n and \t
  nfc            Unicode NFC (composed accents, one code point sequence per visible character)
  blank_lines    a run of >= blank_line_run blank lines -> one blank line
  trim           whitespace at both ends
A text emptied by this (e.g. a message that was only control characters) is kept as "" and counted:
validate and heuristics decide about empty messages, so the drop is reported where it belongs.

Facts (stats["facts"]["normalize"]):
  examples          examples looked at
  changed_examples  examples with at least one change;  changed_texts: text fields changed
  changes           {kind: examples changed by that kind} for the kinds above
  emptied_texts     text fields that became "" (their examples are in samples too)
  samples           [{example_id, source_file, source_rows, field, kinds, before, after}] (<= params.samples;
                    snippets around the first difference, control characters shown as \\xNN): in input order,
                    a changed text is taken while a kind of it has fewer than 2 samples, or when it was emptied
  samples_limit     params.samples
  sample_pool       the candidates `samples` is chosen from (the same rule without the limit, emptied texts
                    up to the limit): what finish_facts needs to choose the samples of several chunks exactly
"""

from __future__ import annotations

import copy
import re
import unicodedata
from collections import Counter

import ftfy
import polars as pl
from ftfy.badness import MOJIBAKE_CATEGORIES

from pipeline.chat import preference
from pipeline.chat.texts import text_slots
from pipeline.engine.facts import Concat, Same, Sum, Tally
from pipeline.engine.records import LazyList, dumps_example, loads_example
from pipeline.engine.stage import StageContext, StageOutput, keep_all

RUNS = "per_part"
PREFERENCE = True  # pairs: the rejected reply is cleaned too (normalize_rejected)
KINDS = ("surrogates", "mojibake", "line_endings", "control_chars", "nfc", "blank_lines", "trim")

_SURROGATE = re.compile("[\ud800-\udfff]")
_LINE_BREAK = re.compile("\r\n?|[\x0b\x0c\x85\u2028\u2029]")
_CONTROL = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f]")  # line breaks are line_endings' business
_CONTROL_ALL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # with line_endings done, the rest but \n \t
# ftfy.fix_encoding changes nothing unless its BADNESS_RE matches, and every alternative of that regex
# needs one character of these classes (ftfy 6's categories + the literals of its special cases): texts
# without one skip the expensive check. tests/test_normalize.py checks is_bad(s) implies a hint.
_MOJIBAKE_HINT = re.compile("[" + "".join(MOJIBAKE_CATEGORIES[k] for k in (
    "c1", "bad", "upper_accented", "currency", "numeric", "law", "box", "start_punctuation", "end_punctuation"))
    + "ŒœØÙЂ°ÃÂ]")
_WORK = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")  # a step has work
_WORK_OR_HINT = re.compile(_WORK.pattern[:-1] + _MOJIBAKE_HINT.pattern[1:-1] + "]")  # one pass for both
_SHOW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_SNIPPET = 160


class TextCleaner:
    """The enabled steps of `params`, in their fixed order, with a quick test for text needing none."""

    def __init__(self, params):
        blank = re.compile(rf"\n(?:[ \t]*\n){{{params.blank_line_run},}}") if params.blank_line_run else None
        control = _CONTROL_ALL if params.line_endings else _CONTROL
        steps = [("surrogates", lambda s: _SURROGATE.sub("\ufffd", s))]
        if params.fix_mojibake:
            steps.append(("mojibake", lambda s: ftfy.fix_encoding(s) if _MOJIBAKE_HINT.search(s) else s))
        if params.line_endings:
            steps.append(("line_endings", lambda s: _LINE_BREAK.sub("\n", s)))
        if params.control_chars:
            steps.append(("control_chars", lambda s: control.sub("", s)))
        if params.unicode_form == "NFC":
            steps.append(("nfc", lambda s: s if s.isascii() else unicodedata.normalize("NFC", s)))
        if blank is not None:
            steps.append(("blank_lines", lambda s: blank.sub("\n\n", s)))
        if params.trim:
            steps.append(("trim", str.strip))
        self.steps, self.params, self._blank = steps, params, blank
        self._work = _WORK_OR_HINT if params.fix_mojibake else _WORK  # what all_quiet looks for in non-ASCII text

    def _suspect(self, s: str) -> bool:
        """False only when no step would change `s` (the common case, decided without running them)."""
        p = self.params
        if not s:
            return False
        if (p.trim and (s[0].isspace() or s[-1].isspace())) or _WORK.search(s):
            return True
        if self._blank is not None and s.count("\n") > p.blank_line_run and self._blank.search(s):
            return True
        return not s.isascii() and ((p.unicode_form == "NFC" and not unicodedata.is_normalized("NFC", s))
                                    or (p.fix_mojibake and _MOJIBAKE_HINT.search(s) is not None))

    def all_quiet(self, texts: list[str]) -> bool:
        """True only when no step would change any of `texts`: _suspect on all of them at once (joined by
        "\\n", which no step changes alone and which never combines with a neighbour under NFC)."""
        p = self.params
        if p.trim and list(map(str.strip, texts)) != texts:  # strip returns the text itself when it is trim
            return False
        joined = "\n".join(texts)
        if joined.isascii():  # then the work characters are exactly the unprintable ones but \n and \t
            if not joined.replace("\n", "").replace("\t", "").isprintable():
                return False
        elif self._work.search(joined) or (p.unicode_form == "NFC" and not unicodedata.is_normalized("NFC", joined)):
            return False
        return not (self._blank is not None and joined.count("\n") > p.blank_line_run and self._blank.search(joined))

    def clean(self, text: str, rounds: int = 4) -> tuple[str, list[str]]:
        """The cleaned text and the kinds of change applied, in order.

        Repeated until nothing changes (a later step can expose work for an earlier one, e.g. removing a
        control character inside mojibake), so that cleaning twice gives the same text as cleaning once.
        """
        kinds: list[str] = []
        if not self._suspect(text):
            return text, kinds
        for _ in range(rounds):
            changed = False
            for kind, step in self.steps:
                new = step(text)
                if new != text:
                    if kind not in kinds:
                        kinds.append(kind)
                    text, changed = new, True
            if not changed:
                break
        return text, kinds


def _plain_texts_quiet(obj, cleaner: TextCleaner) -> bool:
    """True when every message (a pair's rejected reply too) is a dict with string content and no refusal, and
    no text needs work."""
    msgs = obj.get("messages") if type(obj) is dict else None
    if type(msgs) is not list:
        return False
    if preference.is_preference(obj):
        msgs = [*msgs, preference.rejected(obj)]
    texts = [m.get("content") if type(m) is dict and "refusal" not in m else None for m in msgs]
    return all(type(t) is str for t in texts) and cleaner.all_quiet(texts)


def _clean_message(msg, where: str, cleaner: TextCleaner) -> list[tuple[str, str, str, list[str]]]:
    """Clean one message's text slots in place; (field label, before, after, kinds) per changed text."""
    changed = []
    if not isinstance(msg, dict):
        return changed
    for slot in text_slots(msg, refusals=True):
        before = slot.get()
        after, kinds = cleaner.clean(before)
        if kinds:
            slot.set(after)
            changed.append((f"{where} ({msg.get('role')}): {slot.label}", before, after, kinds))
    return changed


def normalize_example(obj, cleaner: TextCleaner) -> list[tuple[str, str, str, list[str]]]:
    """Clean the example's messages in place; returns (field label, before, after, kinds) per changed text."""
    msgs = obj.get("messages") if isinstance(obj, dict) else None
    return [change for n, msg in enumerate(msgs if isinstance(msgs, list) else (), start=1)
            for change in _clean_message(msg, f"message {n}", cleaner)]


def normalize_rejected(pair: dict, cleaner: TextCleaner) -> tuple[dict, list[tuple[str, str, str, list[str]]]]:
    """A preference pair with its rejected reply cleaned by the same rules (written back through
    `with_rejected`), and the changes, labelled 'rejected reply (assistant): content'."""
    rejected = copy.deepcopy(preference.rejected(pair))
    changes = _clean_message(rejected, "rejected reply", cleaner)
    return (preference.with_rejected(pair, rejected) if changes else pair), changes


def _show(text: str, start: int) -> str:
    """A snippet of `text` from around `start`, with invisible characters made visible."""
    lo = max(0, start - 40)
    snippet = text[lo:lo + _SNIPPET]
    snippet = _SHOW.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else
                        f"\\u{ord(m.group()):04x}", snippet)
    return ("…" if lo else "") + snippet + ("…" if lo + _SNIPPET < len(text) else "")


def _first_difference(a: str, b: str) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def _emptied(sample: dict) -> bool:
    # the "after" snippet is empty exactly when the text became "" (and then "before" is not)
    return sample["after"] == "" and sample["before"] != ""


def _pick(candidates, limit: int, *, pool: bool) -> list:
    """Samples in input order: a changed text is taken while a kind of it has fewer than 2 taken, or when it
    was emptied, until `limit` are taken. pool=True: no limit, but emptied ones only up to `limit`: the
    candidates the samples of any run containing these texts come from (see finish_facts)."""
    taken: list = []
    per_kind: Counter = Counter()
    emptied = 0
    for c in candidates:
        e = _emptied(c)
        if any(per_kind[k] < 2 for k in c["kinds"]) or (e and (emptied < limit if pool else True)):
            if not pool and len(taken) >= limit:
                break
            per_kind.update(c["kinds"])
            emptied += e
            taken.append(c)
    return taken


def run(frame: pl.DataFrame, params, ctx: StageContext) -> StageOutput:
    cleaner = TextCleaner(params)
    examples = frame["example"].to_list()
    ids, sources, rows_list = (LazyList(frame[c]) for c in ("example_id", "source_file", "source_rows"))
    by_kind: Counter = Counter()
    changed_examples = changed_texts = emptied = 0
    pool: list[dict] = []
    pool_kinds: Counter = Counter()
    pool_emptied = 0
    for i, text in enumerate(examples):
        try:
            obj = loads_example(text)
        except ValueError:
            continue  # not JSON: validate reports it
        if _plain_texts_quiet(obj, cleaner):
            continue
        changes = normalize_example(obj, cleaner)
        if isinstance(obj, dict) and preference.is_preference(obj):
            obj, rejected_changes = normalize_rejected(obj, cleaner)
            changes += rejected_changes
        if not changes:
            continue
        examples[i] = dumps_example(obj)
        changed_examples += 1
        changed_texts += len(changes)
        by_kind.update({k for *_, kinds in changes for k in kinds})
        for label, before, after, kinds in changes:
            was_emptied = after == "" and before != ""
            emptied += was_emptied
            # the pool rule of _pick, decided before the snippets are made
            if any(pool_kinds[k] < 2 for k in kinds) or (was_emptied and pool_emptied < params.samples):
                pool_kinds.update(kinds)
                pool_emptied += was_emptied
                at = _first_difference(before, after)
                pool.append({"example_id": ids[i], "source_file": sources[i],
                             "source_rows": (rows_list[i] or [])[:20], "field": label, "kinds": kinds,
                             "before": _show(before, at), "after": _show(after, at)})
    out = frame.with_columns(pl.Series("example", examples, pl.Utf8)) if changed_examples else frame
    facts = {"examples": Sum(frame.height), "changed_examples": Sum(changed_examples),
             "changed_texts": Sum(changed_texts), "changes": Tally(by_kind, KINDS), "emptied_texts": Sum(emptied),
             "samples_limit": Same(params.samples), "sample_pool": Concat(pool)}
    return StageOutput(keep_all(out), facts)


def finish_facts(facts: dict, params) -> dict:
    """`samples` and `sample_pool` of the whole input from the pools of its parts, in input order (exact,
    see _pick)."""
    limit = facts["samples_limit"]
    pool = _pick(facts["sample_pool"], limit, pool=True)
    counts = {k: v for k, v in facts.items() if k not in ("samples_limit", "sample_pool")}
    return {**counts, "samples": _pick(pool, limit, pool=False), "samples_limit": limit, "sample_pool": pool}
