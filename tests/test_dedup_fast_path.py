"""dedup's vectorised fingerprints equal a straightforward reference, example by example.

The reference below is dedup's per-example algorithm written plainly (it is what fingerprints.py computed
before the batch-wide fast path): parse, casefold, keys with `" ".join(text.split())`, `TOKEN.findall` per
text, blake2b per token, shingle ids in Python integers, datasketch's MinHash per document. The fast path
(near_duplicates/token_stream.py, fingerprints.py) must give the same digests, near keys, character
counts, signatures and shingle sets, or the outputs would change.
"""

from __future__ import annotations

import csv
import hashlib
import json

import numpy as np
from datasketch import MinHash
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.chat.message_equality import message_key, normalized
from pipeline.stages.dedup.fingerprints import FingerprintSpec, _collapsed, fingerprint_examples, shingle_sets
from pipeline.stages.dedup.near_duplicates.shingles import _POSITION, TOKEN, TokenHasher
from pipeline.stages.dedup.near_duplicates.token_stream import TokenStream, char_classes, text_token_hashes

MASK64 = (1 << 64) - 1

# --------------------------------------------------------------------------- the reference


def _ref_parse(example: str):
    try:
        obj = json.loads(example)
    except (TypeError, ValueError):
        return [{"role": "unknown", "content": str(example)}], {}
    if not isinstance(obj, dict):
        return [{"role": "unknown", "content": example}], {}
    messages = obj.get("messages")
    return (messages if isinstance(messages, list) else []), obj


def _ref_content_text(content) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def _ref_call_texts(message: dict) -> list[str]:
    calls = [c.get("function") for c in message.get("tool_calls") or [] if isinstance(c, dict)]
    if isinstance(message.get("function_call"), dict):
        calls.append(message["function_call"])
    out = []
    for fn in calls:
        if isinstance(fn, dict):
            args = fn.get("arguments")
            out += [str(fn.get("name") or ""),
                    args if isinstance(args, str) else json.dumps(args, ensure_ascii=False, sort_keys=True)]
    return out


