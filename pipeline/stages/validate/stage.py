"""validate (batch): each example against OpenAI's chat fine-tuning line format (schemas/chat.py).

Drops an example that OpenAI would reject (or that holds tokenizer special tokens, or trains nothing)
with the code of its first problem and a detail naming the example and the message, e.g.
"toy.jsonl row 4, message 2 (assistant): key 'foo' is not allowed for assistant (allowed: ...)".
Codes: invalid_example, invalid_messages, invalid_role, unknown_key, missing_key, content_type,
null_content, invalid_name, invalid_weight, invalid_tool_calls, invalid_tool_call_id,
tool_call_id_mismatch, invalid_image, too_many_images, invalid_tools, missing_assistant (from the
schema); special_token, no_trainable_assistant, invalid_tool_arguments, missing_user (policies, params).
Plain examples (only system/user/assistant messages with string content, no other keys, no "<|")
take a fast path equivalent to the schema; everything else is validated by the pydantic models.
Run-level checks on the number of training examples live in export.
In a preference run (config.is_preference()) each example is a pair: its chat (prompt + chosen reply) is
checked as above, then the pair (preference_pair.py: invalid_preference naming the side); special tokens
are found and stripped in the rejected reply too, no_trainable_assistant does not apply (the preference
writers train both replies and drop weights), and each target judges it with its `check_preference`
(targets.features.prepare_preference) instead of its chat rules.

Facts (stats["facts"]["validate"]):
  checked            examples looked at;  passed / rejected: kept and dropped examples
  by_reason          {code: examples dropped with it as their first problem}
  problems           {code: examples having that problem at all} (one example can have several)
  samples            {code: [{example_id, source_file, source_rows, detail}, ...]} (<= samples_per_reason)
  samples_per_reason the cap on each samples list
  warnings           {"no_user_message": n} kept examples flagged (flag "validate:no_user_message")
  warning_samples    {code: [...]} like samples
  special_tokens     {token: occurrences found}; special_tokens_stripped: occurrences removed (strip mode);
                     <|reserved_N|> tokens are counted together as "<|reserved_*|>"
  fast_path          examples accepted by the fast path
Counts are ordered by count (ties: by_reason in order of first occurrence, the others by name); warnings
in order of first occurrence. Chunks merge exactly (typed facts); the run-level warning comes from the
merged facts (problems_from_facts).
"""

from __future__ import annotations

import marshal
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from itertools import islice

import polars as pl
import tiktoken_ext.openai_public as tiktoken_public
from pydantic import ValidationError

from pipeline.chat import preference
from pipeline.chat.texts import text_slots
from pipeline.engine.facts import FirstNPerKey, Same, Sum, Tally, render
from pipeline.engine.records import LazyList, dumps_example, loads_example
from pipeline.engine.stage import Problem, StageContext, StageOutput, with_drops
from pipeline.stages.validate.preference_pair import chat_of, pair_problems
from pipeline.stages.validate.tool_arguments import bad_arguments
from pipeline.targets import resolve_targets
from pipeline.targets.base import FEATURE_TEXT, Target
from pipeline.targets.features import prepare, prepare_preference
from pipeline.targets.target_drops import merged, split_verdicts
from schemas.chat import TOOLS_ADAPTER, ChatExample, explain_errors

RUNS = "per_part"
PREFERENCE = True  # pairs: the chat as any example, then the pair (preference_pair.py) and each target's check_preference
USES_TARGETS = True  # the configured destinations are part of its checkpoint key

# Special tokens of OpenAI's tokenizers: cl100k_base/o200k_base (tiktoken), ChatML, and the o200k_harmony
# names. tiktoken refuses to encode them as text, and they mean something else to the model.
_TIKTOKEN = tuple(v for k, v in vars(tiktoken_public).items() if k.isupper() and isinstance(v, str))
SPECIAL_TOKENS = tuple(sorted({*_TIKTOKEN, "<|im_start|>", "<|im_end|>", "<|im_sep|>", "<|startoftext|>",
                               "<|start|>", "<|end|>", "<|message|>", "<|channel|>", "<|constrain|>",
                               "<|return|>", "<|call|>"}))
SPECIAL_RE = re.compile("|".join(map(re.escape, sorted(SPECIAL_TOKENS, key=len, reverse=True)))
                        + r"|<\|reserved_\d+\|>")
RESERVED, _RESERVED = "<|reserved_*|>", re.compile(r"<\|reserved_\d+\|>")
_PLAIN_ROLES = frozenset({"system", "user", "assistant"})


