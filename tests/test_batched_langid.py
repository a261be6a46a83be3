"""batched_langid: py3langid's answers on real text, whatever the batch, and its language restriction."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from py3langid.langid import MODEL_FILE, LanguageIdentifier

from pipeline.stages.language.batched import BatchedLangid
from schemas.stages.language import PY3LANGID_CODES

LANGS = ("de", "en", "it", "zh")


@pytest.fixture(scope="module")
def model() -> BatchedLangid:
    return BatchedLangid()


@pytest.fixture(scope="module")
def library() -> LanguageIdentifier:
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def real_texts(realdata: Path, n: int) -> list[str]:
    """Whole dialogues (cut at 200 and 500 characters) and single turns of XDailyDialog, four languages."""
    out = []
    for lang in LANGS:
        lines = (realdata / "xdailydialog" / f"{lang}_test_human.txt").read_text(encoding="utf-8").splitlines()[:n]
        for line in lines:
            turns = [t.strip() for t in line.split("\t")[0].split("__eou__") if t.strip()]
            joined = " ".join(turns)
            out += [joined[:200], joined[:500], *turns[:3]]
    return out


def test_same_answers_as_py3langid_on_real_text(realdata, model, library):
    texts = real_texts(realdata, 150)
    ours = model.classify(texts)
    theirs = [library.classify(t) for t in texts]
    assert [lang for lang, _ in ours] == [lang for lang, _ in theirs]
    assert max(abs(a - b) for (_, a), (_, b) in zip(ours, theirs)) < 1e-5  # float32 sums in another order


def test_edge_texts_match_the_library(model, library):
    texts = ["", "   ", "12345 678", "ЗДРАВСТВУЙТЕ, КАК ДЕЛА У ВАС СЕГОДНЯ", "日本語のテキストです", "\ud800abc",
             "e\u0301te\u0301", "😀😀😀", "a" * 3000]
    for (lang, conf), (want_lang, want_conf) in zip(model.classify(texts), map(library.classify, texts)):
        assert lang == want_lang and conf == pytest.approx(want_conf, abs=1e-5)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_an_answer_does_not_depend_on_the_batch(realdata, model, data):
    texts = real_texts(realdata, 12)
    picked = data.draw(st.lists(st.sampled_from(texts), min_size=1, max_size=40))
    alone = [model.classify([t])[0] for t in picked]
    assert model.classify(picked) == alone  # bit-identical, so chunked runs equal whole runs


def test_restricted_languages_choose_among_them(realdata, library):
    texts = real_texts(realdata, 20)
    restricted = BatchedLangid(["de", "en", "it", "zh"])
    library.set_languages(["de", "en", "it", "zh"])
    try:
        ours, theirs = restricted.classify(texts), [library.classify(t) for t in texts]
    finally:
        library.set_languages(None)
    assert {lang for lang, _ in ours} <= {"de", "en", "it", "zh"}
    assert [lang for lang, _ in ours] == [lang for lang, _ in theirs]
    with pytest.raises(ValueError, match="Unknown language code"):
        BatchedLangid(["xx"])


def test_schema_codes_are_the_models_two_letter_codes(model):
    assert PY3LANGID_CODES == {c for c in model.classes if len(c) == 2}


def test_sure_texts_skip_the_full_ranking_with_the_same_answers(model, realdata, monkeypatch):
    """rank() answers a text whose best class is above 1 - MIN_PROBABILITY alone, without sorting its
    runners-up: they are all below MIN_PROBABILITY, so the full ranking would have cut them anyway."""
    from pipeline.stages.language import batched

    texts = real_texts(realdata, 200) + ["ok", "check invoice from September", "Terima kasih banyak ya",
                                         "好的谢谢", "Hola", "mobile number is 9876543210", "1 2 3"]
    fast = model.rank(texts, 5, ["pcm"])
    monkeypatch.setattr(batched, "MIN_PROBABILITY", -1.0)  # no text is "sure": every runner-up is kept
    full = model.rank(texts, 5, ["pcm"])
    cut = [tuple(x for j, x in enumerate(r) if j == 0 or x[1] >= batched.MIN_PROBABILITY_DEFAULT) for r in full]
    assert fast == cut
    assert any(len(r) == 1 for r in fast) and any(len(r) > 1 for r in fast)  # both paths are exercised
