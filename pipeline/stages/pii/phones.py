"""Phone numbers: a regex finds digit runs, context rules set aside what is not a phone, libphonenumber decides.

A candidate is a run of 7 to 15 digits (17 with a 00 prefix) joined by single separators (space . - /)
and parentheses, not glued to a Latin, Cyrillic, Greek… letter or digit on either side. A CJK, kana,
Hangul or Thai character is a boundary: those scripts write no space before a number ("电话是010-67024431").
Each candidate is then, in order:

  set aside   an order id / reference ("order", "invoice", "#", "订单号" just before), a date, a version
              ("v", "version" before), a decimal ("314.0185"), a range of round numbers or after "from/between" ("500-1000"),
              arithmetic (an operator beside it), an amount with thousands separators ("1 234 567")
  a phone     international (+ or 00): libphonenumber's is_valid_number;
              North American formatted "(312) 555-0188" / "312-555-0188" when US or CA is a region (by
              shape: libphonenumber rejects the fictional 555 numbers of examples);
              national with a trunk 0 or an area code in parentheses, in groups ("030 1234567",
              "010-67024431", "(11) 91234-5678"): valid for one of `regions`;
              any other ("9876543210", "138 1234 5678") or a 7-digit local number ("555-0123"): valid for
              one of the regions (the local one by shape) AND a phone word within 40 characters before
              or 25 after.
Everything a rule sets aside (or that libphonenumber rejects) is a near-miss with its reason, so the
report can show what looked like a phone and why it was left.
"""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers

# ISO 3166-1 alpha-2 regions whose national formats are accepted; the default of `phone_regions`
# (schemas/stages/pii.py) names the same 15: the countries of the labelled recall set (tests/test_pii_recall.py).
DEFAULT_REGIONS = ("US", "GB", "IN", "CN", "ID", "BR", "DE", "FR", "JP", "KR", "MX", "NG", "PL", "TR", "VN")

# Letters of scripts written with spaces between words: a digit run glued to one is part of a word.
# (\w minus digits, underscore kept, minus CJK ideographs, kana, Hangul, Thai, full-width forms.)
WORDISH = (r"[^\W\d\u0e00-\u0e7f\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
           r"\uff00-\uffef]")
_CANDIDATE = re.compile(
    rf"(?<!{WORDISH})(?<![\d+#/.\-@$€£¥,:])"
    r"(?:\+|\()?\d(?:\d|[ .\-/](?=[\d(])|\) ?(?=\d)|\((?=\d))*\d\)?"
    rf"(?!{WORDISH}|\d|[.\-/,:]\d)"
)
_SEPARATORS = re.compile(r"[ .\-/()]+")
_NANP = re.compile(r"(?:\([2-9]\d{2}\) ?|[2-9]\d{2}([-. ]))\d{3}(?(1)\1|[-. ])\d{4}")
_LOCAL = re.compile(r"\d{3}-\d{4}")

_PHONE_WORD = re.compile(
    r"(?i)(?:\b(?:phone|tel|telephone|call|calling|mobile|cell|fax|whats ?app|sms|text me|contact|dial|"
    r"hotline|helpline|reach me|telefon\w*|handy|rufnummer|anrufen|t[ée]l[ée]phone|portable|joindre|"
    r"tel[eé]fono|m[oó]vil|celular|llam\w*|whatsapp|telefone|ligue|numer telefonu|komórk\w*|nomor|hp|"
    r"telepon|wa|s[đd]t|[đd]i[eệ]n tho[aạ]i|g[oọ]i|numara|ara|cep)\b"
    r"|\b(?:phone|mobile|contact|cell|whatsapp|my) (?:no\.?|number|#)|number is"
    r"|[☎📞📱]|电话|電話|手机|手機|联系|聯繫|致电|号码|號碼|座机|携帯|連絡|전화|연락처|휴대폰|핸드폰|"
    r"फ़ोन|फोन|मोबाइल|नंबर|संपर्क|เบอร์|โทร)"
)
_ID_BEFORE = re.compile(
    r"(?i)(?:#|\b(?:order|invoice|ticket|ref|reference|tracking|case|transaction|txn|serial|sku|isbn|issn|"
    r"po|id|no|nr|account|acct|booking|confirmation|receipt|bestell\w*|rechnung\w*|pedido|commande|"
    r"factura|fatura|sipari[şs])\b\.?|订单号?|单号|注文番号|주문번호)[\s:#.]*(?:number|no\.?|#)?\s*(?:is|was|=)?[\s:#.]*$")