@dataclass
class Verdict:
    problems: list[tuple[str, str]] = field(default_factory=list)  # (code, detail without location)
    warnings: list[tuple[str, str]] = field(default_factory=list)
    rewritten: dict | None = None  # the example after stripping special tokens
    parsed: object = None  # the example as parsed (after any stripping): what the targets' rules read
    tokens_found: Counter = field(default_factory=Counter)
    tokens_stripped: Counter = field(default_factory=Counter)
    fast: bool = False


def _fast_plain(obj) -> tuple[bool, bool] | None:
    """(has_assistant, has_user) for a plain example, or None when it needs the full schema."""
    if type(obj) is not dict or len(obj) != 1:
        return None
    msgs = obj.get("messages")
    if type(msgs) is not list or not msgs:
        return None
    roles = set()
    for m in msgs:
        if type(m) is not dict or len(m) != 2 or type(m.get("content")) is not str:
            return None
        role = m.get("role")
        if type(role) is not str or role not in _PLAIN_ROLES:  # a list or object role: the full check explains it
            return None
        roles.add(role)
    return "assistant" in roles, "user" in roles


def _strings(value, path: str):
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _strings(v, f"{path}[{i}]")


def _text_messages(obj) -> list:
    """The messages whose text strip mode cleans: the chat's, and a pair's rejected reply."""
    msgs = obj.get("messages") if isinstance(obj, dict) else None
    msgs = list(msgs) if isinstance(msgs, list) else []
    if isinstance(obj, dict) and preference.is_preference(obj) and "rejected" in obj[preference.KEY]:
        msgs.append(preference.rejected(obj))
    return msgs


def _special_tokens(obj, strip: bool, v: Verdict) -> None:
    """Count special tokens (in strip mode first removing them from message text, a pair's rejected reply
    included); any left is a problem."""
    if strip:
        for m in _text_messages(obj):
            for slot in text_slots(m, refusals=True, malformed_parts=True):
                text = slot.get()
                found = SPECIAL_RE.findall(text) if "<|" in text else ()
                if found:
                    v.tokens_stripped.update(found)
                    slot.set(SPECIAL_RE.sub("", text))
                    v.rewritten = obj
        v.tokens_found.update(v.tokens_stripped)
    for path, s in _strings(obj, ""):
        found = SPECIAL_RE.findall(s) if "<|" in s else ()
        if not found:
            continue
        v.tokens_found.update(found)
        if not any(code == "special_token" for code, _ in v.problems):
            hint = "" if strip else " (special_tokens: strip removes them from message text)"
            v.problems.append(("special_token", (f"{_label(obj, path)} contains {', '.join(sorted(set(found)))}: "
                                                 f"tokenizer special tokens cannot be trained as text{hint}")))


def _label(obj, path: str) -> str:
    """'message 3 (assistant): content' for messages[2].content, 'the rejected reply: content' for a pair's
    preference.rejected.content; other paths as they are."""
    if path.startswith("preference.rejected"):
        return f"the rejected reply: {path.removeprefix('preference.rejected').lstrip('.') or 'message'}"
    m = re.fullmatch(r"messages\[(\d+)\]\.?(.*)", path)
    if not m:
        return path
    msg = obj["messages"][int(m.group(1))]
    role = msg.get("role") if isinstance(msg, dict) else None
    return f"message {int(m.group(1)) + 1} ({role if isinstance(role, str) else '?'}): {m.group(2) or 'message'}"


_TOOLS_CACHE: dict[bytes, list[tuple[str, str]]] = {}


def _tools_problems(tools) -> list[tuple[str, str]]:
    """Problems of the `tools` list; a tools list repeated across examples (the usual case) is checked once."""
    try:
        key = marshal.dumps(tools)  # fast, exact for JSON values (same tools in another key order: a miss)
    except ValueError:
        key = None
    hit = _TOOLS_CACHE.get(key) if key is not None else None
    if hit is None:
        try:
            TOOLS_ADAPTER.validate_python(tools)
            hit = []
        except ValidationError as e:
            hit = [(code, detail) for code, _, detail in explain_errors(e, {"tools": tools}, ("tools",))]
        if len(_TOOLS_CACHE) >= 256:
            _TOOLS_CACHE.clear()
        if key is not None:
            _TOOLS_CACHE[key] = hit
    return hit


def _tool_arguments(ex: ChatExample) -> list[tuple[str, str]]:
    return [("invalid_tool_arguments", f"message {n} (assistant): {problem}")
            for n, m in enumerate(ex.messages, start=1) if m.role == "assistant" for problem in bad_arguments(m)]


