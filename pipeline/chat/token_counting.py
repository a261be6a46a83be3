"""Exact-as-published token counts of chat fine-tuning examples, and the training estimate.

Messages — OpenAI cookbook "How to count tokens with tiktoken" (examples/How_to_count_tokens_with_tiktoken
.ipynb, section 6, verified there against the API's prompt_tokens for gpt-3.5-turbo-0125, gpt-4-0613,
gpt-4o-2024-08-06 and gpt-4o-mini-2024-07-18): every message costs TOKENS_PER_MESSAGE=3, plus the tokens
of each of its string values (role, content, name, tool_call_id), plus TOKENS_PER_NAME=1 when it has a
`name`; the whole conversation adds REPLY_PRIMING=3 (`<|start|>assistant<|message|>`). The fine-tuning
data-prep cookbook (Chat_finetuning_data_prep.ipynb) uses the same rule to count training examples.
`weight` is not text the model sees and is not counted.

Tool definitions, tool calls, images — OpenAI does not publish how these are serialized into the prompt;
these counts are APPROXIMATIONS, built to err high (an example estimated under the limit should be):
- tool/function definitions: the cookbook's `num_tokens_for_tools` (section 7, API-verified for its
  example): per function FUNC_INIT (7 for o200k models, 10 for cl100k) + tokens of "name:description"
  (one trailing "." removed), PROP_INIT=3 when it has properties, per property PROP_KEY=3 + tokens of
  "key:type:description", an enum adds ENUM_INIT=-3 and ENUM_ITEM=3 + tokens per item; FUNC_END=12 once.
  That rule ignores nested schemas, so to stay conservative the compact JSON of any other schema keys
  (items, nested properties, anyOf, minimum, additionalProperties, ...) is counted on top;
- assistant tool calls / legacy function_call: per call TOOL_CALL_OVERHEAD=10 (the recipient header
  `to=functions.<name>` and framing, or the multi_tool_use.parallel wrapper for parallel calls) + tokens
  of the name + tokens of the arguments text. Call ids are API bookkeeping and are not counted;
- image parts: IMAGE_TOKENS=1445 (gpt-4o high detail at its largest, 85 + 170 x 8 tiles), 85 for
  detail "low" — the image size is unknown without fetching it;
- anything else of unexpected shape: the tokens of its compact JSON.

Assistant ("trained") tokens: for assistant messages whose weight is not 0, the tokens the model writes —
content, tool-call names and arguments, function_call name and arguments (no framing, as in the
cookbook's num_assistant_tokens_from_messages).

Long examples: an example whose JSON text is longer than FULL_COUNT_CHARS_PER_TOKEN (16) characters per token
of the limit (1 MiB at 65,536 tokens) is counted with a cap (`capped(text, limit)`); shorter ones are counted
in full and exactly whatever their count (encoding a MiB takes a fraction of a second). With a cap
(`example(..., cap=limit)`) counting stops once the example is over it: after the tools block and the
leading system messages, messages are counted from the last one back (the part truncation keeps) until the
count passes the cap; the messages not reached then count TOKENS_PER_MESSAGE each, and a content text too
long to fit is not encoded at all but counted as ceil(characters / MAX_TOKEN_BYTES) (no token of either
encoding is longer than 128 bytes, and a character is at least one byte). Such a count is a lower bound
above the cap (`exact` False): "over N tokens". Examples within the cap are counted exactly, and so are the
leading system messages and every message after the first one not fully counted (what truncation may keep).

Speed: tiktoken's `encode_ordinary` in a plain loop (faster than its batch API on chat-sized texts) with
a per-process memo of repeated texts and tool blocks (system prompts, tool definitions repeat a lot).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import msgspec

from pipeline.engine.records import loads_example

TOKENS_PER_MESSAGE, TOKENS_PER_NAME, REPLY_PRIMING = 3, 1, 3
FUNC_INIT = {"o200k_base": 7, "cl100k_base": 10}
PROP_INIT, PROP_KEY, ENUM_INIT, ENUM_ITEM, FUNC_END = 3, 3, -3, 3, 12
TOOL_CALL_OVERHEAD = 10
IMAGE_TOKENS, IMAGE_TOKENS_LOW = 1445, 85
MAX_TOKEN_BYTES = 128  # the longest token of o200k_base and cl100k_base, in bytes
FULL_COUNT_CHARS_PER_TOKEN = 16  # examples up to this many characters per token of the limit are counted in full
_MEMO_CHARS = 16_000_000  # memo budget per counter (characters of keys); cleared when exceeded

# OpenAI's default-epochs rule (fine-tuning data-prep cookbook; n_epochs="auto")
TARGET_EPOCHS, MIN_TARGET_EXAMPLES, MAX_TARGET_EXAMPLES = 3, 100, 25_000
MIN_DEFAULT_EPOCHS, MAX_DEFAULT_EPOCHS = 1, 25


def _compact(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def capped(text: str, limit: int) -> int | None:
    """The cap to count the example `text` with: None (count in full) unless it is long for `limit`."""
    return limit if len(text) > FULL_COUNT_CHARS_PER_TOKEN * limit else None


@dataclass(frozen=True)
class ExampleCount:
    total: int           # billed tokens of the example (messages + tools + reply priming)
    assistant: int       # trained tokens (assistant messages with weight != 0)
    messages: list[int]  # per message, framing included
    fixed: int           # tools/functions block + reply priming
    exact: bool = True   # False: counting stopped over the cap, total and assistant are lower bounds
    first_exact: int = 0  # messages[i] is counted exactly for i >= first_exact (and the leading system ones)


class ChatTokenCounter:
    """Counts examples (parsed OpenAI chat objects) with one tiktoken encoding."""

    def __init__(self, encoding, encoding_name: str):
        self._encoding = encoding
        core = getattr(encoding, "_core_bpe", None)  # tiktoken's Rust encoder, without the Python wrapper
        self._core_encode = core.encode_ordinary if core is not None else encoding.encode_ordinary
        self.func_init = FUNC_INIT.get(encoding_name, max(FUNC_INIT.values()))
        self._memo: dict[str, int] = {}        # text -> tokens
        self._tools_memo: dict[str, int] = {}  # tools JSON -> tokens
        self._memo_chars = 0

    def text(self, text: str) -> int:
        n = self._memo.get(text)
        if n is None:
            n = self._remember(self._memo, text, len(self._encode(text)))
        return n

    def _encode(self, text: str) -> list[int]:
        try:
            return self._core_encode(text)
        except UnicodeEncodeError:  # lone surrogates: tiktoken's encode_ordinary handles them
            return self._encoding.encode_ordinary(text)

    def _remember(self, memo: dict[str, int], key: str, n: int) -> int:
        if self._memo_chars + len(key) > _MEMO_CHARS:
            self._memo.clear()
            self._tools_memo.clear()
            self._memo_chars = 0
        memo[key] = n
        self._memo_chars += len(key)
        return n

    # ------------------------------------------------------------------ messages
    def content(self, content) -> int:
        if content is None:
            return 0
        if isinstance(content, str):
            return self.text(content)
        if isinstance(content, list):
            return sum(self._part(p) for p in content)
        return self.text(_compact(content))

    def _part(self, part) -> int:
        if isinstance(part, dict):
            kind = part.get("type")
            if kind == "text" and isinstance(part.get("text"), str):
                return self.text(part["text"])
            if kind == "image_url":
                image = part.get("image_url")
                low = isinstance(image, dict) and image.get("detail") == "low"
                return IMAGE_TOKENS_LOW if low else IMAGE_TOKENS
        if isinstance(part, str):
            return self.text(part)
        return self.text(_compact(part))

    def _call(self, call, wrapped: bool) -> tuple[int, int]:
        """(tokens, written tokens) of one tool call ({"function": {...}}) or a legacy function_call."""
        fn = call.get("function", {}) if wrapped and isinstance(call, dict) else call
        if not isinstance(fn, dict):
            n = self.text(_compact(fn))
            return TOOL_CALL_OVERHEAD + n, n
        name, args = fn.get("name"), fn.get("arguments")
        written = self.text(name if isinstance(name, str) else _compact(name))
        written += self.text(args if isinstance(args, str) else _compact(args)) if args is not None else 0
        return TOOL_CALL_OVERHEAD + written, written

    def message(self, message) -> tuple[int, int]:
        """(tokens with framing, tokens the assistant writes) of one message."""
        if not isinstance(message, dict):
            return TOKENS_PER_MESSAGE + self.text(_compact(message)), 0
        n, written = TOKENS_PER_MESSAGE, 0
        for key, value in message.items():
            if value is None or key == "weight":
                continue
            if key == "content":
                c = self.content(value)
                n, written = n + c, written + c
            elif key == "tool_calls" and isinstance(value, list):
                for call in value:
                    t, w = self._call(call, wrapped=True)
                    n, written = n + t, written + w
            elif key == "function_call":
                t, w = self._call(value, wrapped=False)
                n, written = n + t, written + w
            elif isinstance(value, str):
                n += self.text(value) + (TOKENS_PER_NAME if key == "name" else 0)
            else:
                n += self.text(_compact(value))
        trained = message.get("role") == "assistant" and message.get("weight", 1) != 0
        return n, written if trained else 0

    # ------------------------------------------------------------------ tools
    def tools(self, example: dict) -> int:
        """Tokens of the tools / legacy functions definitions (an approximation, see the module doc)."""
        def as_list(value) -> list:
            return value if isinstance(value, list) else [] if value is None else [value]

        functions = [t.get("function", t) if isinstance(t, dict) else t for t in as_list(example.get("tools"))]
        functions += as_list(example.get("functions"))
        if not functions:
            return 0
        key = _compact(functions)
        n = self._tools_memo.get(key)
        if n is None:
            n = self._remember(self._tools_memo, key, sum(self._function(f) for f in functions) + FUNC_END)
        return n

    def _function(self, fn) -> int:
        if not isinstance(fn, dict):
            return self.func_init + self.text(_compact(fn))
        desc = str(fn.get("description") or "").removesuffix(".")
        n = self.func_init + self.text(f"{fn.get('name', '')}:{desc}")
        params = fn.get("parameters") if isinstance(fn.get("parameters"), dict) else {}
        props = params.get("properties") if isinstance(params.get("properties"), dict) else {}
        if props:
            n += PROP_INIT
        for key, schema in props.items():
            n += PROP_KEY + self._property(key, schema if isinstance(schema, dict) else {"type": schema})
        extra = {k: v for k, v in params.items() if k not in ("type", "properties", "required")}
        extra.update({k: v for k, v in fn.items() if k not in ("name", "description", "parameters")})
        return n + (self.text(_compact(extra)) if extra else 0)

    def _property(self, key: str, schema: dict) -> int:
        n = 0
        if isinstance(schema.get("enum"), list):
            n += ENUM_INIT + sum(ENUM_ITEM + self.text(str(item)) for item in schema["enum"])
        kind = schema.get("type", "")
        kind = "|".join(map(str, kind)) if isinstance(kind, list) else str(kind)
        desc = str(schema.get("description") or "").removesuffix(".")
        n += self.text(f"{key}:{kind}:{desc}")
        extra = {k: v for k, v in schema.items() if k not in ("type", "description", "enum")}
        return n + (self.text(_compact(extra)) if extra else 0)

    # ------------------------------------------------------------------ examples
    def example(self, example: dict, cap: int | None = None) -> ExampleCount:
        """The example's count; with `cap`, counting stops once it is certainly over cap (see the module doc)."""
        messages = example.get("messages")
        if cap is not None:
            return self._capped(messages if isinstance(messages, list) else [], self.tools(example) + REPLY_PRIMING,
                                cap)
        per_message, assistant = [], 0
        memo, core = self._memo, self._core_encode
        for m in messages if isinstance(messages, list) else []:
            # the usual message, {"role": str, "content": str}, counted as message() would, inline
            if type(m) is dict and len(m) == 2 and type(c := m.get("content")) is str and type(
                    r := m.get("role")) is str:
                w = memo.get(c)
                if w is None:  # text() inline: most contents are new
                    try:
                        w = len(core(c))
                    except UnicodeEncodeError:
                        w = len(self._encoding.encode_ordinary(c))
                    if self._memo_chars + len(c) > _MEMO_CHARS:
                        self._remember(memo, c, w)  # which empties the memos first
                    else:
                        memo[c] = w
                        self._memo_chars += len(c)
                role = memo.get(r)
                if role is None:
                    role = self._remember(memo, r, len(self._encode(r)))
                per_message.append(TOKENS_PER_MESSAGE + role + w)
                if r == "assistant":
                    assistant += w
                continue
            n, w = self.message(m)
            per_message.append(n)
            assistant += w
        fixed = self.tools(example) + REPLY_PRIMING
        return ExampleCount(sum(per_message) + fixed, assistant, per_message, fixed)


    def plain(self, messages: list[_PlainMessage]) -> tuple[int, int, int, bool]:
        """count_batch's (total, assistant, n_messages, exact) of an example that is only `messages`, each
        {"role": str, "content": str}: example()'s count (no tools block, every message inline)."""
        memo, total, assistant = self._memo, REPLY_PRIMING, 0
        for m in messages:
            c, r = m.content, m.role
            w = memo.get(c)
            if w is None:
                w = self._remember(memo, c, len(self._encode(c)))
            role = memo.get(r)
            if role is None:
                role = self._remember(memo, r, len(self._encode(r)))
            total += TOKENS_PER_MESSAGE + role + w
            if r == "assistant":
                assistant += w
        return total, assistant, len(messages), True

    def _capped(self, messages: list, fixed: int, cap: int) -> ExampleCount:
        head = 0
        while head < len(messages) and isinstance(messages[head], dict) and messages[head].get("role") == "system":
            head += 1
        per_message, written = [TOKENS_PER_MESSAGE] * len(messages), [0] * len(messages)
        counted, first_exact = fixed, 0
        for i in [*range(head), *range(len(messages) - 1, head - 1, -1)]:
            if counted > cap:
                first_exact = i + 1 if i >= head else len(messages)
                break
            per_message[i], written[i], whole = self._message_within(messages[i], cap - counted)
            counted += per_message[i]
            if not whole:
                first_exact = i + 1 if i >= head else len(messages)
                break
        return ExampleCount(sum(per_message) + fixed, sum(written), per_message, fixed, first_exact == 0, first_exact)

    def _message_within(self, message, budget: int) -> tuple[int, int, bool]:
        """message()'s (tokens, written) and True; or, when its content text alone cannot fit in `budget`,
        a lower bound from the text's length without encoding it, and False."""
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str) and TOKENS_PER_MESSAGE + len(content) // MAX_TOKEN_BYTES > budget:
            at_least = -(-len(content) // MAX_TOKEN_BYTES)
            trained = message.get("role") == "assistant" and message.get("weight", 1) != 0
            return TOKENS_PER_MESSAGE + at_least, at_least if trained else 0, False
        return *self.message(message), True


# ---------------------------------------------------------------------- batches (also run in worker processes)
class _PlainMessage(msgspec.Struct, forbid_unknown_fields=True):
    role: str
    content: str


class _PlainChat(msgspec.Struct, forbid_unknown_fields=True):
    """An example that is only `messages`, each exactly a string role and a string content (a repeated key's
    last value, as json.loads): the usual example, decoded in C into just that."""

    messages: list[_PlainMessage]


_DECODE_PLAIN = msgspec.json.Decoder(_PlainChat).decode

_COUNTERS: dict[tuple[str, str], ChatTokenCounter] = {}


def counter_for(encoding_name: str, project_cache: str) -> ChatTokenCounter:
    key = (encoding_name, project_cache)
    if key not in _COUNTERS:
        from pathlib import Path

        from pipeline.chat.encodings import get_encoding

        _COUNTERS[key] = ChatTokenCounter(get_encoding(encoding_name, Path(project_cache)), encoding_name)
    return _COUNTERS[key]


def count_batch(encoding_name: str, project_cache: str, texts: list[str],
                limit: int | None = None) -> list[tuple[int, int, int, bool] | None]:
    """(total, assistant, n_messages, exact) per example JSON text, a long one's counting stopped once over
    `limit` (see `capped`); None when it is not a JSON object with a `messages` list. Pure and picklable: the
    unit of work of the process pool."""
    counter = counter_for(encoding_name, project_cache)
    out: list[tuple[int, int, int] | None] = []
    for text in texts:
        if limit is None or capped(text, limit) is None:
            try:
                messages = _DECODE_PLAIN(text).messages
            except (msgspec.DecodeError, msgspec.ValidationError):
                pass  # any other example (tools, weights, parts, what msgspec refuses): the general path
            else:
                out.append(counter.plain(messages))
                continue
        obj = chat_object(text)
        if obj is None:
            out.append(None)
            continue
        c = counter.example(obj, None if limit is None else capped(text, limit))
        out.append((c.total, c.assistant, len(c.messages), c.exact))
    return out


def chat_object(text: str) -> dict | None:
    """The example JSON text parsed, or None when it is not a JSON object with a `messages` list."""
    try:
        obj = loads_example(text)
    except (TypeError, ValueError):
        return None
    return obj if isinstance(obj, dict) and isinstance(obj.get("messages"), list) else None


# ---------------------------------------------------------------------- training estimate
def default_epochs(n_train_examples: int) -> int:
    """The number of epochs OpenAI picks for n_epochs="auto" (fine-tuning data-prep cookbook rule)."""
    if n_train_examples <= 0:
        return 0
    if n_train_examples * TARGET_EPOCHS < MIN_TARGET_EXAMPLES:
        return min(MAX_DEFAULT_EPOCHS, MIN_TARGET_EXAMPLES // n_train_examples)
    if n_train_examples * TARGET_EPOCHS > MAX_TARGET_EXAMPLES:
        return max(MIN_DEFAULT_EPOCHS, MAX_TARGET_EXAMPLES // n_train_examples)
    return TARGET_EPOCHS


def training_estimate(n_tokens, limit: int, price_per_million: float | None,
                      n_epochs: int | None = None) -> dict:
    """Billed tokens and cost of training on examples with these token counts (call it on the TRAIN
    split: OpenAI bills only the training file). Each example is billed up to `limit` tokens (longer
    ones are truncated by OpenAI), per epoch. JSON-able."""
    counts = [int(n) for n in n_tokens]
    return estimate_from_sums(len(counts), sum(min(n, limit) for n in counts), price_per_million, n_epochs)


def estimate_from_sums(n_examples: int, billed_tokens_per_epoch: int, price_per_million: float | None,
                       n_epochs: int | None = None) -> dict:
    """training_estimate from its two sums (examples, tokens billed per epoch): what adds up over chunks."""
    epochs = n_epochs if n_epochs is not None else default_epochs(n_examples)
    billed = billed_tokens_per_epoch * epochs
    cost = None if price_per_million is None else round(billed * price_per_million / 1_000_000, 4)
    return {"n_examples": n_examples, "n_epochs": epochs, "epochs_rule": "auto" if n_epochs is None else "fixed",
            "billed_tokens_per_epoch": billed_tokens_per_epoch, "billed_tokens": billed,
            "price_per_million": price_per_million, "cost_usd": cost}
