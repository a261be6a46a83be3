"""The text of one side of a conversation (user or trained assistant) that language detection looks at.

A side is its messages' text joined by newlines, cleaned of URLs, e-mail addresses and placeholders such
as [PERSON_NAME] (`NOISE`), whitespace-collapsed and cut to `limit` characters:

    " ".join(NOISE.sub(" ", text).split())[:limit]

`example_sides` gives both sides of an example's JSON text, uncleaned (msgspec decodes the usual example
into just the fields a side reads), `example_samples` both samples; `rejected_sample` the third side of a
preference pair, its rejected reply (cleaned and cut the same way).
`clean_sample` computes one sample while reading only what it needs: every NOISE match lies inside one
whitespace-free token, so cleaning a prefix that ends before a whitespace character gives a prefix of the
full result; it grows the prefix only when the cleaned part is still shorter than `limit`. And the e-mail
pattern (the only one that needs an "@", and the only one whose backtracking blows up on a long token) is
replaced by an exact linear-time equivalent on the tokens that contain an "@".
"""

from __future__ import annotations

import re
import unicodedata

import msgspec
import polars as pl

from pipeline.chat import preference
from pipeline.chat.texts import message_text
from pipeline.engine.records import loads_example

NOISE = re.compile(r"https?://\S+|www\.\S+|\S+@\S+\.\w+|\[[A-Z][A-Z0-9_]*\]")
_NOISE_WITHOUT_EMAIL = re.compile(r"https?://\S+|www\.\S+|\[[A-Z][A-Z0-9_]*\]")  # NOISE on text with no "@"
_TOKEN_WITH_AT = re.compile(r"(?<!\S)[^\s@]*@\S*")  # a whole whitespace-free token that holds an "@"
_SPACE = re.compile(r"\s")
_URL_AT_START = re.compile(r"https?://\S|www\.\S")
_LAST_DOT_WORD = re.compile(r".*\.\w")  # greedy: ends just after the token's last "." + word character
_WORD = re.compile(r"\w+")
_ASCII_LETTERS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
PAIR_KEY_TEXT = f'"{preference.KEY}"'  # in JSON text only as a key or a whole string (a quote inside one is \")
# str.split()'s whitespace (str.isspace, tests check the list); a run of it, or one that is not a space
PYTHON_WHITESPACE = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
                     "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
_WS_CLASS = "".join(f"\\x{{{ord(c):x}}}" for c in PYTHON_WHITESPACE)
_WS_BUT_SPACE = "".join(f"\\x{{{ord(c):x}}}" for c in PYTHON_WHITESPACE if c != " ")
_WS_TO_SPACE = f"[{_WS_CLASS}]{{2,}}|[{_WS_BUT_SPACE}]"
_NOISE_MARKS = ("@", "://", "www.", "[")  # a text with none of them is its own _denoise


class _Message(msgspec.Struct):
    """The fields of a message a side reads; the decoder skips the others."""

    role: object = None
    content: object = None
    weight: object = 1


class _Chat(msgspec.Struct):
    messages: list[_Message]


_DECODE_CHAT = msgspec.json.Decoder(_Chat).decode


def side_texts(messages: list) -> tuple[str, str]:
    """(user text, trained assistant text) of a message list, uncleaned; an assistant turn with weight 0
    is not trained, and system and tool messages are not a side."""
    sides: tuple[list[str], list[str]] = ([], [])
    for m in messages:
        side, text = _side_of(m)
        if side >= 0:
            sides[side].append(text)
    return "\n".join(sides[0]), "\n".join(sides[1])


def _side_of(m) -> tuple[int, str]:
    """(0 = user / 1 = trained assistant / -1 = neither, its text)."""
    if type(m) is not dict:
        return -1, ""
    role = m.get("role")
    if role == "user":
        side = 0
    elif role == "assistant" and m.get("weight", 1) != 0:
        side = 1
    else:
        return -1, ""
    content = m.get("content")
    return side, content if type(content) is str else message_text(m)


def example_sides(example: str) -> tuple[str, str]:
    """(user text, trained assistant text) of one example's JSON: side_texts of its messages.

    The usual example (an object whose `messages` are objects, the sides' contents strings) is decoded by
    msgspec into just the three fields a side reads, in C (a repeated key's last value, as json.loads);
    anything else (a message that is no object, a content that is no string, what msgspec refuses) is
    decoded whole as json.loads does."""
    try:
        messages = _DECODE_CHAT(example).messages
        return ("\n".join([m.content for m in messages if m.role == "user"]),
                "\n".join([m.content for m in messages if m.role == "assistant" and m.weight != 0]))
    except (msgspec.DecodeError, msgspec.ValidationError, TypeError):  # TypeError: a content that is no string
        obj = loads_example(example)
        messages = obj.get("messages") if isinstance(obj, dict) else None
        return side_texts(messages if isinstance(messages, list) else [])


def example_samples(example: str, limit: int) -> tuple[str, str]:
    """(user sample, assistant sample) of one example's JSON: clean_sample of each of its side_texts."""
    user, assistant = example_sides(example)
    return clean_sample(user, limit), clean_sample(assistant, limit)


