"""Google Vertex AI — supervised fine-tuning of Gemini models.

Record (one JSONL line, "Prepare supervised fine-tuning data for Gemini models" and "Tune function calling"):
  {"systemInstruction": {"parts": [{"text": ...}]},
   "contents": [{"role": "user" | "model", "parts": [{"text": ...} | {"functionCall": {name, args}}
                                                    | {"functionResponse": {name, response}}]}],
   "tools": [{"functionDeclarations": [{name, description?, parameters?}]}]}
A chat example maps as: system messages -> systemInstruction parts (one part each); user -> a user turn; an
assistant -> a model turn (its text part, then one functionCall part per tool call, `arguments` parsed into
the `args` object); the tool messages answering a model turn -> one user turn of functionResponse parts (the
function name found from tool_call_id; the tool's text as {"content": text}); tools -> functionDeclarations.

Rules (check): user turn first, user/model turns alternate, the model's turn last; every function call of a
model turn that is not the last is answered by the tool messages right after it, one each; called functions
are declared in `tools`; arguments are a JSON object; every turn has text or a function call. Not carried
(losses, target.lossy): weight-0 turns (no per-message weight is documented), message names, image parts
(Gemini takes images as fileData URIs in Cloud Storage, not http/data URLs), refusals, legacy functions and
the parallel_tool_calls setting (several calls in one turn are kept).

Round trip (from_record): back to the chat example, except what the format has no place for: tool call ids
(regenerated call_1, call_2, ... in call order), the spelling of `arguments` (re-serialized from `args`), a
function's `strict` flag, text parts of one message (written joined as one text), `weight: 1` keys, an
empty assistant text beside tool calls (comes back as null content). Function `parameters` are passed as
written (JSON Schema, lower-case types); Google's tuning example spells OpenAPI types in upper case ("OBJECT").

Tokens: Gemini's tokenizer is only reachable through the countTokens API, so counts are estimates
(o200k_base) and say so. Facts: the pages below, stored copies read 2026-12-06 (as_of: the page's own
"last updated" date where it shows one).
"""

from __future__ import annotations

import json

from pipeline.chat.texts import message_text
from pipeline.targets.base import FileRules, ModelFacts, RuleProblem, Sourced, unpublished
from pipeline.targets.deadlines import shut_down
from pipeline.targets.rules import alternation, ends_with, roles_allowed, text_only

PROVIDER = "vertex-gemini"
NO_PREFERENCE = ("vertex-gemini: Vertex AI supervised tuning of Gemini documents no preference (DPO) format; "
                 "remove it from `targets:` for this run, or write SFT data from the chosen replies in a "
                 "separate run")
TITLE = "Google Vertex AI — Gemini supervised fine-tuning"
DOCS = "https://cloud.google.com/vertex-ai/generative-ai/docs/models/gemini-supervised-tuning-prepare"
DEFAULT_MODEL = "gemini-2.5-flash"
SUPPORTS = frozenset({"tools"})
TOKENIZER_NOTE = ("estimate: counted with o200k_base; Gemini's own tokenizer is only available through Google's "
                  "countTokens API (not offline), so real counts differ — keep a margin under the limit")

READ_ON = "2026-12-06"
LIMITS = "https://cloud.google.com/vertex-ai/generative-ai/docs/models/gemini-supervised-tuning (Limitations)"
LIMITS_AS_OF = "2025-09-04"
FUNCTIONS = "https://cloud.google.com/vertex-ai/generative-ai/docs/models/tune-function-calling"
PRICE = unpublished("no stored copy of cloud.google.com/vertex-ai/generative-ai/pricing shows the tuning rows; "
                    "set target.price_per_million_training_tokens", READ_ON)
SHUTDOWN_2_0 = Sourced("2026-06-01", "https://docs.cloud.google.com/gemini-enterprise-agent-platform/models/gemini/"
                       "2-0-flash (caution: gemini-2.0-flash and gemini-2.0-flash-lite discontinued)", READ_ON)
TUNABLE_3_5 = ("absent from the stored copies (docs.cloud.google.com/vertex-ai/generative-ai/docs/models/"
               "tune-text-models-supervised lists Gemini 3.5 Flash / Flash-Lite for tuning; the limit row was "
               "not readable): set target.max_tokens")


