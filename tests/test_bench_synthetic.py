"""bench/synthetic.py --text real: conversations of real messages from ../shared/realdata, with the planted
duplicates and languages the bench relies on; a clean skip without the folder; no real text in the project."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import pytest

from bench import real_text, synthetic
from tests.conftest import ROOT

N = 4000


@pytest.fixture(scope="module")
def real_data():
    if not real_text.realdata_dir().is_dir():
        pytest.skip(f"real data folder not found at {real_text.realdata_dir()} (set CHATPREP_SHARED)")
    return real_text.real_pool(), synthetic.generate(N, seed=11, text="real")


def _conversations(messages):
    convs: dict[str, list[tuple[str, str]]] = {}
    for cid, speaker, text in messages.iter_rows():
        convs.setdefault(cid, []).append((speaker, text))
    return list(convs.values())


def test_messages_are_real_and_from_their_side(real_data):
    pool, (messages, conversations) = real_data
    side_of = {"customer": real_text.USER, "agent": real_text.ASSISTANT}
    sides = {side: {m for lang in pool.values() for m in lang[side]} for side in side_of.values()}
    assert conversations.height == N
    convs = _conversations(messages)
    assert len(convs) == N and all(2 <= len(c) <= 20 for c in convs)
    from_pool = Counter(text in sides[side_of[speaker]] for c in convs for speaker, text in c)
    # only near duplicates (one message each, ~5 %), PII (~2 %) and over-long messages are altered
    assert from_pool[True] / sum(from_pool.values()) > 0.97
    assert len(set(messages["text"])) > 10_000  # not a handful of messages repeated
    lengths = messages["text"].str.len_chars()
    assert 30 < lengths.median() < 200 and lengths.max() > 2000  # real lengths: short replies to long answers


def test_planted_duplicates_and_languages(real_data):
    pool, (messages, _) = real_data
    convs = [tuple(t for _, t in c) for c in _conversations(messages)]
    seen: set[tuple] = set()
    exact = near = 0
    by_length: dict[int, list[tuple]] = {}
    for c in convs:
        if c in seen:
            exact += 1
        elif any(sum(a != b for a, b in zip(c, o)) == 1 for o in by_length.get(len(c), [])):
            near += 1
        seen.add(c)
        by_length.setdefault(len(c), []).append(c)
    assert 0.08 < exact / N < 0.12 and 0.035 < near / N < 0.065
    in_lang = {lang: {m for side in sides.values() for m in side} for lang, sides in pool.items()}
    # by the first agent message (never altered by PII); a message also found in English ("OK .") counts as en
    langs = Counter(next((lang for lang in ("en", "de", "it", "zh") if c[1] in in_lang[lang]), None) for c in convs)
    other = langs["de"] + langs["it"] + langs["zh"]
    assert 0.03 < other / N < 0.07 and min(langs["de"], langs["it"], langs["zh"]) > 0


def test_deterministic_and_synthetic_untouched(real_data):
    _, (messages, _) = real_data
    again, _ = synthetic.generate(N, seed=11, text="real")
    assert again.equals(messages)
    words, _ = synthetic.generate(300, seed=11)  # the default text: words from the small vocabularies
    vocab = {w.lower().strip(".") for v in synthetic.WORDS.values() for w in v.split()}
    first_words = {t.split(" ")[0].lower().strip(".") for t in words["text"]}
    assert first_words <= vocab | {"really"}


def test_missing_folder_skips_cleanly(tmp_path, monkeypatch):
    monkeypatch.setenv("CHATPREP_SHARED", str(tmp_path / "nowhere"))
    with pytest.raises(real_text.RealDataMissing, match="real data folder not found"):
        synthetic.generate(10, text="real")
    out = tmp_path / "data"
    run = subprocess.run([sys.executable, "-m", "bench.synthetic", "--n", "10", "--text", "real", "--out", str(out)],
                         check=False, cwd=ROOT, capture_output=True, text=True,
                         env={"PATH": "", "CHATPREP_SHARED": str(tmp_path / "nowhere")})
    assert run.returncode == 0 and "skipped --text real: real data folder not found" in run.stderr
    assert not list(out.glob("real_*"))


def test_no_real_text_in_the_project(real_data):
    """The pool is built at run time: none of its longer messages (every 10th, for time) is in a file the
    project tracks."""
    pool, _ = real_data
    long = sorted({m for lang in pool.values() for side in lang.values() for m in side if len(m) >= 60})
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    texts = []
    for f in files:
        try:
            texts.append((ROOT / f).read_text(encoding="utf-8"))
        except (UnicodeDecodeError, OSError):
            continue
    blob = "\n".join(texts)
    assert len(long) > 20_000
    assert [m for m in long[::10] if m in blob] == []
