"""PII and secret detectors: a regex finds candidates, a validator (checksum, ranges, context) confirms them.

`find_pii(text, types, phone_regions, misses)` returns non-overlapping `PiiMatch(type, start, end)` in
text order; where two detectors claim overlapping text, the higher-priority type (earlier in PII_TYPES)
and then the longer match wins. Candidates a validator turned down go to `misses` as `PiiMiss(type,
start, end, reason)` (what looked like a phone and why it was left), the ones overlapping a detection
left out. `redact(text, matches)` swaps each span for its typed placeholder, e.g. `[EMAIL]`.

Precision first: phone numbers are checked by libphonenumber and context rules (phones.py); cards need
a known issuer prefix, the Luhn check and a card's grouping, IBANs the registry's length and structure
and mod-97 (accounts.py); national ids their shape and python-stdnum's check (national_ids.py).
Placeholders such as `[PERSON_NAME]` or `[EMAIL]` contain no digits or `@`, so already-redacted text is
never detected again.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from pipeline.stages.pii.accounts import cards, ibans
from pipeline.stages.pii.national_ids import national_ids
from pipeline.stages.pii.phones import DEFAULT_REGIONS, WORDISH, phones

# Priority order for overlaps (earlier wins) and the canonical list of types.
PII_TYPES = ("secret", "url_credentials", "email", "iban", "credit_card", "national_id", "ip_address", "phone")
PLACEHOLDERS = {t: f"[{t.upper()}]" for t in PII_TYPES}


@dataclass(frozen=True)
class PiiMatch:
    type: str
    start: int
    end: int


@dataclass(frozen=True)
class PiiMiss:
    """A candidate a validator turned down: `reason` a stable code such as range, date, invalid_number."""

    type: str
    start: int
    end: int
    reason: str


# --- email: a CJK character may touch it ("我的是le.van@x.com。"), a Latin letter may not -------------------------------------------------------------------------------------------
_EMAIL = re.compile(
    rf"(?<!{WORDISH})(?<![\d.%+-])[A-Za-z0-9][A-Za-z0-9._%+'-]{{0,63}}@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    rf"[A-Za-z]{{2,24}}(?!{WORDISH}|[\d-])"
)
_FILE_SUFFIXES = {"png", "jpg", "jpeg", "gif", "svg", "webp", "pdf"}  # "icon@2x.png" is a file, not a mailbox


def _emails(text: str, misses: list | None = None):
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


def _secrets(text: str, misses: list | None = None):
    for pattern, group, literals in _SECRETS:
        if literals is not None and not any(lit in text for lit in literals):
            continue
        for m in pattern.finditer(text):
            value = m.group(group)
            if pattern.pattern.startswith("-----") or _token_like(value):
                yield m.start(group), m.end(group)


_URL_CREDENTIALS = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]{1,15}://[^\s/:@\[\]]+:[^\s/@\[\]]+@[^\s/?#\"'<>)\]]+")


def _url_credentials(text: str, misses: list | None = None):
    if "://" not in text:
        return
    for m in _URL_CREDENTIALS.finditer(text):
        yield m.start(), m.end()


# --- IP addresses ------------------------------------------------------------------------------------
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = re.compile(rf"(?<![\w.]){_OCTET}(?:\.{_OCTET}){{3}}(?![\w]|\.\d)")
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?(?![\w:])")
_VERSION_BEFORE = re.compile(r"(?i)(?:\bv|version\s*|ver\.?\s*)$")


def _ip_worth_redacting(ip) -> bool:
    return not (ip.is_loopback or ip.is_unspecified or ip.is_multicast
                or (ip.version == 4 and str(ip) == "255.255.255.255"))


def _ips(text: str, misses: list | None = None):
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
    "national_id": r"\d{3}[- ]\d{2}[- ]\d{4}|[A-Z]{2} ?\d\d ?\d\d ?\d\d ?[A-D]|\d{7}-?[A-Z]|\d{17}[\dXx]"
                   r"|\d{3}\.\d{3}\.\d{3}-\d\d|\d{4} \d{4} \d{4}|\d{6}-\d{7}",
    "ip_address": r"\d\.\d{1,3}\.\d{1,3}\.\d|:[0-9A-Fa-f]{0,4}:",
    # any 7 digits with at most two separators or parentheses between neighbours (phones.py's candidates)
    "phone": r"\d(?:[ ().\-/]{0,2}\d){6}",
}
RAW_JSON_ESCAPES = r"\\[u/]"


DETECTORS = {
    "secret": _secrets,
    "url_credentials": _url_credentials,
    "email": _emails,
    "iban": ibans,
    "credit_card": cards,
    "national_id": national_ids,
    "ip_address": _ips,
    "phone": phones,
}


_RANK = {t: i for i, t in enumerate(PII_TYPES)}


def find_pii(text: str, types=PII_TYPES, phone_regions: tuple[str, ...] = DEFAULT_REGIONS,
             misses: list[PiiMiss] | None = None) -> list[PiiMatch]:
    """Non-overlapping detections in text order (priority, then length, settles overlaps); the candidates
    turned down, where they overlap no detection, are appended to `misses` when given."""
    found, turned_down = [], [] if misses is not None else None
    for t in types:
        before = len(turned_down) if turned_down is not None else 0
        spans = phones(text, turned_down, phone_regions) if t == "phone" else DETECTORS[t](text, turned_down)
        found += [PiiMatch(t, s, e) for s, e in spans if e > s]
        if turned_down is not None:
            turned_down[before:] = [PiiMiss(t, *miss) for miss in turned_down[before:]]
    if len(found) > 1:
        found.sort(key=lambda m: (_RANK[m.type], -(m.end - m.start), m.start))
        chosen: list[PiiMatch] = []
        for m in found:
            if all(m.end <= c.start or m.start >= c.end for c in chosen):
                chosen.append(m)
        found = sorted(chosen, key=lambda m: m.start)
    if turned_down:
        misses += [x for x in turned_down if all(x.end <= m.start or x.start >= m.end for m in found)]
    return found


def redact(text: str, matches: list[PiiMatch]) -> str:
    """Replace each (non-overlapping, sorted) match by its placeholder."""
    parts, pos = [], 0
    for m in matches:
        parts += [text[pos:m.start], PLACEHOLDERS[m.type]]
        pos = m.end
    return "".join(parts) + text[pos:]
