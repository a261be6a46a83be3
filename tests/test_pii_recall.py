"""pii targets on real text: recall on a labelled set built at test time (real sentences from ../shared/realdata
with planted real-format values for 15 countries), false positives on every real message, inspected.

Nothing from the real files is committed: the sentences are read when the test runs. Planted values come
from libphonenumber's example numbers (varied in their last digits, kept when still valid), python-stdnum's
IBAN check digits over each registry country's BBAN structure, and Luhn-completed card numbers.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from pathlib import Path

import phonenumbers
import pytest
from phonenumbers import PhoneNumberFormat as Fmt
from phonenumbers import PhoneNumberType as Kind
from stdnum import iban as stdnum_iban

from pipeline.stages.pii.accounts import IBAN_LENGTHS, luhn_valid
from pipeline.stages.pii.patterns import find_pii
from schemas.stages.pii import DEFAULT_PHONE_REGIONS
from tests.test_pii import _real_texts

COUNTRIES = ("CN", "IN", "ID", "BR", "DE", "FR", "GB", "US", "JP", "KR", "MX", "NG", "PL", "TR", "VN")
# How people hand over a phone number: a phone word before or after it, in the country's language or English.
PHONE_CARRIERS = ["My phone number is {}.", "Call me at {} tomorrow.", "电话：{}", "联系电话是{}，谢谢", "mobile: {}",
                  "WhatsApp {} please", "Mi teléfono es {}", "Telefon: {}", "電話番号は{}です", "전화번호 {}",
                  "nomor HP saya {}", "số điện thoại {}", "telefone {}", "tel. {}", "{} is my cell"]
NEUTRAL = ["Here it is: {}.", "{}", "See {} for details.", "({})", "我的是{}。"]


def _sentences(realdata: Path, n: int, rng: random.Random) -> list[str]:
    """Real sentences without digits (a planted value is then the only number)."""
    pool = [t.strip() for _, t in _real_texts(realdata) if 20 <= len(t) <= 300 and not any(c.isdigit() for c in t)]
    zh = json.loads((realdata / "llamafactory-demo/dpo_zh_demo.json").read_text(encoding="utf-8"))
    pool += [s for ex in zh for s in ex["conversations"][0]["value"].split("。") if 8 <= len(s) <= 200
             and not any(c.isdigit() for c in s)]
    return rng.sample(pool, n)


def _phone_values(rng: random.Random) -> list[tuple[str, str]]:
    """(country, written number): fixed-line and mobile numbers per country, international and national."""
    out = []
    for cc in COUNTRIES:
        for kind in (Kind.FIXED_LINE, Kind.MOBILE):
            example = phonenumbers.example_number_for_type(cc, kind)
            numbers = [example]
            while len(numbers) < 4:
                nsn = str(example.national_number)
                cand = phonenumbers.parse(f"+{example.country_code}{nsn[:-3]}{rng.randrange(1000):03d}")
                if phonenumbers.is_valid_number(cand) and cand not in numbers:
                    numbers.append(cand)
            for num in numbers:
                for fmt in (Fmt.E164, Fmt.INTERNATIONAL, Fmt.NATIONAL):
                    out.append((cc, phonenumbers.format_number(num, fmt)))
    return out


def _card(prefix: str, length: int, rng: random.Random) -> str:
    body = prefix + "".join(str(rng.randrange(10)) for _ in range(length - len(prefix) - 1))
    return next(body + d for d in "0123456789" if luhn_valid(body + d))


def _card_values(rng: random.Random) -> list[str]:
    out = []
    for prefix, length in [("4", 16), ("51", 16), ("55", 16), ("2221", 16), ("34", 15), ("37", 15), ("6011", 16),
                           ("35", 16), ("62", 16), ("4", 13), ("36", 14)] * 6:
        digits = _card(prefix, length, rng)
        groups = ([digits[:4], digits[4:10], digits[10:]] if length in (14, 15)
                  else [digits[i:i + 4] for i in range(0, length, 4)])
        # a 13-digit Visa is no longer printed: only its unbroken form, as stored in old records
        out += [digits] if length == 13 else [digits, " ".join(groups), "-".join(groups)]
    return out


def _iban_values(rng: random.Random) -> list[str]:
    out = []
    structure = {cc: stdnum_iban._ibandb.info(cc + "00")[0][1]["bban"] for cc in IBAN_LENGTHS}
    chars = {"n": "0123456789", "a": "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "c": "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
    for cc, bban_shape in structure.items():
        for _ in range(3):
            bban = ""
            for count, kind in re.findall(r"(\d+)!([nac])", bban_shape):
                bban += "".join(rng.choice(chars[kind]) for _ in range(int(count)))
            number = cc + stdnum_iban.calc_check_digits(cc + "00" + bban) + bban
            out += [number, stdnum_iban.format(number)]
    return out


def _emails(rng: random.Random) -> list[str]:
    names = ["maria.keller", "j.okafor", "wang.wei88", "priya_sharma", "le.van.an", "ayse.yilmaz", "kim-minjun",
             "joao.silva+work", "anna.nowak", "tanaka.h", "budi.santoso", "o'neil", "x", "info"]
    domains = ["gmail.com", "example.co.uk", "mail.qq.com", "163.com", "uol.com.br", "wp.pl", "yahoo.co.jp",
               "naver.com", "gmx.de", "orange.fr", "company.com.mx", "outlook.com.tr", "vnn.vn", "rediff.co.in"]
    return [f"{rng.choice(names)}@{d}" for d in domains for _ in range(8)]


def _recall(cases: list[tuple[str, str, str]]) -> tuple[float, list]:
    """cases: (text, kind, value); recall = share whose value is found exactly as that kind."""
    missed = [(t, v) for t, kind, v in cases if (kind, v) not in
              [(m.type, t[m.start:m.end]) for m in find_pii(t)]]
    return 1 - len(missed) / len(cases), missed


@pytest.mark.slow
def test_recall_on_planted_values_in_real_sentences(realdata):
    rng = random.Random(7)
    phones = _phone_values(rng)
    assert {cc for cc, _ in phones} == set(COUNTRIES) and set(COUNTRIES) <= set(DEFAULT_PHONE_REGIONS)
    sentences = _sentences(realdata, 2000, rng)
    cases = {"phone": [], "email": [], "credit_card": [], "iban": []}
    national_neutral = []  # a national number with no phone word: measured, not targeted (see README)
    for i, (cc, value) in enumerate(phones):
        sentence = sentences[i % len(sentences)]
        international = value.startswith("+")
        template = rng.choice(NEUTRAL if international and i % 2 else PHONE_CARRIERS)
        cases["phone"].append((f"{sentence} {template.format(value)}", "phone", value))
        if not international:
            national_neutral.append((f"{sentence} {rng.choice(NEUTRAL).format(value)}", "phone", value))
    for kind, values in (("email", _emails(rng)), ("credit_card", _card_values(rng)), ("iban", _iban_values(rng))):
        for i, value in enumerate(values):
            template = rng.choice(NEUTRAL + ["my card: {}", "IBAN {}", "mail {} now"])
            cases[kind].append((f"{sentences[(i * 7) % len(sentences)]} {template.format(value)}", kind, value))
    results = {kind: _recall(c) for kind, c in cases.items()}
    for kind, (recall, missed) in results.items():
        assert recall >= 0.98, (kind, recall, missed[:10])
    assert len(cases["phone"]) >= 15 * 2 * 4 * 3 and len(cases["iban"]) == 89 * 6
    neutral_recall, _ = _recall(national_neutral)
    assert neutral_recall >= 0.85  # README: national numbers without a phone word (90 % measured: CN and PL
    # mobiles written without a trunk 0 need a phone word)


def _all_real_messages(realdata: Path):
    yield from _real_texts(realdata)
    folder = realdata / "llamafactory-demo"
    for name in ("dpo_zh_demo.json", "glaive_toolcall_en_demo.json", "glaive_toolcall_zh_demo.json"):
        for ex in json.loads((folder / name).read_text(encoding="utf-8")):
            turns = ex["conversations"] + [t for k in ("chosen", "rejected") if isinstance(ex.get(k), dict)
                                           for t in [ex[k]]]
            yield from ((name, t["value"]) for t in turns if t["from"] in ("human", "gpt"))
    for lang in ("de", "en", "it", "zh"):
        for line in (realdata / f"xdailydialog/{lang}_test_human.txt").read_text(encoding="utf-8").splitlines():
            yield from ((f"xdailydialog-{lang}", t) for t in line.split("\t")[0].split("__eou__") if t.strip())
    for name in ("toy_chat_fine_tuning.jsonl", "drone_training.jsonl"):
        for line in (realdata / "openai-cookbook-ft" / name).read_text(encoding="utf-8").splitlines():
            yield from ((name, m["content"]) for m in json.loads(line)["messages"] if isinstance(m.get("content"), str))


# Every detection of a phone, card, IBAN or national id in the real files, inspected: all are phone numbers
# given as phone numbers (a charity's switchboard and toll-free line, a UK service line, a spam ad, and the
# dialogues' "My phone number is 626-555-1739", "电话号码是718-0167", "他的手机是0911222333"…); none is a
# false positive.
INSPECTED = Counter({"persuasionforgood:phone": 3, "alpaca:phone": 1, "twcs:phone": 1, "moderation:phone": 1,
                     "dpo_zh_demo.json:phone": 2, "glaive_toolcall_zh_demo.json:phone": 1, "xdailydialog-de:phone": 6,
                     "xdailydialog-en:phone": 6, "xdailydialog-it:phone": 4, "xdailydialog-zh:phone": 5})
FALSE_POSITIVES = 0


@pytest.mark.slow
def test_false_positives_on_every_real_message(realdata):
    found, messages = Counter(), 0
    for source, text in _all_real_messages(realdata):
        messages += 1
        found.update(f"{source}:{m.type}" for m in find_pii(text)
                     if m.type in ("phone", "credit_card", "iban", "national_id"))
    assert messages >= 60_000
    assert found == INSPECTED
    assert FALSE_POSITIVES <= messages / 10_000
