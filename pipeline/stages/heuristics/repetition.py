"""repetitive_reply, measured on content: degenerate loops are caught, structured repetition is not.

A good structured answer repeats its scaffolding: a heading per section ('##### Pros' x5), a label per record
('Kingdom: Animalia', 'Confidence: 0%'), a table row shape, a column per SQL table in a code block. A
degenerate reply repeats itself: the same line back to back, the same sentence or paragraph over and over, a
token loop. So the reply's lines are sorted into

  structure  lines of fenced code blocks (``` or ~~~, fences included), markdown headings (# .. ######),
             table rows (starting with |) and label lines (a label of at most LABEL_CHARS characters without
             sentence punctuation, ':' or '：', and a value of at most LABEL_VALUE_WORDS words)
  content    every other non-blank line (prose, list items, lyrics)

and a reply is repetitive when
  3-grams    its content lines hold >= repetition_min_words words of which more than
             max_duplicate_trigram_fraction of the word 3-grams repeat an earlier one (structure not counted);
  in a row   a non-trivial line (>= 10 characters with a letter, list marker ignored) occurs
             max_line_repeats times or more back to back (blank lines between ignored), whatever its kind;
  spread     a non-trivial content line occurs max_line_repeats times or more and content lines repeating an
             earlier content line are more than half of all content lines (a loop of alternating lines).
A song's chorus within its verses, or the same label in every record, is neither.
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np

WORD = re.compile(r"\w+")
_LIST_MARKER = re.compile(r"(?:[-*+•]|\d{1,3}[.)])\s+")
_HEADING = re.compile(r"#{1,6}(?:\s|$)")
# a label: short, starting with a letter (or markdown bold), no sentence end before the colon
_LABEL = re.compile(r"(?:\*\*|__)?[^\W\d_][^:：.!?]{0,39}[:：](?:\*\*|__)?(?:\s+|$)")
LABEL_CHARS = 40  # 'Time complexity (worst case)': room for a few words, not for a sentence
LABEL_VALUE_WORDS = 8  # 'Kingdom: Animalia', 'Confidence: 0%', 'Species: Panthera leo'; longer values are prose
STRUCTURE_MARKS = ("`", "~", "#", "|", ":", "：")  # a text with none of these has content lines only
MIN_LINE_CHARS = 10  # shorter lines ('Yes.', '}', '---') repeat naturally


def classify_lines(text: str) -> list[tuple[str, str, bool]]:
    """(stripped line, key, is_content) of each non-blank line of text.splitlines(): key is the stripped line
    without a leading list marker ('- ', '* ', '3. ')."""
    out: list[tuple[str, str, bool]] = []
    in_code = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith(("```", "~~~")):
            in_code = not in_code
            out.append((line, line, False))
            continue
        m = _LIST_MARKER.match(line)
        key = line[m.end():] if m else line
        structure = in_code or line[0] == "|" or (line[0] == "#" and _HEADING.match(line)) or _is_label(key)
        out.append((line, key, not structure))
    return out


def _is_label(line: str) -> bool:
    m = _LABEL.match(line)
    return bool(m) and len(line[m.end():].split()) <= LABEL_VALUE_WORDS


def content_text(text: str) -> str:
    """The content lines of text, joined by newlines (the text itself when it holds no structure mark)."""
    if not any(mark in text for mark in STRUCTURE_MARKS):
        return text
    return "\n".join(line for line, _, content in classify_lines(text) if content)


def content_words(text: str) -> list[str]:
    """The words of the casefolded content lines."""
    return WORD.findall(content_text(text).casefold())


def duplicate_trigram_fraction(text: str) -> tuple[float, int]:
    """(share of word 3-grams that already occurred earlier in the content, number of content words)."""
    return trigram_share(content_words(text))


def trigram_share(words: list, vocabulary: set | None = None) -> tuple[float, int]:
    """(share of the 3-grams of these words repeating an earlier one, number of words); long texts count
    their distinct 3-grams as integer keys (word numbers in the vocabulary) with numpy: the same count, faster."""
    n = len(words)
    if n < 3:
        return 0.0, n
    vocabulary = vocabulary if vocabulary is not None else set(words)
    if n < 4096 or len(vocabulary) >= 2**21:  # keys (a * d + b) * d + c < d**3 must fit in int64
        return 1 - len(set(zip(words, words[1:], words[2:]))) / (n - 2), n
    number = {w: k for k, w in enumerate(vocabulary)}
    ids = np.fromiter(map(number.__getitem__, words), dtype=np.int64, count=n)
    d = len(number)
    distinct = len(np.unique((ids[:-2] * d + ids[1:-1]) * d + ids[2:]))
    return 1 - distinct / (n - 2), n


def _nontrivial(key: str) -> bool:
    return len(key) >= MIN_LINE_CHARS and any(c.isalpha() for c in key)


def repeated_line(text: str, max_repeats: int) -> str | None:
    """The 'in a row' or 'spread' finding of the module docstring, as a detail, or None."""
    lines = classify_lines(text)
    run, longest, best = 0, 0, ""
    for k, (_, key, _) in enumerate(lines):
        run = run + 1 if k and key == lines[k - 1][1] else 1
        if run > longest and _nontrivial(key):
            longest, best = run, key
    if longest >= max_repeats:
        return f"line {_short(best)} occurs {longest} times in a row (max {max_repeats - 1})"
    content = [key for _, key, is_content in lines if is_content]
    counts = Counter(content)
    repeats = len(content) - len(counts)
    if repeats * 2 > len(content):
        key, n = max(((k, c) for k, c in counts.items() if _nontrivial(k)), key=lambda kc: kc[1], default=("", 0))
        if n >= max_repeats:
            return (f"line {_short(key)} occurs {n} times and {repeats} of its {len(content)} content lines "
                    f"repeat an earlier one")
    return None


def _short(line: str, limit: int = 60) -> str:
    return repr(line if len(line) <= limit else line[: limit - 1] + "…")