def rejected_sample(example: str, limit: int) -> str | None:
    """The sample of a preference pair's rejected reply (as an assistant side: '' when it has weight 0);
    None when `example` is no pair."""
    if PAIR_KEY_TEXT not in example:
        return None
    obj = loads_example(example)
    if not (isinstance(obj, dict) and preference.is_preference(obj)):
        return None
    side, text = _side_of(preference.rejected(obj))
    return clean_sample(text, limit) if side == 1 else ""


def _denoise(text: str) -> str:
    """NOISE.sub(" ", text), in linear time."""
    if "@" not in text:
        if "://" not in text and "www." not in text and "[" not in text:
            return text  # nothing NOISE could match
        return _NOISE_WITHOUT_EMAIL.sub(" ", text)
    parts, last = [], 0
    for m in _TOKEN_WITH_AT.finditer(text):
        parts.append(_NOISE_WITHOUT_EMAIL.sub(" ", text[last:m.start()]))
        parts.append(_denoise_token_with_at(m.group()))
        last = m.end()
    parts.append(_NOISE_WITHOUT_EMAIL.sub(" ", text[last:]))
    return "".join(parts)


def _denoise_token_with_at(token: str) -> str:
    r"""NOISE.sub(" ", token) for one whitespace-free token, without NOISE's backtracking (cubic on a long
    token with many "@"). At the token's first position NOISE tries a URL, then the e-mail pattern
    \S+@\S+\.\w+, whose backtracking settles on the last "." followed by a word character (D) and matches
    up to the end of that word iff an "@" lies in [1, D - 2]; past that match, or if there is none, the
    e-mail pattern cannot match again, and the rest is NOISE without it."""
    if _URL_AT_START.match(token):
        return " "
    last_dot = _LAST_DOT_WORD.match(token)
    if last_dot is not None:
        dot = last_dot.end() - 2
        if dot >= 3 and token.rfind("@", 1, dot - 1) >= 1:  # an "@" at 1..dot-2
            end = _WORD.match(token, dot + 1).end()
            return " " + _NOISE_WITHOUT_EMAIL.sub(" ", token[end:])
    return _NOISE_WITHOUT_EMAIL.sub(" ", token)


def clean_sample(text: str, limit: int) -> str:
    """" ".join(NOISE.sub(" ", text).split())[:limit], reading little more than `limit` characters."""
    end = limit + 64
    while end < len(text):
        space = _SPACE.search(text, end)
        if space is None:
            break
        head = " ".join(_denoise(text[:space.start()]).split())
        if len(head) >= limit:
            return head[:limit]
        end = 4 * end
    return " ".join(_denoise(text).split())[:limit]


def clean_samples(texts: list[str], limit: int) -> list[str]:
    """[clean_sample(t, limit) for t in texts], the whitespace of all of them collapsed at once by polars.

    " ".join(t.split()) is t with every run of str.isspace characters made one space, stripped of spaces:
    polars does that over the first limit + 64 characters of each text, after NOISE.sub on the texts with
    one of its marks (here, on a prefix that ends before a space: a prefix of the whole one's). A prefix of
    a text gives a prefix of its result, exact once it has `limit` characters; the few whose prefix came
    out shorter, and all texts when polars cannot hold one (lone surrogates), go through clean_sample."""
    if not texts:
        return []
    try:
        series = pl.Series(texts, dtype=pl.Utf8)
    except (UnicodeEncodeError, pl.exceptions.PolarsError):
        return [clean_sample(t, limit) for t in texts]
    head = limit + 64
    marked = pl.select(pl.any_horizontal(series.str.contains(m, literal=True) for m in _NOISE_MARKS)).to_series()
    rows = marked.arg_true()
    if len(rows):
        denoised = []
        for i in rows.to_list():
            text = texts[i]
            cut = text.find(" ", head) if len(text) > head else -1
            denoised.append(_denoise(text if cut < 0 else text[:cut]))
        series = series.scatter(rows, denoised)
    frame = pl.DataFrame({"t": series}).select(
        c=pl.col("t").str.slice(0, head).str.replace_all(_WS_TO_SPACE, " ").str.strip_chars(" "))
    short = pl.Series([len(t) > head for t in texts]) & (frame["c"].str.len_chars() < limit)
    out = frame["c"].str.slice(0, limit).to_list()
    for i in short.arg_true().to_list():
        out[i] = clean_sample(texts[i], limit)
    return out


def letters(text: str) -> int:
    """Letters in text; a wide (CJK) character counts as two, as it carries about a short word."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text if c.isalpha())


def has_letters(text: str, need: int) -> bool:
    """letters(text) >= need, without looking at every character when the answer is plain."""
    if text.isascii():
        return len(text) - len(text.encode("ascii").translate(None, _ASCII_LETTERS)) >= need
    if sum(map(str.isalpha, text)) >= need:  # a lower bound: wide letters count two
        return True
    return letters(text) >= need
