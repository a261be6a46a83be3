"""Lossy conversions made explicit: which optional chat features an example uses that a destination cannot
carry, and what `target.lossy` does about them.

  reject        the example is not written for that destination: reason `lossy_<feature>`
  drop_feature  the feature is removed (FEATURE_TEXT says how), the loss counted in stats and the report
  warn          as drop_feature, plus a run warning and the flag `target:lossy_<feature>`
After the loss handling, the destination's own rules (its `check`) judge what is left, then `to_record`
writes it. `prepare` is the one place doing all three, for every stage that needs it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from pipeline.chat import preference
from pipeline.targets.base import FEATURE_TEXT, RuleProblem, Target


def _parts(content):
    return content if isinstance(content, list) else ()


def features_used(example: dict) -> dict[str, int]:
    """{feature: how many places use it} for the optional features of a chat example."""
    used: dict[str, int] = {}

    def add(name: str, n: int = 1) -> None:
        used[name] = used.get(name, 0) + n

    if example.get("tools"):
        add("tools")
    if example.get("functions"):
        add("functions")
    # parallel_tool_calls is a training setting, not data: a destination without it loses nothing (its writer
    # leaves it out); it goes with the tools where those are dropped
    for m in example.get("messages") or ():
        if not isinstance(m, dict):
            continue
        role = m.get("role")
        if role == "assistant" and m.get("weight", 1) == 0:
            add("weights")
        if m.get("tool_calls") or role == "tool":
            add("tools")
        if m.get("function_call") or role == "function":
            add("functions")
        if m.get("name") and role != "function":
            add("names")
        if m.get("refusal") is not None and role == "assistant":
            add("refusals")
        if any(isinstance(p, dict) and p.get("type") == "image_url" for p in _parts(m.get("content"))):
            add("images")
    return used


def drop_features(example: dict, features) -> dict:
    """A copy of `example` without `features` (see FEATURE_TEXT); weight 1 keys stay for to_record to drop."""
    return _without(example, features)[0]


def _without(example: dict, features) -> tuple[dict, list[int]]:
    """drop_features, and for each message left the 1-based number it had in `example`."""
    features = set(features)
    ex = copy.deepcopy(example)
    if "tools" in features:
        ex.pop("tools", None)
    if "functions" in features:
        ex.pop("functions", None)
    if features & {"tools", "parallel_tool_calls"}:
        ex.pop("parallel_tool_calls", None)
    kept, origin = [], []
    for number, m in enumerate(ex.get("messages") or (), 1):
        if not isinstance(m, dict):
            kept.append(m)
            origin.append(number)
            continue
        role = m.get("role")
        if ("tools" in features and role == "tool") or ("functions" in features and role == "function"):
            continue
        if "tools" in features:
            m.pop("tool_calls", None)
        if "functions" in features:
            m.pop("function_call", None)
        if "weights" in features and role == "assistant":
            m.pop("weight", None)
        if "names" in features:
            m.pop("name", None)
        if "refusals" in features and role == "assistant":
            m.pop("refusal", None)
        if "images" in features and isinstance(m.get("content"), list):
            m["content"] = [p for p in m["content"] if not (isinstance(p, dict) and p.get("type") == "image_url")]
        if role == "assistant" and not m.get("content") and not m.get("tool_calls") and not m.get("function_call") \
                and m.get("refusal") is None:
            continue  # an assistant turn that only called a tool
        kept.append(m)
        origin.append(number)
    ex["messages"] = kept
    return ex, origin


@dataclass(frozen=True)
class Prepared:
    record: dict | None          # the destination's line, None when rejected
    chat: dict | None            # the chat example after the loss handling (what is counted and trained)
    losses: tuple[str, ...]      # features removed (drop_feature / warn)
    reason: str | None = None    # reject reason
    detail: str | None = None


def prepare(example: dict, target: Target) -> Prepared:
    """Loss handling, the destination's rules, its record — or why the example cannot go there."""
    missing = [f for f in features_used(example) if f not in target.supports]
    if missing and target.config.lossy == "reject":
        first = missing[0]
        more = f" (also: {', '.join(missing[1:])})" if missing[1:] else ""
        return Prepared(None, None, (), f"lossy_{first}",
                        f"{target.provider} cannot carry {FEATURE_TEXT[first]}{more}; set "
                        f"lossy: drop_feature on the target to write it without them")
    chat, origin = _without(example, missing) if missing else (example, None)
    problems: list[RuleProblem] = target.module.check(chat)
    if problems:
        first = problems[0]
        if origin is not None and first.message is not None and first.message <= len(origin):
            # name the message as numbered in the example (rejects.jsonl shows it before the losses were dropped)
            first = RuleProblem(first.code, origin[first.message - 1], first.text)
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        return Prepared(None, chat, tuple(missing), first.code, first.detail(target.provider) + more)
    return Prepared(target.module.to_record(chat), chat, tuple(missing))


def prepare_preference(example: dict, target: Target) -> Prepared:
    """prepare for a preference pair: the loss handling on the prompt and both replies, the destination's
    `check_preference`, then its `to_preference_record`. `chat` is the pair after the losses."""
    chosen = preference.chat_part(example)
    rejected = {**chosen, "messages": [*preference.prompt(example), preference.rejected(example)]}
    used = {**features_used(rejected), **features_used(chosen)}
    missing = [f for f in used if f not in target.supports]
    if missing and target.config.lossy == "reject":
        more = f" (also: {', '.join(missing[1:])})" if missing[1:] else ""
        return Prepared(None, None, (), f"lossy_{missing[0]}",
                        f"{target.provider} cannot carry {FEATURE_TEXT[missing[0]]}{more}; set "
                        f"lossy: drop_feature on the target to write it without them")
    pair = example
    if missing:
        chosen, rejected = drop_features(chosen, missing), drop_features(rejected, missing)
        for side, chat in (("chosen", chosen), ("rejected", rejected)):
            last = chat["messages"][-1] if chat["messages"] else None
            if chat["messages"][:-1] != chosen["messages"][:-1] or not isinstance(last, dict) \
                    or last.get("role") != "assistant":
                return Prepared(None, None, tuple(missing), "empty_side",
                                f"the {side} reply holds only {FEATURE_TEXT[missing[0]]}; without them "
                                f"{target.provider} gets no {side} reply")
        pair = preference.with_rejected(chosen | {"preference": example["preference"]}, rejected["messages"][-1])
    problems: list[RuleProblem] = target.module.check_preference(pair)
    if problems:
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        return Prepared(None, pair, tuple(missing), problems[0].code, problems[0].detail(target.provider) + more)
    return Prepared(target.module.to_preference_record(pair), pair, tuple(missing))
