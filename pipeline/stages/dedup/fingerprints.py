"""Per-example fingerprints for dedup: what makes two conversations the same, or nearly the same.

  exact     blake2b of the normalized conversation: every message with its role, name, content and
            tool calls, plus the top-level tools/functions/parallel_tool_calls; every string casefolded
            and whitespace-collapsed; tool-call ids, tool_call_id and weight left out (random ids and
            training weights do not make a conversation different): chat/message_equality.py, which
            heuristics' identical_pair compares a pair's replies with.
  prompt    the same over the messages before the last assistant message (None without one):
            one question with several answers shares it.
  near_key  hash of the near-duplicate token sequence (None when it has no words); equal keys mean
            Jaccard 1.0 without running LSH.
  tokens    for near-duplicates: a role marker + the words of each message (content text, tool-call
            names and arguments). System messages are left out unless include_system: a long system
            prompt shared by every example would otherwise make unrelated conversations look alike;
            top-level tool definitions are left out for the same reason.
  n_chars   characters of message text and tool-call arguments (the `keep: longest` measure).

A preference pair is keyed on prompt + chosen (issue 16): two exported pairs with the same prompt and
preferred reply teach the same preference twice. Pairs built from ratings (`signal: ratings`) are the
exception: the layout deliberately pairs one better reply against several worse ones (up to
`max_pairs_per_prompt`), so their rejected reply is part of the exact key and of the near tokens (after a
marker of its own), never of n_chars; their prompt key is marked (RATINGS_PROMPT) so that the stage makes no
near-duplicate link between two ratings pairs of one prompt: the layout made them distinct on purpose, and a
short rejected reply adds too few shingles to keep two such pairs under the threshold.

Work is done per batch of examples (`fingerprint_batch`), as tasks on the run's Executor when the
input is large; results do not depend on the number of workers. In a batch, Python makes one pass over each
example's messages (parse, casefold, exact/prompt keys) and writes the near tokens' texts to a TokenStream;
the whole batch's texts are then split and hashed at once (near_duplicates/token_stream.py), and shingles
and signatures computed with numpy. tests/test_dedup_fast_path.py holds the plain per-example reference
this must equal.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np
import polars as pl

from pipeline.chat import preference
from pipeline.chat.message_equality import message_key, normalized
from pipeline.engine.executor import Executor, SerialExecutor
from pipeline.stages.dedup.near_duplicates.pairs import packed_jaccard
from pipeline.stages.dedup.near_duplicates.shingles import TokenHasher, shingle_ids
from pipeline.stages.dedup.near_duplicates.signatures import SignatureRows, minhash_signatures
from pipeline.stages.dedup.near_duplicates.token_stream import TokenStream

BATCH = 2000
SETS_PER_TASK = BATCH  # rows shingled per verification task (larger batches are slower per row)
_HASHER = TokenHasher()
_TOP_LEVEL = ("tools", "functions", "parallel_tool_calls")


RATINGS_PROMPT = "ratings:"  # the prompt key of a pair built from ratings starts with it


@dataclass(frozen=True)
class FingerprintSpec:
    shingle_size: int
    num_perm: int
    seed: int
    include_system: bool
    signatures: bool = True


@dataclass
class Fingerprints:
    exact: list[str] | pl.Series         # a Series when read back from the runner's feature columns
    prompt: list[str | None] | pl.Series
    near_key: list[str | None] | pl.Series
    n_chars: np.ndarray
    signatures: np.ndarray | SignatureRows  # (examples x num_perm) uint32; rows without words: EMPTY values

    def to_frame(self) -> pl.DataFrame:
        """Columns FEATURE_COLUMNS (the signature as a fixed-size array column), for the runner to carry."""
        cols = {"__fp_exact": pl.Series(self.exact, dtype=pl.Utf8), "__fp_prompt": pl.Series(self.prompt, dtype=pl.Utf8),
                "__fp_near": pl.Series(self.near_key, dtype=pl.Utf8), "__fp_chars": pl.Series(self.n_chars, dtype=pl.Int64)}
        if self.signatures.shape[1]:
            cols["__fp_sig"] = pl.Series(self.signatures, dtype=pl.Array(pl.UInt32, self.signatures.shape[1]))
        return pl.DataFrame(cols)

    @staticmethod
    def from_frame(frame: pl.DataFrame, num_perm: int) -> Fingerprints:
        # keys stay polars Series (no Python string per row); the signatures stay in the column's chunks (one per
        # part: the runner does not rechunk the features), each viewed as a (rows x num_perm) array without a copy
        sig = (SignatureRows([c.to_numpy().astype(np.uint32, copy=False).reshape(c.len(), num_perm)
                              for c in frame["__fp_sig"].get_chunks()], None, num_perm)
               if "__fp_sig" in frame.columns else np.empty((frame.height, 0), np.uint32))
        return Fingerprints(frame["__fp_exact"], frame["__fp_prompt"], frame["__fp_near"],
                            frame["__fp_chars"].to_numpy(), sig)

    @staticmethod
    def concat(parts: list[Fingerprints], num_perm: int) -> Fingerprints:
        if not parts:
            return Fingerprints([], [], [], np.empty(0, np.int64), np.empty((0, num_perm), np.uint32))
        return Fingerprints(
            [x for p in parts for x in p.exact], [x for p in parts for x in p.prompt],
            [x for p in parts for x in p.near_key], np.concatenate([p.n_chars for p in parts]),
            np.concatenate([p.signatures for p in parts]),
        )


def _parse(example: str) -> tuple[list, dict]:
    try:
        obj = json.loads(example)
    except (TypeError, ValueError):
        return [{"role": "unknown", "content": str(example)}], {}
    if not isinstance(obj, dict):
        return [{"role": "unknown", "content": example}], {}
    messages = obj.get("messages")
    return (messages if isinstance(messages, list) else []), obj


def _collapsed(text: str) -> str:
    """`' '.join(text.split())`, without splitting a text that has nothing to collapse: a printable text holds
    no whitespace but ' ' (every other whitespace character is unprintable)."""
    if text.isprintable() and "  " not in text and text[:1] != " " and text[-1:] != " ":
        return text
    return " ".join(text.split())


def _plain_key(message, role, folded: str | None) -> str | None:
    """Fast key of a plain text message (role, content, optional name); None for anything else.
    `folded` is the message's content casefolded (None when content is not a string)."""
    name = message.get("name", "")
    if folded is None or not (isinstance(role, str) and isinstance(name, str)):
        return None
    if len(message) - ("name" in message) - ("weight" in message) != 2:
        return None
    return f"P{role}\x1f{_collapsed(name.casefold()) if name else ''}\x1f{_collapsed(folded)}"