def _model(name: str, limit: int | None, shutdown: Sourced | None = None, missing: str = "") -> ModelFacts:
    tokens = Sourced(limit, LIMITS, LIMITS_AS_OF) if limit is not None else unpublished(missing, READ_ON)
    return ModelFacts(name=name, max_example_tokens=tokens, price_per_million=PRICE,
                      tokenizer="estimate:o200k_base", shutdown=shutdown)


MODELS = (
    _model("gemini-2.5-flash", 131_072),
    _model("gemini-2.5-flash-lite", 131_072),
    _model("gemini-2.5-pro", 131_072),
    _model("gemini-3.5-flash", None, missing=TUNABLE_3_5),
    _model("gemini-3.5-flash-lite", None, missing=TUNABLE_3_5),
    _model("gemini-2.0-flash", None, SHUTDOWN_2_0, "the stored copy of the limits table is cut before the number"),
    _model("gemini-2.0-flash-lite", None, SHUTDOWN_2_0, "the stored copy of the limits table is cut before the "
           "number"),
)
FILES = FileRules(
    min_train=unpublished("Google recommends starting with 100 examples", LIMITS_AS_OF),
    max_train=Sourced(1_000_000, f"{LIMITS} (1M text-only examples)", LIMITS_AS_OF),
    max_validation=Sourced(5000, f"{LIMITS} (Maximum validation dataset size)", LIMITS_AS_OF),
    max_file_bytes=Sourced(10**9, f"{LIMITS} (1GB for JSONL, read as 10^9 bytes)", LIMITS_AS_OF),
)
CUSTOM_MODEL_HINT = " (another gemini-* model: set target.max_tokens to its per-example limit)"


def custom_model(name: str, cfg, tokens_params) -> ModelFacts | None:
    """A Gemini model not in the table: usable with target.max_tokens (its limit is the user's to give)."""
    if not name.startswith("gemini-") or getattr(cfg, "max_tokens", None) is None:
        return None
    return ModelFacts(name=name, max_example_tokens=unpublished("not in the table", READ_ON), price_per_million=PRICE,
                      tokenizer="estimate:o200k_base", snapshots=False)


def check_model(facts: ModelFacts, model: str) -> str | None:
    return shut_down(facts, model)


# ------------------------------------------------------------------------------------------------- rules

def check(example: dict) -> list[RuleProblem]:
    messages = example.get("messages") or []
    problems = roles_allowed(messages, ("system", "user", "assistant", "tool"))
    if problems:
        return problems
    problems += alternation(messages, first=("user",), tool_role="tool")
    problems += ends_with(messages, "assistant")
    problems += text_only(messages)
    problems += _call_problems(example, messages)
    problems += [RuleProblem("empty_message", n, "requires text or a function call in every turn")
                 for n, m in enumerate(messages, 1)
                 if m.get("role") in ("user", "assistant") and not message_text(m) and not m.get("tool_calls")]
    return problems


def _call_problems(example: dict, messages: list) -> list[RuleProblem]:
    declared = {t.get("function", {}).get("name") for t in example.get("tools") or () if isinstance(t, dict)}
    out = []
    for n, m in enumerate(messages, 1):
        calls = (m.get("tool_calls") or []) if m.get("role") == "assistant" else []
        for call in calls:
            function = call.get("function") or {}
            if function.get("name") not in declared:
                out.append(RuleProblem("undeclared_function", n, f"requires every called function to be declared "
                                       f"in tools ({function.get('name')!r} is not)"))
            if not isinstance(_args(function.get("arguments")), dict):
                out.append(RuleProblem("function_args", n, "requires function call arguments as a JSON object "
                                       "(they become the functionCall's args)"))
        if calls and n < len(messages):
            answers = 0
            while n + answers < len(messages) and messages[n + answers].get("role") == "tool":
                answers += 1
            if answers != len(calls):
                out.append(RuleProblem("function_responses", n, f"requires one function response per function "
                                       f"call right after the model's turn ({len(calls)} calls, {answers} tool "
                                       "results)"))
    return out


