"""language: folding, codes, the margin and the mixed policy, and the false-drop target on labelled real text
(README: "Language false drops ≤ 0.2 % of examples on single-language real corpora")."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from pydantic import ValidationError

from pipeline.engine.records import DROP_REASON
from pipeline.stages.language.detection import Detection
from pipeline.stages.language.plausible import folder, mixed_languages, plausible, sentences
from schemas.stages.language import LanguageParams, MixedPolicy
from schemas.stages.language_codes import DEFAULT_FOLD, canonical
from tests.language_corpora import DJANGO_LOCALES, django_strings, realdata_corpora
from tests.recipes import recipe_config
from tests.test_language import chat, run

FALSE_DROP_TARGET = 0.002  # the target, stated in README.md
HINGLISH = [  # written for this test: Hindi in Latin script mixed with English, answered in English
    ("Mera order abhi tak nahi aaya hai, teen din ho gaye. Please help me track my order.",
     "I am sorry for the delay. Could you share your order number so I can check the status?"),
    ("Bhai mujhe refund chahiye, product kharab nikla. Can you process it today?",
     "I can help with that. Please share a photo of the damaged product and your order number."),
    ("Mera account lock ho gaya hai aur password reset ka email nahi aa raha. What should I do?",
     "Please check your spam folder first. If the email is not there, I can send a new reset link."),
]


# --- codes and config ----------------------------------------------------------------------------------

def test_allowed_takes_639_1_639_3_and_folded_groups():
    p = LanguageParams(name="language", allowed=["zh", "wuu", "yue", "eng", "IND"], reply_language="cmn")
    assert p.allowed == ["zh", "en", "id"] and p.reply_language == "zh"
    assert canonical("deu") == "de" and canonical("yue") == "yue" and canonical("english") is None
    assert "wuu" in p.fold["zh"] and p.fold == DEFAULT_FOLD
    # without folding, a variety is its own language
    assert LanguageParams(name="language", fold={}, allowed=["yue"]).allowed == ["yue"]


@pytest.mark.parametrize("params, message", [
    ({"allowed": ["chinese"]}, "'chinese' is not an ISO 639-1 code"),
    ({"allowed": ["xyz"]}, "see README.md (the language stage) and docs/layouts.md. `languages:` lists"),
    ({"fold": {"zh": ["yue"], "ar": ["yue"]}}, "yue would fold into two groups"),
    ({"fold": {"zh": ["zh"]}}, "a group cannot list itself"),
    ({"mixed": {"languages": []}}, "use `mixed: null` to turn it off"),
    ({"languages": ["xx"]}, "py3langid does not know 'xx'"),
    ({"margin": 1.5}, "less than or equal to 1"),
])
def test_config_errors_name_the_key_and_the_fix(params, message):
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        LanguageParams(name="language", **params)


# --- folding, margin, sentences, mixing (units) -----------------------------------------------------------

def test_fold_sums_varieties_into_their_group():
    fold = folder(DEFAULT_FOLD)
    d = Detection("wuu", 0.55, (("wuu", 0.55), ("zh", 0.40), ("ja", 0.05)))
    assert fold(d) == (("zh", pytest.approx(0.95)), ("ja", 0.05))
    assert fold(Detection("en", 0.9, (("en", 0.9), ("de", 0.1)))) == (("en", 0.9), ("de", 0.1))
    assert folder({})(d) == d.ranked


def test_plausible_keeps_close_runners_up_only():
    assert plausible((("ms", 0.6), ("id", 0.38), ("en", 0.02)), 0.5) == {"ms", "id"}
    assert plausible((("ms", 0.93), ("id", 0.05)), 0.5) == {"ms"}
    assert plausible((("ms", 0.6), ("id", 0.38)), 0.0) == {"ms"}


def test_sentences_split_at_ends_and_breaks():
    text = "Mera order nahi aaya. Please help me!\n电话打不通。请帮我查一下订单"
    assert sentences(text, 5) == ["Mera order nahi aaya.", "Please help me!", "电话打不通。", "请帮我查一下订单"]
    assert sentences("Ok. Thanks a lot for that", 8) == ["Thanks a lot for that"]


def test_mixed_languages_needs_a_mixing_language_and_another():
    answers = {"Mera order nahi aaya hai yaar.": Detection("tl", 0.7, (("tl", 0.7),)),
               "Please help me track it.": Detection("en", 0.95, (("en", 0.95),)),
               "Ich brauche Hilfe sofort.": Detection("de", 0.9, (("de", 0.9),)),
               "Wo ist mein Paket bitte?": Detection("de", 0.9, (("de", 0.9),))}

    def detect_all(texts):
        return [answers[t] for t in texts]

    texts = ["Mera order nahi aaya hai yaar. Please help me track it.",
             "Ich brauche Hilfe sofort. Wo ist mein Paket bitte?"]
    got = mixed_languages(texts, MixedPolicy(), 0.5, detect_all, folder({}))
    assert got == {texts[0]: {"tl", "en"}}  # German alone is not mixed
    assert mixed_languages(texts, MixedPolicy(languages=["de"]), 0.5, detect_all, folder({})) == {}


def test_mixed_side_passes_the_reply_check_but_english_alone_never_passes_allowed(tmp_path, monkeypatch):
    from pipeline.stages.language import stage as language_stage

    user = "Mera order nahi aaya hai yaar. Please help me track it."
    fake = {user: frozenset({"tl", "en"})}
    monkeypatch.setattr(language_stage, "mixed_languages", lambda texts, *a: {t: fake[t] for t in texts if t in fake})
    ex = [chat([user], ["I am sorry for the delay, could you share your order number please?"])]
    judged = language_stage._Judged(Detection("tl", 0.9, (("tl", 0.9),)), "tl", "tl", 3)
    real_judge = language_stage._judge
    monkeypatch.setattr(language_stage, "_judge", lambda texts, params, cache: {
        **real_judge(texts, params, cache), user: judged})
    kept = run(ex, tmp_path, reply_language="same")
    assert kept.frame[DROP_REASON].to_list() == [None] and kept.facts["kept"] == {"margin": 0, "mixed": 1}
    off = run(ex, tmp_path, reply_language="same", mixed=None)
    assert off.frame[DROP_REASON].to_list() == ["reply_language_mismatch"]
    not_allowed = run(ex, tmp_path, allowed=["hi", "en"])  # tl + English: English is tolerated, not enough
    assert not_allowed.frame[DROP_REASON].to_list() == ["language_not_allowed"]


def test_hinglish_support_chats_are_kept(tmp_path):
    out = run([chat([u], [a]) for u, a in HINGLISH], tmp_path, allowed=["en", "hi"], reply_language="same")
    assert out.frame[DROP_REASON].to_list() == [None] * len(HINGLISH)


# --- the target on labelled real text ---------------------------------------------------------------------

def _false_drops(conversations: list[list[str]], lang: str, tmp_path) -> tuple[int, int, Counter]:
    examples = [chat(turns[0::2] or [""], turns[1::2] or turns[:1]) for turns in conversations]
    out = run(examples, tmp_path, allowed=[lang], reply_language="same")
    reasons = Counter(r for r in out.frame[DROP_REASON].to_list() if r)
    return sum(reasons.values()), len(examples), reasons


def test_false_drops_on_translation_catalogues(tmp_path):
    """Django's catalogues, 15 languages: pairs of consecutive strings as a user and an assistant turn."""
    if not django_strings("de"):
        pytest.skip("Django (dev extra) is not installed")
    total = dropped = 0
    for lang in DJANGO_LOCALES:
        strings = django_strings(lang)
        pairs = [[strings[i], strings[i + 1]] for i in range(0, len(strings) - 1, 2)]
        n_dropped, n, reasons = _false_drops(pairs, lang, tmp_path)
        assert n_dropped <= max(2, 0.01 * n), (lang, reasons)  # short UI strings: per language ≤ 1 %
        total, dropped = total + n, dropped + n_dropped
    assert dropped / total <= FALSE_DROP_TARGET, (dropped, total)


