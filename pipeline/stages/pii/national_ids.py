"""National identity numbers in the shapes they are written in, confirmed by python-stdnum's validators.

US SSN (ddd-dd-dddd, valid area/group/serial ranges and stdnum's list of publicised numbers), UK NINO
(prefix rules), Spanish DNI/NIE (check letter), Chinese resident id (18 characters: birth date and
ISO 7064 check), Brazilian CPF (ddd.ddd.ddd-dd, two check digits), Indian Aadhaar (dddd dddd dddd,
Verhoeff) and Korean RRN (yymmdd-nnnnnnn, date and check digit). Only written shapes are searched:
a bare digit run is a national id only as the 18-character Chinese id, whose check is strong.
"""

from __future__ import annotations

import re

from stdnum.br import cpf
from stdnum.cn import ric
from stdnum.es import dni, nie
from stdnum.in_ import aadhaar
from stdnum.kr import rrn
from stdnum.us import ssn

_SSN = re.compile(r"(?<![\d-])(?!000|666|9\d\d)(\d{3})([- ])(?!00)\d{2}\2(?!0000)\d{4}(?![\d-])")
_NINO = re.compile(r"\b(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]"
                   r"(?: ?\d{2}){3} ?[A-D]\b")
_DNI = re.compile(r"\b([XYZ]?)(\d{7,8})-?([A-Z])\b")
_CN_RIC = re.compile(r"(?<![\dA-Za-z])\d{17}[\dXx](?![\dA-Za-z])")
_CPF = re.compile(r"(?<![\d.])\d{3}\.\d{3}\.\d{3}-\d{2}(?![\d-])")
_AADHAAR = re.compile(r"(?<!\d )(?<!\d)[2-9]\d{3} \d{4} \d{4}(?! ?\d)")
_RRN = re.compile(r"(?<![\d-])\d{6}-\d{7}(?![\d-])")

_CHECKED = ((_CN_RIC, ric.is_valid), (_CPF, cpf.is_valid), (_AADHAAR, aadhaar.is_valid), (_RRN, rrn.is_valid))


def _dni_valid(m: re.Match) -> bool:
    prefix, number, letter = m.groups()
    if prefix:
        return len(number) == 7 and nie.is_valid(m.group())
    return len(number) == 8 and dni.is_valid(number + letter)


def national_ids(text: str, misses: list | None = None):
    for m in _SSN.finditer(text):
        if ssn.is_valid(m.group().replace(" ", "-")):
            yield m.start(), m.end()
        elif misses is not None:
            misses.append((m.start(), m.end(), "invalid_number"))
    for m in _NINO.finditer(text):
        yield m.start(), m.end()
    for m in _DNI.finditer(text):
        if _dni_valid(m):
            yield m.start(), m.end()
    for pattern, valid in _CHECKED:
        for m in pattern.finditer(text):
            if valid(m.group()):
                yield m.start(), m.end()
            elif misses is not None:
                misses.append((m.start(), m.end(), "checksum"))
