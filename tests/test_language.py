"""language: detection per side on real translations, allowed list, reply check, confidence, cache."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest
from pydantic import ValidationError

from pipeline.engine.facts import merge_parts, render
from pipeline.engine.records import DROP_DETAIL, DROP_REASON, EXAMPLE_SCHEMA, dumps_example
from pipeline.engine.segments import stage_facts
from pipeline.engine.stage import StageContext
from pipeline.stages.language import detection as language_detection
from pipeline.stages.language import stage as language
from pipeline.stages.language.detection import DetectionCache
from pipeline.stages.language.stage import side_sample
from schemas.stages.language import LanguageParams
from tests.conftest import ROOT, sample_config

LANGS = ("de", "en", "it", "zh")


def frame_of(examples: list[dict]) -> pl.DataFrame:
    rows = [{"example_id": f"e{i}", "source_file": "f", "source_rows": [i + 1], "group_id": f"g{i}",
             "example": dumps_example(e), "flags": []} for i, e in enumerate(examples)]
    return pl.DataFrame(rows, schema=EXAMPLE_SCHEMA)


def stage_output(examples: list[dict], cache_dir: Path, **params):
    """The stage's own output (typed facts) and its params."""
    params.setdefault("disk_cache", False)
    ctx = StageContext(None, cache_dir / "out", cache_dir, lambda **k: None, lambda m: None)
    params = LanguageParams(name="language", **params)
    return language.run(frame_of(examples), params, ctx), params


def run(examples: list[dict], cache_dir: Path, **params):
    """The stage's output, with its facts as the runner reports them (and its run finished, as the runner does)."""
    out, params = stage_output(examples, cache_dir, **params)
    language.finish_run(params, StageContext(None, cache_dir / "out", cache_dir, lambda **k: None, lambda m: None))
    return replace(out, facts=stage_facts(language, params, [out.facts]))


def chat(user_turns: list[str], assistant_turns: list[str], system: str | None = None) -> dict:
    msgs = [{"role": "system", "content": system}] if system else []
    for u, a in zip(user_turns, assistant_turns):
        msgs += [{"role": "user", "content": u}, {"role": "assistant", "content": a}]
    return {"messages": msgs}


def dialogues(realdata: Path, lang: str, n: int) -> list[list[str]]:
    lines = (realdata / "xdailydialog" / f"{lang}_test_human.txt").read_text(encoding="utf-8").splitlines()[:n]
    return [[t.strip() for t in line.split("\t")[0].split("__eou__") if t.strip()] for line in lines]


def as_chat(turns: list[str]) -> dict:
    return chat(turns[0::2], turns[1::2])


@pytest.fixture(autouse=True)
def fresh_memory():
    language_detection._MEMORY.clear()


EN = ["Hello, my internet has been down since this morning. Can you check the line please?",
      "Of course. I can see a fault on your line; an engineer will fix it by 6 pm today."]
DE = ["Hallo, mein Internet funktioniert seit heute Morgen nicht. Können Sie die Leitung prüfen?",
      "Natürlich. Ich sehe eine Störung auf Ihrer Leitung; ein Techniker behebt sie bis 18 Uhr."]
ES = ["Hola, mi internet no funciona desde esta mañana. ¿Pueden revisar la línea, por favor?",
      "Claro. Veo una avería en su línea; un técnico la reparará hoy antes de las seis."]


def test_sides_allowed_list_and_reply_language(tmp_path):
    examples = [chat([EN[0]], [EN[1]]), chat([DE[0]], [DE[1]]), chat([ES[0]], [ES[1]]),
                chat([DE[0]], [EN[1]]), chat(["Okay."], ["Ja."])]
    out = run(examples, tmp_path, allowed=["en", "de"], reply_language="same")
    assert out.frame["language"].to_list() == ["en", "de", "es", "de", "und"]
    assert out.frame[DROP_REASON].to_list() == [None, None, "language_not_allowed", "reply_language_mismatch", None]
    details = out.frame[DROP_DETAIL].to_list()
    assert details[2].startswith("user text is 'es'") and details[2].endswith("(allowed: de, en)")
    assert details[3].startswith("assistant answers in 'en' but the user writes 'de'")
    f = out.facts
    assert f["by_side"]["user"]["short"] == 1 and f["by_side"]["assistant"]["short"] == 1
    assert f["not_allowed"] == {"es": 2} or f["not_allowed"] == {"es": 1}
    assert f["mismatches"]["count"] == 1 and f["mismatches"]["pairs"] == {"de->en": 1}
    assert f["mismatches"]["samples"][0]["example_id"] == "e3"