def _args(arguments):
    if isinstance(arguments, dict):
        return arguments
    try:
        return json.loads(arguments)
    except (TypeError, ValueError):
        return None


# ----------------------------------------------------------------------------------------------- records

def to_record(example: dict) -> dict:
    messages = example["messages"]
    record: dict = {}
    system = [m for m in messages if m.get("role") == "system"]
    if system:
        record["systemInstruction"] = {"parts": [{"text": message_text(m)} for m in system]}
    contents: list[dict] = []
    pending: list[tuple] = []   # (tool_call_id, function name) of the last model turn, not yet answered
    for m in messages:
        role = m.get("role")
        if role == "assistant":
            calls = m.get("tool_calls") or []
            text = message_text(m)
            parts = [{"text": text}] if text or not calls else []
            parts += [{"functionCall": {"name": c["function"]["name"], "args": _args(c["function"]["arguments"])}}
                      for c in calls]
            pending = [(c.get("id"), c["function"]["name"]) for c in calls]
            contents.append({"role": "model", "parts": parts})
        elif role == "tool":
            part = {"functionResponse": {"name": _answered(pending, m.get("tool_call_id")),
                                         "response": {"content": message_text(m)}}}
            if contents and contents[-1]["role"] == "user" and "functionResponse" in contents[-1]["parts"][-1]:
                contents[-1]["parts"].append(part)
            else:
                contents.append({"role": "user", "parts": [part]})
        elif role == "user":
            contents.append({"role": "user", "parts": [{"text": message_text(m)}]})
    record["contents"] = contents
    if example.get("tools"):
        record["tools"] = [{"functionDeclarations": [
            {k: t["function"][k] for k in ("name", "description", "parameters") if k in t["function"]}
            for t in example["tools"]]}]
    return record


def _answered(pending: list[tuple], call_id) -> str | None:
    """The function name a tool message answers: the first pending call with its id (ids may repeat, as in
    OpenAI's cookbook data), else the first pending call; the call is then answered."""
    for i, (pending_id, name) in enumerate(pending):
        if pending_id == call_id:
            return pending.pop(i)[1]
    return pending.pop(0)[1] if pending else None


def from_record(record: dict) -> dict:
    """The chat example of a record: ids call_1, call_2, ... in call order; each functionResponse answers the
    earliest unanswered call of its name; a response {"content": text} gives that text, any other its JSON."""
    system = record.get("systemInstruction") or record.get("system_instruction")
    messages = [{"role": "system", "content": p.get("text", "")} for p in (system or {}).get("parts", [])]
    pending: list[tuple[str, str]] = []
    n_calls = 0
    for content in record.get("contents", []):
        parts = content.get("parts", [])
        text = "".join(p["text"] for p in parts if "text" in p)
        if content.get("role") == "model":
            message: dict = {"role": "assistant", "content": text if any("text" in p for p in parts) else None}
            calls = [p["functionCall"] for p in parts if "functionCall" in p]
            if calls:
                message["tool_calls"] = []
            for call in calls:
                n_calls += 1
                pending.append((call["name"], f"call_{n_calls}"))
                message["tool_calls"].append({"id": f"call_{n_calls}", "type": "function", "function": {
                    "name": call["name"], "arguments": json.dumps(call.get("args", {}), ensure_ascii=False)}})
            messages.append(message)
            continue
        for part in parts:
            if "functionResponse" in part:
                response = part["functionResponse"]
                call_id = next((c for name, c in pending if name == response.get("name")), None)
                pending = [(name, c) for name, c in pending if c != call_id]
                messages.append({"role": "tool", "tool_call_id": call_id, "content": _response_text(response)})
        if any("text" in p for p in parts):
            messages.append({"role": "user", "content": text})
    chat: dict = {"messages": messages}
    declarations = [d for tool in record.get("tools") or () for d in tool.get("functionDeclarations", [])]
    if declarations:
        chat["tools"] = [{"type": "function", "function": dict(d)} for d in declarations]
    return chat


def _response_text(response: dict) -> str:
    body = response.get("response", {})
    if isinstance(body, dict) and set(body) == {"content"} and isinstance(body["content"], str):
        return body["content"]
    return json.dumps(body, ensure_ascii=False)
