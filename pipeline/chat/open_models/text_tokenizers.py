"""Tokenizers of rendered chat text, each giving token ids and where each token starts in the text.

A rendered chat is tokenized as transformers' `apply_chat_template(tokenize=True)` does: the special
tokens written by the template are matched as text (added tokens are split out before the model's
pre-tokenizer runs) and nothing is added around it (`add_special_tokens=False`: the template writes BOS
itself). Token start offsets (characters) let the assistant spans become a token mask: a token is trained
when its characters overlap a trained span (transformers marks the tokens from the span's first to its
last character).
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from itertools import accumulate
from typing import Protocol

Span = tuple[int, int]


class TextTokenizer(Protocol):
    def encode(self, text: str) -> tuple[list[int], list[int]]:
        """(token ids, start offset of each token in characters)."""
        ...


class HuggingFaceTokenizer:
    """A `tokenizers.Tokenizer` (tokenizer.json)."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def encode(self, text: str) -> tuple[list[int], list[int]]:
        encoding = self.tokenizer.encode(text, add_special_tokens=False)
        return encoding.ids, [start for start, _ in encoding.offsets]


class SpecialSplitTokenizer:
    """Text split at special-token strings: each special is its id, the text between is BPE-encoded by
    `encode_ordinary(text) -> ids`; `token_bytes(id)` gives each token's bytes, for the offsets."""

    def __init__(self, specials: dict[str, int], encode_ordinary: Callable[[str], list[int]],
                 token_bytes: Callable[[int], bytes]):
        self.specials = specials
        self.encode_ordinary = encode_ordinary
        self.token_bytes = token_bytes
        names = sorted(specials, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, names))) if names else None

    def _ordinary(self, text: str, at: int, ids: list[int], starts: list[int]) -> None:
        if not text:
            return
        pieces = self.encode_ordinary(text)
        char_byte_ends = list(accumulate(len(c.encode("utf-8", "surrogatepass")) for c in text))
        position = 0
        for piece in pieces:
            # the character holding the token's first byte
            starts.append(at + bisect_right(char_byte_ends, position))
            position += len(self.token_bytes(piece))
        ids.extend(pieces)

    def encode(self, text: str) -> tuple[list[int], list[int]]:
        ids: list[int] = []
        starts: list[int] = []
        pos = 0
        for match in self._pattern.finditer(text) if self._pattern else ():
            self._ordinary(text[pos:match.start()], pos, ids, starts)
            ids.append(self.specials[match.group()])
            starts.append(match.start())
            pos = match.end()
        self._ordinary(text[pos:], pos, ids, starts)
        return ids, starts


def tokens_in_spans(starts: list[int], text_length: int, spans: list[Span]) -> int:
    """How many tokens (given by their start offsets, in order) overlap any of the character spans."""
    if not spans:
        return 0
    marked: set[int] = set()
    n = len(starts)
    for begin, end in spans:
        if end <= begin:
            continue
        # the token holding `begin`: the last one starting at or before it
        first = max(bisect_left(starts, begin + 1) - 1, 0)
        last = bisect_left(starts, end) - 1  # the last token starting before `end`
        marked.update(range(first, min(last, n - 1) + 1))
    return len(marked)