def test_fixed_reply_language_and_flag_actions(tmp_path):
    system = "You are Northwind's assistant. Always answer in German, whatever language the customer writes in."
    examples = [chat([EN[0]], [DE[1]], system), chat([EN[0]], [EN[1]], system)]
    out = run(examples, tmp_path, reply_language="de", reply_action="flag")
    assert out.frame[DROP_REASON].to_list() == [None, None]
    assert out.frame["flags"].to_list() == [[], ["language:reply_language_mismatch"]]
    assert run(examples, tmp_path).frame[DROP_REASON].to_list() == [None, None]  # no reply check by default


def test_uncertain_sides_are_not_judged(tmp_path):
    mixed = chat(["Hallo hello hola bonjour ciao merci danke thanks gracias"], [EN[1]])
    out = run([mixed], tmp_path, allowed=["en"], reply_language="same", min_confidence=0.5)
    assert out.frame[DROP_REASON].to_list() == [None]
    assert out.frame["flags"][0].to_list() == ["language:language_uncertain"]
    assert out.facts["uncertain"] == 1
    dropped = run([mixed], tmp_path, min_confidence=0.5, uncertain_action="drop")
    assert dropped.frame[DROP_REASON][0] == "language_uncertain"
    assert "with confidence 0." in dropped.frame[DROP_DETAIL][0]


def test_sample_skips_noise_system_and_untrained_turns():
    ex = {"messages": [
        {"role": "system", "content": "Antworte immer auf Deutsch."},
        {"role": "user", "content": "Hi [PERSON_NAME], see https://example.com/x?y=1 or mail a@b.com"},
        {"role": "assistant", "content": "ignored", "weight": 0},
        {"role": "assistant", "content": [{"type": "text", "text": "Sure."}]},
    ]}
    assert side_sample(ex["messages"], "user", 500) == "Hi , see or mail"
    assert side_sample(ex["messages"], "assistant", 500) == "Sure."
    assert len(side_sample([{"role": "user", "content": "word " * 500}], "user", 100)) == 100


@pytest.mark.parametrize("backend", ["py3langid", "langdetect"])
def test_real_translations_are_told_apart(realdata, tmp_path, backend):
    n = 60
    examples = [as_chat(d) for lang in LANGS for d in dialogues(realdata, lang, n)]
    out = run(examples, tmp_path, backend=backend, allowed=["en", "de"], reply_language="same")
    got = out.frame["language"].to_list()
    expected = [lang for lang in LANGS for _ in range(n)]
    judged = [(g, e) for g, e in zip(got, expected) if g != "und"]  # "und": both sides under min_letters
    assert len(judged) >= 0.9 * len(examples)
    assert sum(g == e for g, e in judged) >= 0.98 * len(judged)
    reasons = out.frame[DROP_REASON].to_list()
    assert {g for g, r in zip(got, reasons) if r is None} <= {"en", "de", "und"}
    assert sum(r == "language_not_allowed" for r in reasons) >= sum(g in ("it", "zh") for g in got)


def test_mixed_translations_are_mismatches(realdata, tmp_path):
    de, en = dialogues(realdata, "de", 40), dialogues(realdata, "en", 40)
    examples = [chat(d[0::2], e[1::2]) for d, e in zip(de, en)]  # German customer, English agent
    out = run(examples, tmp_path, reply_language="same")
    both_judged = min(out.facts["by_side"]["user"].get("de", 0), out.facts["by_side"]["assistant"].get("en", 0))
    assert both_judged >= 30
    assert out.facts["mismatches"]["pairs"] == {"de->en": out.facts["mismatches"]["count"]}
    assert out.facts["mismatches"]["count"] >= both_judged - 3
    assert set(out.frame[DROP_REASON].drop_nulls()) == {"reply_language_mismatch"}


def test_langdetect_is_deterministic_in_any_order(realdata, tmp_path):
    examples = [as_chat(d) for lang in LANGS for d in dialogues(realdata, lang, 10)]
    first = run(examples, tmp_path, backend="langdetect")
    language_detection._MEMORY.clear()
    second = run(examples[::-1], tmp_path, backend="langdetect")
    assert first.frame["language"].to_list() == second.frame["language"].to_list()[::-1]
    assert json.dumps(first.facts["by_language"], sort_keys=True) == json.dumps(second.facts["by_language"],
                                                                                sort_keys=True)