def check_example(text: str, params, pairs: bool = False) -> Verdict:
    """Every problem of one example (JSON text) under `params`; pure, used by run() and the tests. `pairs`: a
    preference run, whose examples are pairs (the chat as any example, then preference_pair's checks)."""
    v = Verdict()
    try:
        obj = v.parsed = loads_example(text)
    except ValueError as e:
        v.problems.append(("invalid_example", f"not valid JSON: {e}"))
        return v
    plain = _fast_plain(obj) if "<|" not in text and not pairs else None
    if plain is not None and plain[0]:
        v.fast = True
        has_user = plain[1]
    else:
        if "<|" in text:
            _special_tokens(obj, params.special_tokens == "strip", v)
        chat = chat_of(obj) if pairs and isinstance(obj, dict) else obj
        rest = {k: v for k, v in chat.items() if k != "tools"} if isinstance(chat, dict) else chat
        tool_problems = _tools_problems(obj["tools"]) if isinstance(obj, dict) and "tools" in obj else []
        try:
            ex = ChatExample.model_validate(rest)
        except ValidationError as e:
            v.problems += [(code, detail) for code, _, detail in explain_errors(e, obj)] + tool_problems
            return v
        if tool_problems:
            v.problems += tool_problems
            return v
        has_user = any(m.role == "user" for m in ex.messages)
        assistants = [m for m in ex.messages if m.role == "assistant"]
        if pairs:  # both replies are trained whatever their weight: the preference writers drop weights
            v.problems += pair_problems(obj, params.tool_arguments_json)
        elif params.require_trainable_assistant and all(m.weight == 0 for m in assistants):
            v.problems.append(("no_trainable_assistant", (f"every assistant message ({len(assistants)}) has weight 0: "
                                                         "nothing to train on")))
        if params.tool_arguments_json:
            v.problems += _tool_arguments(ex)
    if not has_user and params.missing_user_message != "ignore":
        detail = "no user message (OpenAI accepts this; the model learns to answer without a prompt)"
        (v.problems if params.missing_user_message == "drop" else v.warnings).append(
            ("missing_user" if params.missing_user_message == "drop" else "no_user_message", detail))
    return v


def _where(source_file: str | None, rows: list[int] | None) -> str:
    name = os.path.basename(source_file or "?")
    if not rows:
        return name
    return f"{name} row {rows[0]}" if len(rows) == 1 else f"{name} rows {rows[0]}–{rows[-1]}"


def _sample(bucket: list, limit: int, ex_id, src, rows, detail: str) -> None:
    if len(bucket) < limit:
        bucket.append({"example_id": ex_id, "source_file": src, "source_rows": (rows or [])[:20], "detail": detail})


def _targets(ctx: StageContext) -> list[Target]:
    """The run's targets whose rules or losses need a look (OpenAI-shaped ones take the chat schema as it is)."""
    if ctx is None or ctx.config is None:
        return []
    return resolve_targets(ctx.config)


