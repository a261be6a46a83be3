"""pii phones, cards and ids as the issue reported them: CJK-adjacent numbers, Indian mobiles, ranges, maths,
near-misses with their reasons, `phone_regions`, and the whole run with the report."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.errors import UserError
from pipeline.stages.pii.accounts import IBAN_LENGTHS
from pipeline.stages.pii.patterns import PiiMiss, find_pii, redact
from pipeline.stages.pii.phones import DEFAULT_REGIONS
from schemas.stages.pii import DEFAULT_PHONE_REGIONS
from tests.test_pii import assert_gates_hold, run


def found(text: str, **kw) -> list[tuple[str, str]]:
    return [(m.type, text[m.start:m.end]) for m in find_pii(text, **kw)]


def missed(text: str) -> list[tuple[str, str, str]]:
    misses: list[PiiMiss] = []
    find_pii(text, misses=misses)
    return [(x.type, text[x.start:x.end], x.reason) for x in misses]


PHONES = [
    ("电话是010-67024431", "010-67024431"),
    ("联系电话：010-62754070,谢谢", "010-62754070"),
    ("手机13812345678请回电", "13812345678"),
    ("電話番号は03-1234-5678です", "03-1234-5678"),
    ("전화번호는 02-312-3456입니다", "02-312-3456"),
    ("my mobile number is 9876543210", "9876543210"),
    ("call me on 98765 43210 tomorrow", "98765 43210"),
    ("WhatsApp +91 98765 43210", "+91 98765 43210"),
    ("Ligue para (11) 91234-5678 hoje", "(11) 91234-5678"),
    ("Rufen Sie 030 1234567 an", "030 1234567"),
    ("appelez le 01 23 45 67 89", "01 23 45 67 89"),
    ("hubungi 0812-3456-7890 ya", "0812-3456-7890"),
    ("gọi 0912 345 678 nhé", "0912 345 678"),
    ("zadzwoń: +48 512 345 678", "+48 512 345 678"),
    ("beni ara 0532 123 45 67", "0532 123 45 67"),
    ("call 0803 123 4567 (Lagos)", "0803 123 4567"),
]


@pytest.mark.parametrize("text,value", PHONES)
def test_phones_are_found(text, value):
    assert ("phone", value) in found(text)
    assert "[PHONE]" in redact(text, find_pii(text)) and value not in redact(text, find_pii(text))
    assert_gates_hold(text)


def test_a_chinese_message_is_redacted_whole():
    text = "办公室电话010-62754070,传真010-62754071"
    assert redact(text, find_pii(text)) == "办公室电话[PHONE],传真[PHONE]"


NOT_PHONES = [
    ("cut down this number by 500-1000 calories", "500-1000", "range"),
    ("the population grew from 1200-1500 in that town", "1200-1500", "range"),
    ("compute 355909190063-746 step by step", "355909190063-746", "no_phone_word"),
    ("the order number is 9876543210", "9876543210", "order_id"),
    ("ticket #555-123-4567 is open", None, None),
    ("released on 2023-10-12 and 12.10.2023", "2023-10-12", "date"),
    ("update to version 10.0.19041.1", None, None),
    ("x = 4721 9823 + 1", "4721 9823", "arithmetic"),
    ("total supply: 140.000.000 tokens", "140.000.000", "amount"),
    ("pi is about 314.0185 units", "314.0185", "decimal"),
    ("in 2018 1000 children", None, None),
    ("1234567890 is a nice number", "1234567890", "no_phone_word"),
]


@pytest.mark.parametrize("text,value,reason", NOT_PHONES)
def test_lookalikes_are_not_phones_and_near_misses_say_why(text, value, reason):
    assert [t for t, _ in found(text)] == []
    if value:
        assert ("phone", value, reason) in missed(text)


def test_cards_need_a_cards_grouping():
    assert found("card 4111 1111 1111 1111 ok") == [("credit_card", "4111 1111 1111 1111")]
    assert found("amex 3782-822463-10005") == [("credit_card", "3782-822463-10005")]
    assert found("what is 355909190063-746?") == []
    assert ("credit_card", "355909190063-746", "grouping") in missed("what is 355909190063-746?")
    assert found("4111111111111111 + 3 = ?") == []


def test_ibans_of_every_registry_country_and_a_failed_check():
    assert len(IBAN_LENGTHS) == 89 and {"RU", "SV", "LY", "MN", "OM", "VA"} <= set(IBAN_LENGTHS)
    assert found("Konto SV62 CENR 0000 0000 0000 0070 0025") == [("iban", "SV62 CENR 0000 0000 0000 0070 0025")]
    assert missed("IBAN DE89 3704 0044 0532 0130 01") == [("iban", "DE89 3704 0044 0532 0130 01", "checksum")]


def test_national_ids_checked_by_stdnum():
    assert found("身份证 11010519491231002X") == [("national_id", "11010519491231002X")]
    assert found("CPF 390.533.447-05") == [("national_id", "390.533.447-05")]
    assert found("Aadhaar 2345 6789 0124") == [("national_id", "2345 6789 0124")]
    assert found("RRN 971013-9019902") == [("national_id", "971013-9019902")]
    assert found("CPF 390.533.447-06") == [] and missed("CPF 390.533.447-06")[0][2] == "checksum"


def test_phone_regions_decide_national_numbers():
    text = "mobile 9876543210"
    assert found(text, phone_regions=("IN",)) == [("phone", "9876543210")]
    assert found(text, phone_regions=("GB",)) == []
    assert found("call +91 98765 43210", phone_regions=("GB",)) == [("phone", "+91 98765 43210")]


def test_default_regions_agree_with_the_schema():
    assert tuple(DEFAULT_PHONE_REGIONS) == DEFAULT_REGIONS


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 99_999), st.integers(1, 99_999), st.sampled_from(["calories", "words", "km", "USD", "个"]))
def test_round_ranges_are_never_phones(a, b, unit):
    low, high = sorted((a * 10, b * 10))
    if low < high:
        text = f"cut it by {low}-{high} {unit}, call me"
        assert [t for t, _ in found(text)] == []


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="电话是的号码联系我们请拨打手机", max_size=6), st.sampled_from([v for _, v in PHONES[:3]]))
def test_cjk_text_around_a_number_never_hides_it(prefix, number):
    text = f"电话{prefix}{number}{prefix}"
    assert ("phone", number) in found(text)
    assert_gates_hold(text)


# --- config and the whole run -----------------------------------------------------------------------------

def test_an_unknown_region_stops_the_run(run_config):
    config = {"inputs": [{"path": "x.jsonl"}], "stages": [{"name": "pii", "phone_regions": ["XX"]}]}
    with pytest.raises(UserError, match=r"phone_regions.*'XX'.*ISO 3166-1"):
        run_config(config)


def test_stage_facts_count_found_redacted_and_near_misses(tmp_path):
    out = run([{"messages": [{"role": "user", "content": "电话是010-67024431, eat 500-1000 calories"},
                             {"role": "assistant", "content": "mail a@example.com"}]}], tmp_path,
              actions={"email": "flag"})
    assert out.facts["detections"] == {"email": 1, "phone": 1}
    assert out.facts["redacted"] == {"phone": 1}
    assert out.facts["near_misses"] == {"phone: range": 1}
    sample = out.facts["near_miss_samples"]["phone"][0]
    assert sample["reason"] == "range" and "[PHONE]" in sample["snippet"] and "«500-1000»" in sample["snippet"]
    assert "67024431" not in json.dumps(out.facts)


def test_end_to_end_redacts_and_the_report_shows_near_misses(run_config, tmp_path):
    rows = [{"instruction": "我的电话是010-67024431，请联系", "output": "好的"},
            {"instruction": "My mobile number is 9876543210", "output": "Noted."},
            {"instruction": "How do I cut down by 500-1000 calories?", "output": "Eat less."},
            {"instruction": "What is 355909190063-746?", "output": "355909189317"}]
    src = tmp_path / "rows.jsonl"
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    config = {"inputs": [{"path": str(src), "layout": "pairs",
                          "columns": {"prompt": "instruction", "response": "output"}}],
              "stages": [{"name": "pii"}, {"name": "export"}]}
    result, out = run_config(config)
    rows_stat = result.stats["rows"]
    assert rows_stat["input"] == rows_stat["exported"] + rows_stat["rejected"] == 4
    written = (out / "train.jsonl").read_text(encoding="utf-8") + (out / "validation.jsonl").read_text(
        encoding="utf-8")
    assert "67024431" not in written and "9876543210" not in written
    assert "500-1000 calories" in written and "355909190063-746" in written
    facts = result.stats["facts"]["pii"]
    assert facts["redacted"] == {"phone": 2}
    # the maths question and its answer: a card's digits in the wrong groups, bare numbers without a phone word
    assert facts["near_misses"] == {"credit_card: grouping": 1, "phone: no_phone_word": 2, "phone: range": 1}
    report = (out / "report.html").read_text(encoding="utf-8")
    assert "looked like a phone, not redacted because it is a range of numbers" in report
    assert "near-misses" in report
