"""What the destinations share to write a preference pair (docs/preference-design.md, 3): both sides judged by
the destination's own chat rules, and OpenAI's preference line, which openai, azure-openai, fireworks and
together all take.

A destination that writes pairs declares `PREFERENCE` (a Sourced fact: the page of the format),
`check_preference(example) -> [RuleProblem]` and `to_preference_record(example) -> dict`.
"""

from __future__ import annotations

from collections.abc import Callable

from pipeline.chat import preference
from pipeline.targets.base import RuleProblem


def side_chats(example: dict) -> tuple[dict, dict]:
    """(prompt + chosen, prompt + rejected) as two chat examples with the pair's tools, weights removed
    (a preference file trains on the replies; no destination takes per-message weights in it)."""
    chosen = _unweighted(preference.chat_part(example))
    rejected = {**chosen, "messages": [*chosen["messages"][:-1], _unweighted_message(preference.rejected(example))]}
    return chosen, rejected


def _unweighted_message(m):
    return {k: v for k, v in m.items() if k != "weight"} if isinstance(m, dict) else m


def _unweighted(chat: dict) -> dict:
    return {**chat, "messages": [_unweighted_message(m) for m in chat["messages"]]}


def check_both(check: Callable[[dict], list[RuleProblem]], example: dict) -> list[RuleProblem]:
    """The destination's chat rules on prompt + chosen, then what they find only in prompt + rejected (said
    to be the rejected reply's)."""
    chosen, rejected = side_chats(example)
    problems = list(check(chosen))
    last = len(rejected["messages"])
    for p in check(rejected):
        if p in problems and p.message != last:
            continue  # the prompt's problem, already named
        problems.append(RuleProblem(p.code, None if p.message == last else p.message,
                                    f"(in the rejected reply) {p.text}"))
    return problems


def prompt_ends_on_user(example: dict) -> list[RuleProblem]:
    prompt = preference.prompt(example)
    if prompt and isinstance(prompt[-1], dict) and prompt[-1].get("role") == "user":
        return []
    return [RuleProblem("prompt_not_ending_on_user", len(prompt) or None,
                        "takes preference pairs whose input ends on a user message")]


def no_functions(example: dict) -> list[RuleProblem]:
    if example.get("functions") or any(isinstance(m, dict) and (m.get("function_call") or m.get("role") == "function")
                                       for side in preference.sides(example) for m in side):
        return [RuleProblem("functions", None, "preference input takes `tools`, not the legacy `functions`; "
                            "set lossy: drop_feature on the target or convert them to tools")]
    return []


def openai_record(chosen: dict, rejected: dict, input_keys=("tools", "parallel_tool_calls")) -> dict:
    """{"input": {"messages": prompt, tools?...}, "preferred_output": [chosen], "non_preferred_output":
    [rejected]} from the two side records (chat lines written by the destination's to_record)."""
    source = {"messages": chosen["messages"][:-1], **{k: chosen[k] for k in input_keys if chosen.get(k) is not None}}
    return {"input": source, "preferred_output": [chosen["messages"][-1]],
            "non_preferred_output": [rejected["messages"][-1]]}


def records_of_sides(to_record: Callable[[dict], dict], example: dict) -> tuple[dict, dict]:
    chosen, rejected = side_chats(example)
    return to_record(chosen), to_record(rejected)
