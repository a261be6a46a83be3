"""PII and secret detectors: a regex finds candidates, a validator (checksum, ranges, context) confirms them.

`find_pii(text, types)` returns non-overlapping `PiiMatch(type, start, end)` in text order; where two
detectors claim overlapping text, the higher-priority type (earlier in PII_TYPES) and then the longer
match wins. `redact(text, matches)` swaps each span for its typed placeholder, e.g. `[EMAIL]`.

Precision first: phone numbers need an international prefix, a recognised national shape, or a phone
word nearby; card numbers need a known issuer prefix and the Luhn check; IBANs their country length and
mod-97; SSNs the valid ranges; Spanish DNI/NIE their check letter. Placeholders such as `[PERSON_NAME]`
or `[EMAIL]` contain no digits or `@`, so already-redacted text is never detected again.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

# Priority order for overlaps (earlier wins) and the canonical list of types.
PII_TYPES = ("secret", "url_credentials", "email", "iban", "credit_card", "national_id", "ip_address", "phone")
PLACEHOLDERS = {t: f"[{t.upper()}]" for t in PII_TYPES}


@dataclass(frozen=True)
class PiiMatch:
    type: str
    start: int
    end: int


# --- email -------------------------------------------------------------------------------------------
_EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"[A-Za-z]{2,24}(?![\w-])"
)
_FILE_SUFFIXES = {"png", "jpg", "jpeg", "gif", "svg", "webp", "pdf"}  # "icon@2x.png" is a file, not a mailbox


def _emails(text: str):
    if "@" not in text:
        return
    for m in _EMAIL.finditer(text):
        if m.group().rsplit(".", 1)[-1].lower() not in _FILE_SUFFIXES:
            yield m.start(), m.end()


# --- secrets and credentials -------------------------------------------------------------------------
_SECRETS = [
    # (pattern, group holding the secret: 0 = whole match, literals: one of them is in every match or None)
    (re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
                r"(?:[\s\S]{0,8000}?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----)?"), 0,
     ("-----BEGIN ",)),
    (re.compile(r"\bsk-(?:proj-|svcacct-|admin-|ant-)?[A-Za-z0-9_-]{20,}"), 0, ("sk-",)),  # OpenAI, Anthropic
    (re.compile(r"\b[rs]k_(?:live|test)_[A-Za-z0-9]{16,}"), 0, ("k_live_", "k_test_")),  # Stripe
    (re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), 0, ("AKIA", "ASIA")),  # AWS access key id
    (re.compile(r"(?i)\baws_secret_access_key\b[\"']?\s*[:=]\s*[\"']?([A-Za-z0-9/+=]{40})"
                r"(?![A-Za-z0-9/+=])"), 1, None),  # case-insensitive (and 'ſ' matches 's'): no literal
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,255}\b"), 0, ("gh",)),  # GitHub tokens
    (re.compile(r"\bgithub_pat_[A-Za-z0-9_]{22,255}\b"), 0, ("github_pat_",)),
    (re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"), 0, ("xox",)),  # Slack
    (re.compile(r"\bAIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])"), 0, ("AIza",)),  # Google API key
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), 0, ("eyJ",)),  # JWT
    (re.compile(r"\bBearer\s+([A-Za-z0-9._~+/-]{20,}=*)"), 1, ("Bearer",)),
]


def _token_like(s: str) -> bool:
    """A real key mixes letters and digits; rules out 'sk-this-is-a-long-hyphenated-phrase'."""
    return any(c.isdigit() for c in s) and any(c.isalpha() for c in s)


def _secrets(text: str):
    for pattern, group, literals in _SECRETS:
        if literals is not None and not any(lit in text for lit in literals):
            continue
        for m in pattern.finditer(text):
            value = m.group(group)
            if pattern.pattern.startswith("-----") or _token_like(value):
                yield m.start(group), m.end(group)


_URL_CREDENTIALS = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]{1,15}://[^\s/:@\[\]]+:[^\s/@\[\]]+@[^\s/?#\"'<>)\]]+")


def _url_credentials(text: str):
    if "://" not in text:
        return
    for m in _URL_CREDENTIALS.finditer(text):
        yield m.start(), m.end()


# --- IBAN --------------------------------------------------------------------------------------------
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
    "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24,
    "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21,
    "HU": 28, "IE": 22, "IL": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LI": 21,
    "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30,
    "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
    "SE": 24, "SI": 19, "SK": 24, "SM": 27, "TN": 24, "TR": 26, "UA": 29, "VG": 24, "XK": 20,
}
_IBAN_START = re.compile(r"(?<![A-Za-z0-9])([A-Z]{2})(\d{2})")


def iban_valid(compact: str) -> bool:
    """Country length and ISO 13616 mod-97 == 1 on a space-free, upper-case IBAN."""
    if IBAN_LENGTHS.get(compact[:2]) != len(compact) or not compact.isalnum():
        return False
    try:
        digits = "".join(str(int(c, 36)) for c in compact[4:] + compact[:4])
    except ValueError:  # '²' is a digit to str.isdigit but not to int()
        return False
    return int(digits) % 97 == 1


def _ibans(text: str):
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
        if count == need and (i == len(text) or not text[i].isalnum()) and iban_valid("".join(chars)):
            yield m.start(), i


# --- payment cards -----------------------------------------------------------------------------------
_CARD = re.compile(r"(?<![\d.,/-])\d(?:[ -]?\d){12,18}(?![\d]|[.,/-]\d)")
_CARD_PREFIX = re.compile(r"^(?:4|5[1-5]|2(?:2[2-9]|[3-6]\d|7[01]|720)|3[47]|6(?:011|5|4[4-9]|2)|35|3(?:0[0-5]|[689]))")


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _cards(text: str):
    for m in _CARD.finditer(text):
        raw = m.group()
        seps = {c for c in raw if not c.isdigit()}
        digits = re.sub(r"\D", "", raw)
        groups = re.split(r"[ -]", raw)
        if len(seps) > 1 or (seps and min(len(g) for g in groups) < 3):
            continue  # mixed separators or tiny groups: a list of numbers, not one card
        if 13 <= len(digits) <= 19 and _CARD_PREFIX.match(digits) and luhn_valid(digits):
            yield m.start(), m.end()


# --- national ids ------------------------------------------------------------------------------------
_SSN = re.compile(r"(?<![\d-])(?!000|666|9\d\d)(\d{3})([- ])(?!00)\d{2}\2(?!0000)\d{4}(?![\d-])")
_NINO = re.compile(r"\b(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]"
                   r"(?: ?\d{2}){3} ?[A-D]\b")
_DNI = re.compile(r"\b([XYZ]?)(\d{7,8})-?([A-Z])\b")
_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def _dni_valid(m: re.Match) -> bool:
    prefix, number, letter = m.groups()
    if prefix:
        if len(number) != 7:
            return False
        number = str("XYZ".index(prefix)) + number
    elif len(number) != 8:
        return False
    return _DNI_LETTERS[int(number) % 23] == letter


def _national_ids(text: str):
    for m in _SSN.finditer(text):
        yield m.start(), m.end()
    for m in _NINO.finditer(text):
        yield m.start(), m.end()
    for m in _DNI.finditer(text):
        if _dni_valid(m):
            yield m.start(), m.end()


# --- IP addresses ------------------------------------------------------------------------------------
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = re.compile(rf"(?<![\w.]){_OCTET}(?:\.{_OCTET}){{3}}(?![\w]|\.\d)")
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?(?![\w:])")
_VERSION_BEFORE = re.compile(r"(?i)(?:\bv|version\s*|ver\.?\s*)$")


def _ip_worth_redacting(ip) -> bool:
    return not (ip.is_loopback or ip.is_unspecified or ip.is_multicast
                or (ip.version == 4 and str(ip) == "255.255.255.255"))


def _ips(text: str):
    for m in _IPV4.finditer(text) if "." in text else ():
        if _VERSION_BEFORE.search(text[max(0, m.start() - 10):m.start()]):
            continue  # "version 1.2.3.4"
        if not m.group().isascii():
            continue  # '١.١.١.٢': regex digits are Unicode, ipaddress takes ASCII only
        if _ip_worth_redacting(ipaddress.IPv4Address(m.group())):
            yield m.start(), m.end()
    for m in _IPV6.finditer(text) if ":" in text else ():
        s = m.group()
        if len(s) < 6 or s.count(":") < 2 or not any(c.isdigit() for c in s):
            continue
        try:
            ip = ipaddress.IPv6Address(s)
        except ValueError:
            continue
        if _ip_worth_redacting(ip):
            yield m.start(), m.end()


# --- phone numbers -----------------------------------------------------------------------------------
_SEP = r"[ .\-/]"
_PHONE_INTL = re.compile(rf"(?<![\w+])(?:\+|00)[1-9]\d{{0,2}}(?:{_SEP}?\(?\d{{1,5}}\)?){{2,6}}(?![\w]|[.\-/]\d)")
_PHONE_NANP = re.compile(r"(?<![\w+#/.-])(?:\([2-9]\d{2}\) ?|[2-9]\d{2}([-. ]))\d{3}(?(1)\1|[-. ])\d{4}(?![\w]|[.\-/]\d)")
_PHONE_TRUNK = re.compile(r"(?<![\w+#/.-])\(?0[1-9]\d{1,3}\)?(?:[ /-]\d{2,8}){1,4}(?![\w]|[.\-/]\d)")
_PHONE_LOCAL = re.compile(r"(?<![\w+#/.-])\d{3}-\d{4}(?![\w]|[.\-/]\d)")
_PHONE_WORD = re.compile(
    r"(?i)\b(?:phone|tel|telephone|call|mobile|cell|fax|whatsapp|sms|text me|number|"
    r"telefon\w*|handy|rufnummer|anrufen|nummer|tel[eé]fono|m[oó]vil|celular|llam\w*|n[uú]mero)\b"
)
_NEAR = 40  # characters before a weak candidate searched for a phone word


def _digits(s: str) -> int:
    return sum(c.isdigit() for c in s)


def _phones(text: str):
    for m in _PHONE_INTL.finditer(text) if "+" in text or "00" in text else ():
        n = _digits(m.group()) - (2 if m.group().startswith("00") else 0)
        if 8 <= n <= 15:
            yield m.start(), m.end()
    for m in _PHONE_NANP.finditer(text):
        yield m.start(), m.end()
    for m in _PHONE_TRUNK.finditer(text) if "0" in text else ():
        if 9 <= _digits(m.group()) <= 12:
            yield m.start(), m.end()
    for m in _PHONE_LOCAL.finditer(text) if "-" in text else ():  # 555-0123 only next to a phone word
        if _PHONE_WORD.search(text[max(0, m.start() - _NEAR):m.start()]):
            yield m.start(), m.end()


# --- prefilters ------------------------------------------------------------------------------------
# Per type, a pattern in Rust regex syntax (run by polars over a whole column) that matches somewhere in
# every text in which the detector finds anything: a necessary condition, read off the detector's
# patterns above (keep them in step). `\d` is Unicode in both engines, as in the detectors. A text
# without a match for any type needs no detector at all.
#
# The gates also hold on an example's raw JSON (compact, as records.dumps_example writes it): they contain
# no character that JSON escapes (quote, backslash, controls), so every match in a decoded text is also
# in the raw text. Only \uXXXX and \/ escapes could hide a character; RAW_JSON_ESCAPES finds those, and
# such an example is treated as a candidate for every type.
GATES = {
    "secret": r"-----BEGIN |sk-|k_live_|k_test_|AKIA|ASIA|(?i:aws_secret_access_key)|gh[pousr]_|github_pat_"
              r"|xox[abprs]-|AIza|eyJ|Bearer",
    "url_credentials": r"://",
    "email": r"@",
    "iban": r"[A-Z]{2}\d\d",
    "credit_card": r"[2-6](?:[ -]?\d){12}",  # every issuer prefix starts with 2-6
    "national_id": r"\d{3}[- ]\d{2}[- ]\d{4}|[A-Z]{2} ?\d\d ?\d\d ?\d\d ?[A-D]|\d{7}-?[A-Z]",
    "ip_address": r"\d\.\d{1,3}\.\d{1,3}\.\d|:[0-9A-Fa-f]{0,4}:",
    # international (8+ digits: 7 after the first), NANP and local (ddd-dddd), trunk-prefixed national
    "phone": r"(?:\+|00)[1-9](?:[ .\-/()]*\d){7}|\d{3}[-. ]\d{4}|0[1-9]\d{1,3}\)?[ /-]\d\d",
}
RAW_JSON_ESCAPES = r"\\[u/]"


DETECTORS = {
    "secret": _secrets,
    "url_credentials": _url_credentials,
    "email": _emails,
    "iban": _ibans,
    "credit_card": _cards,
    "national_id": _national_ids,
    "ip_address": _ips,
    "phone": _phones,
}


_RANK = {t: i for i, t in enumerate(PII_TYPES)}


def find_pii(text: str, types=PII_TYPES) -> list[PiiMatch]:
    """Non-overlapping detections in text order (priority, then length, settles overlaps)."""
    found = [PiiMatch(t, s, e) for t in types for s, e in DETECTORS[t](text) if e > s]
    if len(found) < 2:
        return found
    found.sort(key=lambda m: (_RANK[m.type], -(m.end - m.start), m.start))
    chosen: list[PiiMatch] = []
    for m in found:
        if all(m.end <= c.start or m.start >= c.end for c in chosen):
            chosen.append(m)
    return sorted(chosen, key=lambda m: m.start)


def redact(text: str, matches: list[PiiMatch]) -> str:
    """Replace each (non-overlapping, sorted) match by its placeholder."""
    parts, pos = [], 0
    for m in matches:
        parts += [text[pos:m.start], PLACEHOLDERS[m.type]]
        pos = m.end
    return "".join(parts) + text[pos:]