def run(frame: pl.DataFrame, params, ctx: StageContext) -> StageOutput:
    reasons: list[str | None] = []
    details: list[str | None] = []
    targets = _targets(ctx)
    pairs = ctx is not None and ctx.config is not None and ctx.config.is_preference()
    # a pair is judged by every destination's check_preference (the chat schema is no destination's rule for it)
    judged = [t for t in targets if pairs or not getattr(t.module, "PASS_THROUGH", False)]
    folders = [t.folder for t in targets]
    entries: list[dict | None] = []
    losses: dict[str, Counter] = {t.folder: Counter() for t in judged}
    examples = frame["example"].to_list()
    flags = frame["flags"].to_list() if "flags" in frame.columns else [[] for _ in examples]
    ids, sources, rows_list = (LazyList(frame[c]) for c in ("example_id", "source_file", "source_rows"))
    rewritten = flagged = False
    by_reason, problems, warnings, found, stripped = Counter(), Counter(), Counter(), Counter(), Counter()
    samples: dict[str, list] = {}
    warning_samples: dict[str, list] = {}
    fast = 0
    for i, text in enumerate(examples):
        v = check_example(text, params, pairs)
        fast += v.fast
        if v.tokens_found:
            found.update(v.tokens_found)
            stripped.update(v.tokens_stripped)
        if v.problems or v.warnings:
            where = _where(sources[i], rows_list[i])
        if v.problems:
            code, first = v.problems[0]
            rest = [c for c, _ in v.problems[1:]]
            more = f" (+{len(rest)} more: {', '.join(dict.fromkeys(rest))})" if rest else ""
            reasons.append(code)
            details.append(f"{where}, {first}{more}")
            by_reason[code] += 1
            problems.update({c for c, _ in v.problems})
            _sample(samples.setdefault(code, []), params.samples_per_reason, ids[i], sources[i], rows_list[i],
                    f"{where}, {first}")
            continue
        if v.rewritten is not None:
            examples[i] = dumps_example(v.rewritten)
            rewritten = True
        code, detail, entry, lossy_flags = _target_verdicts(v.parsed, targets, judged, folders, losses, pairs)
        if code is not None:
            where = _where(sources[i], rows_list[i])
            reasons.append(code)
            details.append(f"{where}, {detail}")
            by_reason[code] += 1
            problems[code] += 1
            _sample(samples.setdefault(code, []), params.samples_per_reason, ids[i], sources[i], rows_list[i],
                    f"{where}, {detail}")
            continue
        entries.append(entry if entry is None else (i, entry))
        reasons.append(None)
        details.append(None)
        if lossy_flags:
            flags[i] = [*(flags[i] or []), *lossy_flags]
            flagged = True
        for code, detail in v.warnings:
            warnings[code] += 1
            flags[i] = [*(flags[i] or []), f"validate:{code}"]
            flagged = True
            _sample(warning_samples.setdefault(code, []), params.samples_per_reason, ids[i], sources[i],
                    rows_list[i], f"{where}, {detail}")
    out = frame
    if rewritten:
        out = out.with_columns(pl.Series("example", examples, pl.Utf8))
    if flagged:
        out = out.with_columns(pl.Series("flags", flags, pl.List(pl.Utf8)))
    facts = {"checked": Sum(frame.height), "passed": Sum(frame.height - sum(by_reason.values())),
             "rejected": Sum(sum(by_reason.values())), "by_reason": Tally(by_reason, "count"),
             "problems": Tally(problems, "count_then_key"),
             "samples": FirstNPerKey(params.samples_per_reason, samples),
             "samples_per_reason": Same(params.samples_per_reason), "warnings": Tally(warnings),
             "warning_samples": FirstNPerKey(params.samples_per_reason, warning_samples),
             "special_tokens": Tally(_fold_reserved(found), "count_then_key"),
             "special_tokens_stripped": Tally(_fold_reserved(stripped), "count_then_key"), "fast_path": Sum(fast)}
    facts["targets"] = {t.folder: {"losses": Tally(losses[t.folder], "count_then_key"), "lossy": Same(t.config.lossy),
                                   "name": Same(f"{t.provider} {t.model}")} for t in judged}
    per_row: list[dict | None] = [None] * frame.height
    for i, entry in (e for e in entries if e is not None):
        per_row[i] = entry
    out = merged(out, per_row, len(targets) > 1)
    return StageOutput(with_drops(out, reasons, details), facts, problems_from_facts(render(facts), params))


def _target_verdicts(obj: dict, targets: list[Target], judged: list[Target], folders: list[str],
                     losses: dict[str, Counter], pairs: bool = False):
    """(drop code, drop detail, {folder: [stage, reason, detail]} for targets that cannot take it, flags) of
    one example that passed the chat schema: each destination's rules after its loss handling (for a pair,
    its preference rules on the prompt and both replies: prepare_preference)."""
    if not judged:
        return None, None, None, []
    verdicts, flags = [], []
    for t in targets:
        if t not in judged:
            verdicts.append(None)
            continue
        p = (prepare_preference if pairs else prepare)(obj, t)
        if p.reason is not None:
            verdicts.append((p.reason, p.detail))
            continue
        verdicts.append(None)
        losses[t.folder].update(p.losses)
        if p.losses and t.config.lossy == "warn":
            flags += [f"target:lossy_{f}" for f in p.losses]
    code, detail, entry = split_verdicts(verdicts, folders, "validate")
    return code, detail, entry, list(dict.fromkeys(flags))


def lossy_warnings(facts: dict) -> list[Problem]:
    """One run warning per target with lossy: warn whose examples lost features."""
    out = []
    for target in (facts.get("targets") or {}).values():
        lost = target.get("losses") or {}
        if lost and target["lossy"] == "warn":
            what = ", ".join(f"{FEATURE_TEXT[f]} in {n} example(s)" for f, n in lost.items())
            out.append(Problem("warning", "lossy_conversion", f"{target['name']}: written without {what} "
                               "(lossy: warn; flag target:lossy_<feature>)"))
    return out


def _fold_reserved(counts: Counter) -> Counter:
    out: Counter = Counter()
    for token, n in counts.items():
        out[RESERVED if _RESERVED.fullmatch(token) else token] += n
    return out


def problems_from_facts(facts: dict, params) -> list[Problem]:
    """The run-level warning when most examples were rejected (a mapping problem, not a data problem)."""
    checked, bad = facts["checked"], facts["rejected"]
    if not checked or bad * 2 <= checked:
        return lossy_warnings(facts)
    top = ", ".join(f"{c} ({n})" for c, n in islice(facts["by_reason"].items(), 3))
    return lossy_warnings(facts) + [Problem("warning", "mostly_invalid_format",
                    f"validate rejected {bad} of {checked} examples ({top}): check the input "
                    "mapping (roles, columns, content keys) first")]