_VERSION_BEFORE = re.compile(r"(?i)(?:\bv|\bversion\s*|\bver\.?\s*|\brelease\s*|\bbuild\s*)$")
_RANGE_BEFORE = re.compile(r"(?i)\b(?:from|between|von|zwischen|de|entre|od|dari|từ|约|從|从)\s*$")
_DATE = re.compile(r"\d{4}([-./])\d{1,2}\1\d{1,2}|\d{1,2}([-./])\d{1,2}\2\d{1,4}")
_SLASHED_DATE = re.compile(r"(?<!\d)\d{1,2}/\d{1,2}/\d{2,4}(?!\d)")
_AREA_CODE = re.compile(r"\(\d{1,5}\) ?\d")
_AMOUNT = re.compile(r"[1-9]\d{0,2}(?:([ .])\d{3})(?:\1\d{3})*")
_OPERATOR_AFTER = re.compile(r"\s*(?:[+*×÷=^<>%]|/\s*\d|-\s+\d)")
_OPERATOR_BEFORE = re.compile(r"(?:[+*×÷=^<>]|\d\s+-|\d\s*/)\s*$")
_NOT_BETWEEN = re.compile(r"[\d\[\]]")
_NEAR_BEFORE, _NEAR_AFTER = 40, 25  # characters searched for a phone word around a bare digit run


@lru_cache(maxsize=65536)
def _valid_intl(number: str) -> bool:
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(number, None))
    except phonenumbers.NumberParseException:
        return False


@lru_cache(maxsize=65536)
def _valid_national(number: str, regions: tuple[str, ...]) -> bool:
    for region in regions:
        try:
            if phonenumbers.is_valid_number(phonenumbers.parse(number, region)):
                return True
        except phonenumbers.NumberParseException:
            continue
    return False


def _set_aside(text: str, start: int, end: int, value: str, groups: list[str]) -> str | None:
    """Why a candidate is not a phone whatever libphonenumber says, or None."""
    before = text[max(0, start - 30):start]
    if _ID_BEFORE.search(before):
        return "order_id"
    if _VERSION_BEFORE.search(before):
        return "version"
    if _DATE.fullmatch(value) or _SLASHED_DATE.search(value):
        return "date"
    if len(groups) == 2 and value.count(".") == 1 and len(value) == len(groups[0]) + 1 + len(groups[1]):
        return "decimal"
    if _OPERATOR_BEFORE.search(before) or _OPERATOR_AFTER.match(text, end):
        return "arithmetic"
    if len(groups) == 2 and "-" in value and not value.startswith(("0", "+", "(")) and groups[1][0] != "0":
        low, high = int(groups[0]), int(groups[1])
        if low < high and ((low % 10 == 0 and high % 10 == 0) or _RANGE_BEFORE.search(before)):
            return "range"
    if _AMOUNT.fullmatch(value) and not _PHONE_WORD.search(before):
        return "amount"
    return None


def _phone_word_near(text: str, start: int, end: int) -> bool:
    """A phone word close before or after, with no other number or placeholder in between: "call me on
    9876543210" but not "call [PHONE] or ticket 1234567" (so a second pass over redacted text finds nothing
    new)."""
    before = _NOT_BETWEEN.split(text[max(0, start - _NEAR_BEFORE):start])[-1]
    after = _NOT_BETWEEN.split(text[end:end + _NEAR_AFTER])[0]
    return bool(_PHONE_WORD.search(before) or _PHONE_WORD.search(after))


NOT_A_PHONE = "not_a_phone"  # a bare digit run no region accepts: not reported as a near-miss


def judge(text: str, start: int, end: int, regions: tuple[str, ...], n_digits: int) -> str | None:
    """None when text[start:end] (n_digits digits) is a phone number, else the reason it is not one."""
    value = text[start:end]
    international = value.startswith("+") or (value.startswith("00") and n_digits > 10)
    groups = [g for g in _SEPARATORS.split(value) if g]
    reason = _set_aside(text, start, end, value, groups)
    if reason:
        return reason
    if international:
        number = value if value.startswith("+") else "+" + value[2:]
        return None if _valid_intl(number) else "invalid_number"
    if ("US" in regions or "CA" in regions) and _NANP.fullmatch(value):
        return None
    if len(groups) > 1 and (value.startswith("0") or _AREA_CODE.match(value)):
        return None if _valid_national(value, regions) else "invalid_number"
    if not (_LOCAL.fullmatch(value) or _valid_national(value, regions)):
        return NOT_A_PHONE
    return None if _phone_word_near(text, start, end) else "no_phone_word"


def phones(text: str, misses: list | None = None, regions: tuple[str, ...] = DEFAULT_REGIONS):
    """(start, end) of each phone number; each rejected candidate goes to `misses` as (start, end, reason)."""
    for m in _CANDIDATE.finditer(text):
        start, end = m.span()
        if text[start] == "(" and not _AREA_CODE.match(text, start):
            start += 1  # "(2011-2015)", "(030 1234567": a parenthesis around the text, not an area code
        if text[end - 1] == ")" and text.count("(", start, end) < text.count(")", start, end):
            end -= 1
        value = text[start:end]
        n = sum(map(str.isdigit, value))
        if not 7 <= n <= (17 if value.startswith("00") else 15):
            continue
        reason = judge(text, start, end, regions, n)
        if reason is None:
            yield start, end
        elif misses is not None and reason != NOT_A_PHONE:
            misses.append((start, end, reason))
