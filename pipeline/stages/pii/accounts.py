"""Payment cards and IBANs: a regex finds candidates, check digits and the written shape confirm them.

Cards: 13-19 digits with a known issuer prefix and the Luhn check, written either unbroken or in the
groups cards are printed in (fours, with a shorter last group; American Express / Diners 4-6-5 / 4-6-4)
and not beside an arithmetic operator: "355909190063-746" in a maths prompt passes Luhn but is written
12-3, so it is a near-miss ("grouping"), not a card.
IBANs: every country of the SWIFT IBAN registry as python-stdnum ships it (stdnum/iban.dat): the
country's length and BBAN structure, and ISO 7064 mod 97-10 (stdnum.iban.is_valid, without the extra
national checks of a few countries: the mod-97 check already leaves 1 in 97 random strings).
"""

from __future__ import annotations

import re
from importlib import resources

from stdnum import iban as stdnum_iban


def _registry_lengths() -> dict[str, int]:
    """{country: IBAN length} from stdnum's copy of the registry: 4 + the lengths in its BBAN structure."""
    lengths = {}
    for line in (resources.files("stdnum") / "iban.dat").read_text(encoding="utf-8").splitlines():
        m = re.match(r'([A-Z]{2}) .*bban="([^"]+)"', line)
        if m:
            lengths[m.group(1)] = 4 + sum(int(n) for n in re.findall(r"(\d+)!", m.group(2)))
    return lengths


IBAN_LENGTHS = _registry_lengths()
_IBAN_START = re.compile(r"(?<![A-Za-z0-9])([A-Z]{2})(\d{2})")


def iban_valid(compact: str) -> bool:
    """Registry length, BBAN structure and mod-97 on a space-free, upper-case IBAN."""
    if IBAN_LENGTHS.get(compact[:2]) != len(compact) or not (compact.isascii() and compact.isalnum()):
        return False
    return stdnum_iban.is_valid(compact, check_country=False)


def ibans(text: str, misses: list | None = None):
    for m in _IBAN_START.finditer(text):
        need = IBAN_LENGTHS.get(m.group(1))
        if need is None:
            continue
        chars, i = [m.group(1), m.group(2)], m.end()
        count = 4
        while count < need and i < len(text):
            c = text[i]
            if c == " " and i + 1 < len(text) and text[i + 1].isalnum() and text[i - 1] != " ":
                i += 1
                continue
            if not (c.isdigit() or "A" <= c <= "Z"):
                break
            chars.append(c)
            count += 1
            i += 1
        if count == need and (i == len(text) or not text[i].isalnum()):
            if iban_valid("".join(chars)):
                yield m.start(), i
            elif misses is not None:
                misses.append((m.start(), i, "checksum"))


_CARD = re.compile(r"(?<![\d.,/-])\d(?:[ -]?\d){12,18}(?![\d]|[.,/-]\d)")
_CARD_PREFIX = re.compile(r"^(?:4|5[1-5]|2(?:2[2-9]|[3-6]\d|7[01]|720)|3[47]|6(?:011|5|4[4-9]|2)|35|3(?:0[0-5]|[689]))")
_OPERATOR_NEAR = re.compile(r"[+*×÷=^]")


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card_grouping(groups: list[str]) -> bool:
    sizes = [len(g) for g in groups]
    if len(sizes) == 1:
        return True
    return sizes in ([4, 6, 5], [4, 6, 4]) or (all(s == 4 for s in sizes[:-1]) and 1 <= sizes[-1] <= 4)


def cards(text: str, misses: list | None = None):
    for m in _CARD.finditer(text):
        raw = m.group()
        seps = {c for c in raw if not c.isdigit()}
        digits = re.sub(r"\D", "", raw)
        groups = re.split(r"[ -]", raw)
        if len(seps) > 1 or (seps and min(len(g) for g in groups) < 3):
            continue  # mixed separators or tiny groups: a list of numbers, not one card
        if not (13 <= len(digits) <= 19 and _CARD_PREFIX.match(digits) and luhn_valid(digits)):
            continue
        near = text[max(0, m.start() - 3):m.start()] + text[m.end():m.end() + 3]
        reason = ("grouping" if not _card_grouping(groups)
                  else "arithmetic" if _OPERATOR_NEAR.search(near) else None)
        if reason is None:
            yield m.start(), m.end()
        elif misses is not None:
            misses.append((m.start(), m.end(), reason))