def _json_part(message) -> str:
    return "J" + json.dumps(message_key(message), sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _message_part(message, folded: str | None) -> str:
    """A message's share of the exact / prompt digest. Plain text messages take a fast path, others
    (tool calls, content parts, ...) canonical JSON; which path a message takes depends only on its
    normalized content, so equal conversations always get equal digests."""
    key = _plain_key(message, message.get("role"), folded) if isinstance(message, dict) else None
    return _json_part(message) if key is None else key


def _top_part(obj: dict) -> list[str]:
    if obj.keys().isdisjoint(_TOP_LEVEL):
        return []
    top = {k: normalized(obj[k]) for k in _TOP_LEVEL if k in obj}
    return ["T" + json.dumps(top, sort_keys=True, ensure_ascii=False, separators=(",", ":"))] if top else []


def _digest(parts: list[str]) -> str:
    text = "\x1e".join(parts)
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def _digests(parts: list[str], last: int, top: list[str], exact_top: list[str]) -> tuple[str, str]:
    """(_digest(parts + exact_top), _digest(parts[:last] + top)) for 0 < last < len(parts), hashing the
    shared prefix parts[:last] once."""
    prefix = hashlib.blake2b("\x1e".join(parts[:last]).encode("utf-8", "surrogatepass"), digest_size=16)
    prompt = prefix.copy()
    if top:
        prompt.update(("\x1e" + "\x1e".join(top)).encode("utf-8", "surrogatepass"))
    prefix.update(("\x1e" + "\x1e".join(parts[last:] + exact_top)).encode("utf-8", "surrogatepass"))
    return prefix.hexdigest(), prompt.hexdigest()


def _content_text(content) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def _call_texts(message: dict) -> list[str]:
    calls = [c.get("function") for c in message.get("tool_calls") or [] if isinstance(c, dict)]
    if isinstance(message.get("function_call"), dict):
        calls.append(message["function_call"])
    out = []
    for fn in calls:
        if isinstance(fn, dict):
            out += [str(fn.get("name") or ""), fn["arguments"] if isinstance(fn.get("arguments"), str)
                    else json.dumps(fn.get("arguments"), ensure_ascii=False, sort_keys=True)]
    return out


def _rejected_keys(message) -> tuple[str, list[str]]:
    """A rejected reply's share of its pair's exact digest, and its casefolded texts (content, tool calls)."""
    if not isinstance(message, dict):
        return "R" + _message_part(message, None), []
    content = message.get("content")
    folded = _content_text(content).casefold()
    texts = [folded, *(call.casefold() for call in _call_texts(message))]
    return "R" + _message_part(message, folded if isinstance(content, str) else None), texts


def _example_keys(example: str, include_system: bool, stream: TokenStream, keys: bool = True):
    """(exact digest, prompt digest or None, characters), with the example's near tokens written to `stream`
    (a role marker, then the message's casefolded text and tool calls, for each message that counts):
    one pass over the messages, each message's text casefolded once. keys=False: the tokens only."""
    messages, obj = _parse(example)
    # every string parsed from a JSON object text without escapes and unprintable characters is printable, and so
    # is its casefolded form: its only whitespace is ' ' (no isprintable scan per message in _collapsed)
    printable = (bool(obj) and isinstance(example, str) and "\\" not in example
                 and (example.isascii() or example.isprintable()))
    parts: list[str] = []
    n_chars = 0
    last = 0
    markers, texts = stream.markers, stream.texts
    add_marker, add_text = markers.append, texts.append
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            if keys:
                parts.append(_json_part(m))
            continue
        role, content = m.get("role"), m.get("content")
        if role == "assistant":
            last = i
        if len(m) == 2 and isinstance(content, str) and isinstance(role, str):  # just role and content: most messages
            folded = content.casefold()
            if keys:
                key = (folded if printable and "  " not in folded and folded[:1] != " " and folded[-1:] != " "
                       else _collapsed(folded))
                parts.append(f"P{role}\x1f\x1f{key}")   # what _plain_key gives it
                n_chars += len(content)
            if role != "system" or include_system:
                add_marker(f"\x00{role}")
                add_text(folded)
            continue
        calls = _call_texts(m) if "tool_calls" in m or "function_call" in m else ()
        if isinstance(content, str):
            folded = content.casefold()
            if keys:
                parts.append(_plain_key(m, role, folded) or _json_part(m))
                n_chars += len(content) + sum(map(len, calls))
        else:
            raw = _content_text(content)
            folded = raw.casefold()
            if keys:
                parts.append(_json_part(m))
                n_chars += len(raw) + sum(map(len, calls))
        if role == "system" and not include_system:
            continue
        add_marker(f"\x00{role}")  # a marker the token regex can never produce
        add_text(folded)
        if calls:
            stream.extra[len(markers) - 1] = 1 + len(calls)
            texts.extend(call.casefold() for call in calls)
    ratings = preference.is_preference(obj) and preference.signal(obj) == "ratings"
    if ratings:
        rejected_part, rejected_texts = _rejected_keys(preference.rejected(obj))
        add_marker("\x00rejected")
        stream.extra[len(markers) - 1] = len(rejected_texts)
        texts.extend(rejected_texts)
    stream.end_example()
    if not keys:
        return None, None, 0
    top = _top_part(obj)
    exact_top = [*top, rejected_part] if ratings else top
    if last == 0:
        return _digest(parts + exact_top), None, n_chars
    exact, prompt = _digests(parts, last, top, exact_top)
    return exact, (RATINGS_PROMPT + prompt if ratings else prompt), n_chars


def _batch_tokens(examples: list[str], spec: FingerprintSpec, keys: bool = True):
    """(exact, prompt, n_chars) per example (None / 0 with keys=False), then all near-token hashes of the
    batch concatenated and the token count of each example."""
    stream = TokenStream()
    exact, prompt, n_chars = [], [], []
    for example in examples:
        e, p, c = _example_keys(example, spec.include_system, stream, keys)
        exact.append(e)
        prompt.append(p)
        n_chars.append(c)
    hashes, lengths = stream.hashes(_HASHER)
    return exact, prompt, n_chars, hashes, lengths


def fingerprint_batch(examples: list[str], spec: FingerprintSpec) -> Fingerprints:
    exact, prompt, n_chars, hashes, lengths = _batch_tokens(examples, spec)
    ends = np.cumsum(lengths)
    view = memoryview(hashes.view(np.uint8))
    near_key = [hashlib.blake2b(view[8 * (e - n):8 * e], digest_size=16).hexdigest() if n else None
                for n, e in zip(lengths.tolist(), ends.tolist())]
    if spec.signatures:
        ids, counts = shingle_ids(hashes, lengths, spec.shingle_size)
        sig = minhash_signatures(ids, counts, spec.num_perm, spec.seed)
    else:
        sig = np.empty((len(examples), 0), np.uint32)
    return Fingerprints(exact, prompt, near_key, np.array(n_chars, dtype=np.int64), sig)


def packed_shingle_sets(examples: list[str], spec: FingerprintSpec) -> tuple[np.ndarray, np.ndarray]:
    """The sorted unique shingle ids of each example, concatenated (uint32), and how many each has: one
    verification task (a batch's sets made unique at once, keyed by example)."""
    _, _, _, hashes, lengths = _batch_tokens(examples, spec, keys=False)
    ids, counts = shingle_ids(hashes, lengths, spec.shingle_size)
    keyed = np.sort(np.repeat(np.arange(len(counts), dtype=np.uint64), counts) << np.uint64(32) | ids)
    if keyed.size:   # sort + adjacent compare: numpy 2's np.unique hashes first, ~4x slower on millions of ids
        first = np.empty(keyed.size, bool)
        first[0] = True
        np.not_equal(keyed[1:], keyed[:-1], out=first[1:])
        keyed = keyed[first]
    return (keyed & np.uint64(0xFFFFFFFF)).astype(np.uint32), np.bincount(
        (keyed >> np.uint64(32)).astype(np.int64), minlength=len(counts)).astype(np.int64)


def shingle_set_batch(examples: list[str], spec: FingerprintSpec) -> list[np.ndarray]:
    """Sorted unique shingle ids of each example (for exact Jaccard)."""
    ids, counts = packed_shingle_sets(examples, spec)
    return np.split(ids, np.cumsum(counts)[:-1]) if len(counts) else []


def _batches(examples, size: int):
    """Lists of at most `size` example texts from a list or a polars Series (sliced lazily, so a large
    frame's text is never copied into Python all at once)."""
    for i in range(0, len(examples), size):
        part = examples[i:i + size]
        yield part if isinstance(part, list) else part.to_list()


def _run_batches(fn, examples, spec: FingerprintSpec, executor: Executor | None, progress=None) -> list:
    n_batches = -(-len(examples) // BATCH)
    executor = executor or SerialExecutor()
    workers = executor.workers_for(len(examples), n_batches)
    bar = progress(total=len(examples), desc="dedup: fingerprints", unit="ex") if progress else None
    results = []
    try:
        tasks = ((batch, spec) for batch in _batches(examples, BATCH))
        for r in executor.map(fn, tasks, workers):
            results.append(r)
            if bar is not None:
                bar.update(_size(r))
    finally:
        if bar is not None:
            bar.close()
    return results


def _size(result) -> int:
    return len(result.exact) if isinstance(result, Fingerprints) else len(result)


def fingerprint_examples(examples, spec: FingerprintSpec, executor: Executor | None = None,
                         progress=None) -> Fingerprints:
    """Fingerprints of `examples` (a list of example JSON texts or a polars Utf8 Series), in order."""
    return Fingerprints.concat(_run_batches(fingerprint_batch, examples, spec, executor, progress), spec.num_perm)


def shingle_sets(examples, spec: FingerprintSpec, executor: Executor | None = None) -> list[np.ndarray]:
    return [s for part in _run_batches(shingle_set_batch, examples, spec, executor) for s in part]


def pair_jaccard(left: np.ndarray, right: np.ndarray, texts_of, spec: FingerprintSpec,
                 executor: Executor | None = None) -> np.ndarray:
    """Exact Jaccard of each candidate pair of rows, `texts_of(rows)` giving the rows' texts (read once). Every
    row is shingled once, SETS_PER_TASK rows a task (on the executor when there are enough), and only the
    compact shingle sets come back; the pairs are then compared at once (pairs.packed_jaccard)."""
    if not len(left):
        return np.empty(0, np.float64)
    rows = np.unique(np.concatenate([left, right]))
    texts = texts_of(rows)
    executor = executor or SerialExecutor()
    n_tasks = -(-len(rows) // SETS_PER_TASK)
    workers = executor.workers_for(len(rows), n_tasks)
    tasks = ((texts[i:i + SETS_PER_TASK], spec) for i in range(0, len(rows), SETS_PER_TASK))
    ids, counts = [], []
    for task_ids, task_counts in executor.map(packed_shingle_sets, tasks, workers):
        ids.append(task_ids)
        counts.append(task_counts)
    del texts
    return packed_jaccard(np.concatenate(ids), np.concatenate(counts),
                          np.searchsorted(rows, left), np.searchsorted(rows, right))