def test_false_drops_on_single_language_real_corpora(realdata, tmp_path):
    for name, (lang, conversations) in realdata_corpora(realdata).items():
        n_dropped, n, reasons = _false_drops(conversations, lang, tmp_path)
        assert n_dropped / n <= FALSE_DROP_TARGET, (name, n_dropped, n, reasons)


# --- end to end -------------------------------------------------------------------------------------------

def test_recipe_chinese_instructions_keep_every_row(tmp_path, run_config):
    rows = [{"instruction": "请把下面这句话翻译成英文。", "input": "今天天气很好，我们去公园散步吧。",
             "output": "The weather is nice today, let's go for a walk in the park."},
            {"instruction": "用三句话介绍一下长城。", "input": "",
             "output": "长城是中国古代修建的军事防御工程。它东起山海关，西至嘉峪关。今天它是世界著名的旅游景点。"},
            {"instruction": "Saya ingin memesan tiket kereta untuk besok pagi ke Bandung, bisa dibantu?", "input": "",
             "output": "Tentu, kereta pagi ke Bandung berangkat pukul tujuh dari stasiun Gambir."},
            {"instruction": "Bonjour, je voudrais annuler ma commande passée hier soir, s'il vous plaît.",
             "input": "", "output": "Bien sûr, votre commande a été annulée et vous serez remboursé sous trois jours."}]
    path = tmp_path / "alpaca_zh.json"
    path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    stages = [{"name": "language", "allowed": ["zh", "yue", "id", "en"], "reply_language": None, "disk_cache": False},
              {"name": "export"}]
    result, out = run_config(recipe_config("alpaca-language-zh", path, stages))
    rejects = [json.loads(line) for line in (out / "rejects.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(r["reason"], r["source"]["rows"]) for r in rejects] == [("language_not_allowed", [4])]
    assert "user text is 'fr'" in rejects[0]["detail"]
    stats = result.stats
    assert stats["rows"]["input"] == stats["rows"]["exported"] + stats["rows"]["rejected"] == 4


def test_report_shows_what_margin_and_mixed_kept(tmp_path, run_config):
    path = tmp_path / "chats.jsonl"
    path.write_text("".join(json.dumps({"messages": [{"role": "user", "content": u}, {"role": "assistant", "content": a}]})
                            + "\n" for u, a in HINGLISH), encoding="utf-8")
    result, out = run_config({"inputs": [{"path": str(path), "layout": "conversations"}],
                              "stages": [{"name": "language", "allowed": ["en"], "reply_language": "same"},
                                         {"name": "export"}]})
    rows = result.stats["rows"]
    assert rows["input"] == rows["exported"] + rows["rejected"] == len(HINGLISH)
    assert result.stats["facts"]["language"]["kept"] == {"margin": 0, "mixed": 0}
    assert "Kept by <code>margin</code>" in (out / "report.html").read_text(encoding="utf-8")