def test_cache_in_memory_and_on_disk(tmp_path):
    examples = [chat([EN[0]], [EN[1]]), chat([DE[0]], [DE[1]]), chat([EN[0]], [EN[1]])]
    first = run(examples, tmp_path, disk_cache=True)
    assert first.facts["cache"] == {"hits": 0, "misses": 4}  # 6 sides, 4 distinct texts
    assert (tmp_path / "language_detections.sqlite").is_file()
    assert run(examples, tmp_path, disk_cache=True).facts["cache"] == {"hits": 4, "misses": 0}
    language_detection._MEMORY.clear()
    again = run(examples, tmp_path, disk_cache=True)
    assert again.facts["cache"] == {"hits": 4, "misses": 0}  # read back from SQLite
    assert again.frame["language"].to_list() == first.frame["language"].to_list()


def test_parts_append_their_detections_and_the_run_merges_them_in_key_order(tmp_path):
    import sqlite3

    examples = [chat([EN[0]], [EN[1]]), chat([DE[0]], [DE[1]])]
    first, params = stage_output(examples, tmp_path, disk_cache=True)  # one part, not finished yet
    cache = DetectionCache(params.backend, tmp_path)

    def rows(table: str) -> list:
        with sqlite3.connect(tmp_path / "language_detections.sqlite") as con:
            return con.execute(f"SELECT key, check_key, lang FROM {table}").fetchall()

    stored = rows(f"{cache.table}_new")
    assert render(first.facts)["cache"] == {"hits": 0, "misses": 4}
    assert len(stored) == 4 and rows(cache.table) == []  # appended, not in the keyed table yet
    language_detection._MEMORY.clear()
    again, _ = stage_output(examples, tmp_path, disk_cache=True)  # another part of the same run: detected again
    assert render(again.facts)["cache"] == {"hits": 0, "misses": 4} and len(rows(f"{cache.table}_new")) == 8
    language.finish_run(params, StageContext(None, tmp_path, tmp_path, lambda **k: None, lambda m: None))
    assert rows(cache.table) == sorted(set(stored)) and rows(f"{cache.table}_new") == []  # one row per text
    language_detection._MEMORY.clear()
    assert run(examples, tmp_path, disk_cache=True).facts["cache"] == {"hits": 4, "misses": 0}
    assert rows(f"{cache.table}_new") == []  # nothing new to store


def test_a_cache_file_that_cannot_be_merged_warns(tmp_path):
    warnings: list[str] = []
    language_detection.merge_stored(tmp_path, warnings.append)  # no file yet: nothing to do
    assert warnings == []
    (tmp_path / "language_detections.sqlite").write_bytes(b"not a database" * 100)
    language_detection.merge_stored(tmp_path, warnings.append)
    assert len(warnings) == 1 and "the next run detects this run's texts again" in warnings[0]