def _ref_part(message, folded: str | None) -> str:
    if isinstance(message, dict) and folded is not None:
        role, name = message.get("role"), message.get("name", "")
        if isinstance(role, str) and isinstance(name, str) and \
                len(message) - ("name" in message) - ("weight" in message) == 2:
            return f"P{role}\x1f{' '.join(name.casefold().split())}\x1f{' '.join(folded.split())}"
    return "J" + json.dumps(message_key(message), sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _ref_digest(parts: list[str]) -> str:
    return hashlib.blake2b("\x1e".join(parts).encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def _ref_tokens(message: dict) -> list[str]:
    found = TOKEN.findall(_ref_content_text(message.get("content")).casefold())
    for call in _ref_call_texts(message):
        found += TOKEN.findall(call.casefold())
    return found


def reference(example: str, include_system: bool):
    """(exact, prompt, near tokens, n_chars) the plain way."""
    messages, obj = _ref_parse(example)
    parts, toks, n_chars, words, last = [], [], 0, 0, 0
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            parts.append(_ref_part(m, None))
            continue
        if m.get("role") == "assistant":
            last = i
        content = m.get("content")
        text = _ref_content_text(content)
        parts.append(_ref_part(m, text.casefold() if isinstance(content, str) else None))
        n_chars += len(text) + sum(len(t) for t in _ref_call_texts(m))
        if m.get("role") == "system" and not include_system:
            continue
        found = _ref_tokens(m)
        words += len(found)
        toks += [f"\x00{m.get('role')}", *found]
    top = {k: normalized(obj[k]) for k in ("tools", "functions", "parallel_tool_calls") if k in obj}
    top = ["T" + json.dumps(top, sort_keys=True, ensure_ascii=False, separators=(",", ":"))] if top else []
    prompt = _ref_digest(parts[:last] + top) if last > 0 else None
    pref = obj.get("preference")
    if isinstance(pref, dict) and str(pref.get("signal") or "explicit") == "ratings":
        rejected = pref["rejected"]
        if isinstance(rejected, dict):
            content = rejected.get("content")
            part = _ref_part(rejected, _ref_content_text(content).casefold() if isinstance(content, str) else None)
            found = _ref_tokens(rejected)
        else:
            part, found = _ref_part(rejected, None), []
        prompt = None if prompt is None else "ratings:" + prompt
        top = [*top, "R" + part]
        words += len(found)
        toks += ["\x00rejected", *found]
    return _ref_digest(parts + top), prompt, (toks if words else []), n_chars


def _token_hash(token: str) -> int:
    return int.from_bytes(hashlib.blake2b(token.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")


def _fmix64(h: int) -> int:
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & MASK64
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & MASK64
    return h ^ (h >> 33)


def reference_shingles(hashes: list[int], k: int) -> list[int]:
    windows = [hashes[i:i + k] for i in range(len(hashes) - k + 1)] if len(hashes) >= k else [hashes] if hashes else []
    return [_fmix64(sum(h * int(p) for h, p in zip(w, _POSITION)) & MASK64) >> 32 for w in windows]


def reference_signature(ids: list[int], num_perm: int, seed: int) -> np.ndarray:
    if not ids:
        return np.full(num_perm, 0xFFFFFFFF, np.uint32)
    mh = MinHash(num_perm=num_perm, seed=seed, hashfunc=lambda v: v)
    mh.update_batch(ids)
    return np.asarray(mh.hashvalues, np.uint32)


def assert_fast_path_equals_reference(examples: list[str], include_system: bool, k: int = 3, num_perm: int = 32):
    spec = FingerprintSpec(k, num_perm, 1, include_system)
    fast = fingerprint_examples(examples, spec)
    sets = shingle_sets(examples, FingerprintSpec(k, num_perm, 1, include_system, False))
    for i, example in enumerate(examples):
        exact, prompt, toks, n_chars = reference(example, include_system)
        hashes = [_token_hash(t) for t in toks]
        ids = reference_shingles(hashes, k)
        near_key = hashlib.blake2b(np.array(hashes, np.uint64).tobytes(), digest_size=16).hexdigest() if toks else None
        assert (fast.exact[i], fast.prompt[i], fast.near_key[i], int(fast.n_chars[i])) == \
            (exact, prompt, near_key, n_chars), example
        assert np.array_equal(fast.signatures[i], reference_signature(ids, num_perm, 1)), example
        assert sets[i].tolist() == sorted(set(ids)), example


# --------------------------------------------------------------------------- random examples

SPECIAL = [" ", "  ", "\t", "\n", "\r\n", "\x0b", "\x1c", "\x1f", "\x85", "\xa0", "\u2003", "\u2028", "\u3000",
           "\x00", "\ud800", "\udfff", "\uffff", "ß", "Σ", "ς", "İ", "ﬁ", "ǅ", "e\u0301", "١٢", "²", "Ⅻ", "_",
           "日本", "語", "ไทย", "ກ", "ｶﾀｶﾅ", "한국어", "😀", "👍🏽", "’", "—", "Straße", "ÉCOLE", "naïve", "x", "ok."]
TEXT = st.lists(st.one_of(st.sampled_from(SPECIAL), st.text(max_size=6), st.sampled_from(["the", "The", "order", "42"])),
                max_size=12).map("".join)
ROLE = st.one_of(st.sampled_from(["user", "assistant", "system", "tool", "User"]), st.none(), st.integers(0, 2))
CALL = st.fixed_dictionaries({"id": st.text(max_size=3), "type": st.just("function"),
                              "function": st.fixed_dictionaries({"name": TEXT, "arguments": st.one_of(
                                  TEXT, st.dictionaries(st.sampled_from(["city", "n"]), st.one_of(TEXT, st.integers())))})})
CONTENT = st.one_of(TEXT, st.none(), st.lists(st.one_of(st.fixed_dictionaries({"type": st.just("text"), "text": TEXT}),
                                                          st.just({"type": "image_url"})), max_size=3))


@st.composite
def messages(draw):
    m = {"role": draw(ROLE), "content": draw(CONTENT)}
    if draw(st.booleans()):
        m = {k: v for k, v in m.items() if draw(st.booleans())}
    for key, value in (("name", st.one_of(TEXT, st.integers())), ("weight", st.sampled_from([0, 1])),
                       ("tool_calls", st.lists(CALL, max_size=2)), ("function_call", CALL.map(lambda c: c["function"])),
                       ("tool_call_id", st.text(max_size=3))):
        if draw(st.integers(0, 5)) == 0:
            m[key] = draw(value)
    return m


@st.composite
def examples(draw):
    kind = draw(st.integers(0, 12))
    if kind == 0:
        return draw(st.sampled_from(["not json", "[1, 2]", '"text"', "{}", '{"messages": 3}']))
    obj = {"messages": draw(st.lists(st.one_of(messages(), st.sampled_from(["a string", 7, None])), max_size=6))}
    if kind == 1:
        obj["tools"] = [{"type": "function", "function": {"name": draw(TEXT), "parameters": {}}}]
    if kind in (2, 3):
        obj["preference"] = {"rejected": draw(st.one_of(messages(), st.just("plain"))),
                             "signal": draw(st.sampled_from(["ratings", "ratings", "explicit", None]))}
    return json.dumps(obj, ensure_ascii=draw(st.booleans()))


@settings(max_examples=300, deadline=None)
@given(batch=st.lists(examples(), min_size=1, max_size=8), include_system=st.booleans(), k=st.integers(1, 4))
def test_fast_path_equals_reference_on_random_examples(batch, include_system, k):
    assert_fast_path_equals_reference(batch, include_system, k)


ASCII = st.text(alphabet=st.sampled_from(list("ab AB,.\n\t'_0")), max_size=40)


@settings(max_examples=100, deadline=None)
@given(texts=st.lists(st.one_of(ASCII, TEXT), max_size=10))
def test_batch_tokens_equal_findall(texts):
    """Both branches (all texts ASCII, or not): the same tokens in the same places as TOKEN.findall."""
    folded = [t.casefold() for t in texts]
    hashes, counts = text_token_hashes(folded, TokenHasher())
    found = [TOKEN.findall(t) for t in folded]
    assert counts.tolist() == [len(f) for f in found]
    assert hashes.tolist() == [_token_hash(t) for f in found for t in f]


def test_every_code_point_is_split_as_findall_splits_it():
    """Every code point, in runs and next to its neighbours: the class table takes what TOKEN takes."""
    every = "".join(map(chr, range(0x110000)))
    texts = [every[i:i + 40_000] for i in range(0, len(every), 40_000)]
    texts += ["a" + every[i:i + 3_000:7] + "b" for i in range(0, len(every), 3_000)]   # mixed with ASCII
    folded = [t.casefold() for t in texts]
    hashes, counts = text_token_hashes(folded, TokenHasher())
    found = [TOKEN.findall(t) for t in folded]
    assert counts.tolist() == [len(f) for f in found]
    assert hashes.tolist() == [_token_hash(t) for f in found for t in f]
    assert char_classes()[ord("a")] == 1 and char_classes()[ord("日")] == 2 and char_classes()[ord(" ")] == 0


def test_collapsed_equals_split_join():
    """The shortcut rests on this: every whitespace character but ' ' is unprintable."""
    assert [c for c in map(chr, range(0x110000)) if c.isspace() and c.isprintable()] == [" "]
    # and casefolding a printable text keeps it printable (fingerprints' per-example shortcut)
    assert [c for c in map(chr, range(0x110000)) if c.isprintable() and not c.casefold().isprintable()] == []
    for text in ["", " ", "a", " a", "a ", "a  b", "a b c", "a\tb", "a\xa0b", "ok.", "\u3000x", "x\x1fy", "a\u2028"]:
        assert _collapsed(text) == " ".join(text.split())


def test_examples_without_words_get_no_tokens_and_markers_stay_in_place():
    stream = TokenStream()
    for markers_texts in ([("\x00user", ["hello there"])], [("\x00user", ["?!"]), ("\x00assistant", [""])],
                          [("\x00user", ["a"]), ("\x00tool", ["x y", "日本"]), ("\x00rejected", [])]):
        for marker, texts in markers_texts:
            stream.markers.append(marker)
            if len(texts) != 1:
                stream.extra[len(stream.markers) - 1] = len(texts)
            stream.texts.extend(texts)
        stream.end_example()
    hashes, lengths = stream.hashes(TokenHasher())
    expected = ["\x00user", "hello", "there"], [], ["\x00user", "a", "\x00tool", "x", "y", "日", "本", "\x00rejected"]
    assert lengths.tolist() == [len(e) for e in expected]
    assert hashes.tolist() == [_token_hash(t) for e in expected for t in e]


# --------------------------------------------------------------------------- real text

def test_fast_path_equals_reference_on_real_files(realdata):
    examples = []
    for lang in ("en", "de", "zh"):
        for line in (realdata / f"xdailydialog/{lang}_test_human.txt").read_text(encoding="utf-8").splitlines()[:60]:
            turns = [t for t in line.split("\t")[0].split("__eou__") if t.strip()]
            examples.append(json.dumps({"messages": [{"role": ("user", "assistant")[i % 2], "content": t}
                                                     for i, t in enumerate(turns)]}, ensure_ascii=False))
    examples += (realdata / "openai-cookbook-ft/drone_training.jsonl").read_text(encoding="utf-8").splitlines()[:40]
    with open(realdata / "persuasionforgood/full_dialog.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))[:400]
    for start in range(0, len(rows), 10):
        examples.append(json.dumps({"messages": [{"role": ("user", "assistant")[int(r["B4"])], "content": r["Unit"]}
                                                 for r in rows[start:start + 12]]}, ensure_ascii=False))
    examples += examples[:5]                                   # exact duplicates
    assert_fast_path_equals_reference(examples, include_system=False, num_perm=64)
    assert_fast_path_equals_reference(examples[:100], include_system=True, num_perm=64)


def test_tokens_around_the_packed_width_are_told_apart():
    """Tokens of up to 8 UTF-8 bytes are compared packed into an integer, longer ones by their bytes."""
    words = ["a", "ab", "abcdefgh", "abcdefghi", "abcdefghj", "abcdefgh1", "éééé", "ééééé", "éééèé", "日本語ab",
             "日本", "x" * 40, "x" * 41, "straße", "strasse", "ab_cd", "😀😀", "a😀", "ǅx"]
    texts = [" ".join(words), "-".join(reversed(words)), "", "abcdefgh abcdefghi"]
    folded = [t.casefold() for t in texts]
    hashes, counts = text_token_hashes(folded, TokenHasher())
    found = [TOKEN.findall(t) for t in folded]
    assert counts.tolist() == [len(f) for f in found]
    assert hashes.tolist() == [_token_hash(t) for f in found for t in f]
    assert len(set(hashes[:counts[0]].tolist())) == len(set(found[0]))
