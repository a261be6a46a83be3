"""Split a long text into chunks the moderation model scores well.

OpenAI advises splitting long texts before moderating them (scores of a short harmful passage get diluted
in a long input). A text of at most `limit` characters is one chunk. A longer one is cut into spans of at
most `limit` characters; each cut is placed at the last paragraph break, else line break, else sentence
end, else space in the second half of the window (a hard cut only when there is none), and the next chunk
starts up to `overlap` characters earlier (at a word start), so a phrase cut in two is still seen whole.
"""

from __future__ import annotations

_SEPARATORS = ("\n\n", "\n", ". ", "! ", "? ", "。", " ", "\t")


def chunk_spans(text: str, limit: int, overlap: int = 0) -> list[tuple[int, int]]:
    """(start, end) spans covering `text` in order; each is at most `limit` characters long."""
    if limit < 1 or not 0 <= overlap <= limit // 2:
        raise ValueError(f"need limit >= 1 and 0 <= overlap <= limit/2 (got limit={limit}, overlap={overlap})")
    n = len(text)
    if n <= limit:
        return [(0, n)]
    spans: list[tuple[int, int]] = []
    start = 0
    while n - start > limit:
        end = _cut(text, start, start + limit)
        spans.append((start, end))
        start = _word_start(text, max(end - overlap, start + 1), end)
    spans.append((start, n))
    return spans


def chunk_text(text: str, limit: int, overlap: int = 0) -> list[str]:
    return [text[a:b] for a, b in chunk_spans(text, limit, overlap)]


def _cut(text: str, start: int, hard_end: int) -> int:
    lo = start + (hard_end - start) // 2
    window = text[lo:hard_end]
    for sep in _SEPARATORS:
        i = window.rfind(sep)
        if i >= 0:
            return lo + i + len(sep)
    return hard_end


def _word_start(text: str, pos: int, end: int) -> int:
    """`pos`, moved forward to just after a space when it falls inside a word (never to `end` or beyond)."""
    if pos == 0 or text[pos - 1].isspace():
        return pos
    for i in range(pos, end - 1):
        if text[i].isspace():
            return i + 1
    return pos