def test_unusable_disk_cache_warns_and_continues(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    warnings: list[str] = []
    cache = DetectionCache("py3langid", blocker / "sub", warnings.append)
    assert [d.lang for d in cache.detect_all([EN[0]])] == ["en"]
    assert warnings and "continuing without the on-disk cache" in warnings[0]


def test_config_errors_are_plain():
    with pytest.raises(ValidationError, match="'english' is not an ISO 639-1 code"):
        LanguageParams(name="language", allowed=["english"])
    with pytest.raises(ValidationError, match="use null to allow every language"):
        LanguageParams(name="language", allowed=[])
    assert LanguageParams(name="language", allowed=["EN", " de"], reply_language="DE").allowed == ["en", "de"]


# --- the sample data ------------------------------------------------------------------------------------



def test_sample_languages_and_planted_mismatches(run_config):
    planted = json.loads((ROOT / "data/sample/defects.json").read_text())["support_chats.csv"]["language"]
    result, out = run_config(sample_config("language"))
    rejects = [json.loads(x) for x in (out / "rejects.jsonl").read_text(encoding="utf-8").splitlines()]
    mine = [r for r in rejects if r["stage"] == "language"]
    assert [r["reason"] for r in mine] == ["reply_language_mismatch"] * len(planted["customer_de_agent_en"])
    assert all(r["detail"].startswith("assistant answers in 'en' but the user writes 'de'") for r in mine)
    facts = result.stats["facts"]["language"]
    # every German / Spanish chat (and the German FAQ pair) is recognised and kept
    assert facts["by_language"]["de"] >= len(planted["de"]) + 1 and facts["by_language"]["es"] >= len(planted["es"])
    assert facts["not_allowed"] == {}
    assert facts["mismatches"]["pairs"] == {"de->en": 2}


# --- chunked execution, the cache, restricted languages ---------------------------------------------------

def chunk_test_examples(realdata: Path) -> list[dict]:
    """Real dialogues in four languages, German users answered in English, short and mixed sides."""
    examples = [as_chat(d) for lang in LANGS for d in dialogues(realdata, lang, 45)]
    de, en = dialogues(realdata, "de", 30), dialogues(realdata, "en", 30)
    examples += [chat(d[0::2], e[1::2]) for d, e in zip(de, en)]
    examples += [chat(["Okay."], ["Ja."]), chat(["Hallo hello hola bonjour ciao merci danke thanks gracias"], [EN[1]])]
    examples += examples[:25]  # exact repeats: texts met again in later chunks
    return [examples[i] for i in sorted(range(len(examples)), key=lambda i: (i * 7919) % len(examples))]


def run_chunks(examples: list[dict], cache_dir: Path, sizes: list[int], **params):
    frame = frame_of(examples)
    ctx = StageContext(None, cache_dir / "out", cache_dir, lambda **k: None, lambda m: None)
    p = LanguageParams(name="language", **params)
    outs, start = [], 0
    for size in [*sizes, frame.height - sum(sizes)]:
        outs.append(language.run(frame.slice(start, size), p, ctx))
        start += size
    language.finish_run(p, ctx)
    return pl.concat([o.frame for o in outs]), stage_facts(language, p, [o.facts for o in outs])


CHUNK_PARAMS = {"allowed": ["en", "de"], "reply_language": "same", "reply_action": "flag",
                "uncertain_action": "flag", "samples_per_language": 3, "disk_cache": True}


def test_chunks_merged_equal_one_run(realdata, tmp_path):
    from polars.testing import assert_frame_equal

    examples = chunk_test_examples(realdata)
    whole = run(examples, tmp_path / "whole", **CHUNK_PARAMS)
    assert set(whole.frame[DROP_REASON].drop_nulls()) == {"language_not_allowed"}
    assert whole.facts["mismatches"]["count"] >= 15 and whole.facts["uncertain"] >= 1
    language_detection._MEMORY.clear()
    frame, facts = run_chunks(examples, tmp_path / "chunks", [37, 101], **CHUNK_PARAMS)
    assert_frame_equal(frame, whole.frame)
    assert {k: v for k, v in facts.items() if k != "cache"} == {k: v for k, v in whole.facts.items() if k != "cache"}
    assert json.dumps(facts["by_language"]) == json.dumps(whole.facts["by_language"])  # same order too
    # the cache counts are per chunk: each distinct text is still detected once, repeats in later chunks hit
    assert facts["cache"]["misses"] == whole.facts["cache"]["misses"] and facts["cache"]["hits"] > 0


def test_cached_answers_give_the_same_rows(realdata, tmp_path):
    """Answers stored by a run on other batches (whole input) give chunks exactly the rows of a fresh run."""
    from polars.testing import assert_frame_equal

    examples = chunk_test_examples(realdata)
    whole = run(examples, tmp_path, **CHUNK_PARAMS)
    language_detection._MEMORY.clear()
    frame, facts = run_chunks(examples[::-1], tmp_path, [150, 11], **CHUNK_PARAMS)  # all from the SQLite file
    assert facts["cache"]["misses"] == 0
    decided = ["example", "flags", "language", DROP_REASON, DROP_DETAIL]  # ids follow the (reversed) order
    assert_frame_equal(frame.reverse().select(decided), whole.frame.select(decided))
    fresh = {k: v for k, v in whole.facts.items() if k not in ("cache", "samples", "mismatches")}
    assert {k: v for k, v in facts.items() if k in fresh} == fresh
    assert facts["mismatches"]["pairs"] == whole.facts["mismatches"]["pairs"]


def test_merge_of_one_part_is_that_part(tmp_path):
    out, _ = stage_output([chat([DE[0]], [EN[1]]), chat([ES[0]], [ES[1]])], tmp_path, allowed=["de"],
                          reply_language="same")
    assert merge_parts([out.facts]) == render(out.facts)


def test_restricted_languages_param(tmp_path):
    examples = [chat([EN[0]], [EN[1]]), chat([DE[0]], [DE[1]]), chat([ES[0]], [ES[1]])]
    out = run(examples, tmp_path, languages=["en", "de"])
    assert out.frame["language"].to_list()[:2] == ["en", "de"]
    assert out.frame["language"][2] in ("en", "de")  # Spanish is not a candidate: the nearest listed one
    assert out.facts["backend"].endswith("/de,en")
    assert run(examples, tmp_path).frame["language"].to_list() == ["en", "de", "es"]
    with pytest.raises(ValidationError, match="py3langid does not know 'xx'"):
        LanguageParams(name="language", languages=["xx"])
    with pytest.raises(ValidationError, match="only the py3langid backend"):
        LanguageParams(name="language", backend="langdetect", languages=["en"])


def test_empty_frame(tmp_path):
    out = run([], tmp_path)
    assert out.frame.height == 0 and out.facts["by_language"] == {} and out.facts["cache"] == {"hits": 0, "misses": 0}
