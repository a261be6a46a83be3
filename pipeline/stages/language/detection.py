"""Language detectors behind one interface, and a cache of their answers.

Backends (both deterministic, both answer ISO 639-1 codes such as "en", "de", "zh"):
  py3langid   naive Bayes over byte n-grams (langid.py); 142 classes (114 two-letter languages). Run
              over many texts at once by pipeline/stages/language/batched.py (same model and answers as
              py3langid's classify, 5-8x faster). `languages` can restrict the candidates.
  langdetect  Google's language-detection port; its random sampling is seeded (seed 0), so the same text
              always gets the same answer. 55 languages. One text at a time (slow: bench/bench_language.py).
  lingua      lingua-language-detector (dev extra) in its high-accuracy mode, restricted to `languages`;
              only as the stage's opt-in `second_opinion` on sides py3langid is uncertain about (more
              accurate there, ~4x slower than py3langid: bench/bench_language.py "catalogues"). Its models
              ship in its wheel: nothing is downloaded.

`DetectionCache.detect_all(texts)` returns one `Detection(lang, confidence, ranked)` per text, "und" when
the text has no letter; `ranked` holds the RANKED most probable (language, probability), best first, so the
stage can fold varieties and weigh close runners-up (language/plausible.py). Answers are remembered in-process (a bounded dict per backend) and, when the cache
has a directory, in an SQLite file there, so a rerun on grown data only detects the new texts. The
SQLite rows (one table per backend id) are keyed by two 64-bit hashes of the text, computed for all
texts at once by polars, and read and written in large batches. A part appends its new answers to the
table's `_new` twin (no key, so appending costs the same however big the cache is); `merge_stored`, once
a run's parts are done (the stage's finish_run), moves them into the keyed table in key order. Keyed
inserts part by part rewrote most pages of the table each time: at 1M conversations two workers wrote
~4.7 GB for a 100 MB file and spent ~13 CPU-s and ~26 s each in the cache; appending, ~2 CPU-s and ~7.5 s
each, and the merge ~3 CPU-s (bench/bench_language_cache.py). Reads look in the keyed table only, so the
answers a run stored are read by the runs after it (within a run, by the in-process dict).
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable, Sequence
from functools import cache
from importlib.metadata import version
from itertools import chain, islice
from pathlib import Path
from typing import NamedTuple

import numpy as np
import polars as pl

from schemas.stages.language_codes import DEFAULT_PY3LANGID_CANDIDATES

BACKENDS = ("py3langid", "langdetect")
RANKED = 5  # runners-up kept per text: past the 5th, py3langid's probabilities are < 1e-3 on real text
UNDETERMINED = "und"
LANGDETECT_SEED = 0
MEMORY_LIMIT = 200_000  # texts remembered per backend in-process; the dict is emptied when it would grow past
SQL_BATCH = 900  # keys per SELECT (SQLite's default limit on bound parameters is 999 before 3.32)
CACHE_FILE = "language_detections.sqlite"
NEW = "_new"  # the suffix of a table's twin that parts append to (merge_stored empties it)
COLUMNS = "key, check_key, lang, confidence, ranked"


class Detection(NamedTuple):
    lang: str
    confidence: float
    ranked: tuple[tuple[str, float], ...] = ()  # (language, probability), best first; lang's included


def _base_code(code: str) -> str:
    """langdetect says zh-cn / zh-tw; the stage speaks ISO 639-1 only."""
    return code.split("-", 1)[0].lower()


@cache
def _langdetect() -> Callable[[str], Detection]:
    from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory
    from langdetect.lang_detect_exception import LangDetectException

    factory = DetectorFactory()
    factory.load_profile(PROFILES_DIRECTORY)
    factory.set_seed(LANGDETECT_SEED)  # each detection reseeds its sampler with this: order-independent

    def detect(text: str) -> Detection:
        detector = factory.create()
        detector.append(text)
        try:
            found = detector.get_probabilities()[:RANKED]
            best = found[0]
        except (LangDetectException, IndexError):
            return Detection(UNDETERMINED, 0.0)
        return Detection(_base_code(best.lang), float(best.prob),
                         tuple((_base_code(f.lang), float(f.prob)) for f in found))

    return detect


@cache
def _py3langid(languages: tuple[str, ...] | None, default_set: bool) -> Callable[[Sequence[str]], list[Detection]]:
    """`languages`: the model's candidates (softmax over them, as py3langid's set_languages). `default_set`:
    every class is scored but only those of DEFAULT_PY3LANGID_CANDIDATES are answered, with the full
    model's probabilities (so a text whose best class is in the set gets exactly the answer of all)."""
    from pipeline.stages.language.batched import BatchedLangid

    model = BatchedLangid(languages)
    codes = {c: _base_code(c) for c in model.classes}
    never = sorted(set(model.classes) - set(DEFAULT_PY3LANGID_CANDIDATES)) if default_set else []

    renamed = {c: code for c, code in codes.items() if c != code}

    def answer(ranked: tuple[tuple[str, float], ...]) -> Detection:
        if renamed:
            ranked = tuple((codes[lang], p) for lang, p in ranked)
        return Detection(ranked[0][0], ranked[0][1], ranked)

    def detect(texts: Sequence[str]) -> list[Detection]:
        worded = [i for i, t in enumerate(texts) if any(map(str.isalpha, t))]
        if len(worded) == len(texts):
            if not renamed:  # answer() inline
                return [Detection(r[0][0], r[0][1], r) for r in model.rank(texts, RANKED, never)]
            return [answer(r) for r in model.rank(texts, RANKED, never)]
        out = [Detection(UNDETERMINED, 0.0)] * len(texts)
        for i, ranked in zip(worded, model.rank([texts[i] for i in worded], RANKED, never)):
            out[i] = answer(ranked)
        return out

    return detect


@cache
def _lingua(languages: tuple[str, ...]) -> Callable[[Sequence[str]], list[Detection]]:
    from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

    model = LanguageDetectorBuilder.from_languages(
        *(Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper())) for code in languages)).build()

    def detect(texts: Sequence[str]) -> list[Detection]:
        out = []
        for values in model.compute_language_confidence_values_in_parallel(list(texts)):
            ranked = tuple((v.language.iso_code_639_1.name.lower(), float(v.value)) for v in values[:RANKED]
                           if v.value > 0)
            out.append(Detection(*ranked[0], ranked) if ranked else Detection(UNDETERMINED, 0.0))
        return out

    return detect


def batch_detector(backend: str, languages: Sequence[str] | str | None = None
                   ) -> Callable[[Sequence[str]], list[Detection]]:
    """texts -> one Detection per text. `languages` (py3langid, lingua) restricts the candidates: None = the
    default set (schemas/stages/language_codes.py), "all" = every language the model knows (py3langid)."""
    if backend == "py3langid":
        if languages in (None, "all"):
            return _py3langid(None, languages is None)
        return _py3langid(tuple(sorted(set(languages))), False)
    if backend == "lingua":
        if not languages or languages == "all":
            raise ValueError("the lingua backend needs its candidate languages")
        return _lingua(tuple(sorted(set(languages))))
    if languages:
        raise ValueError(f"the {backend} backend cannot restrict its languages; use py3langid")
    if backend == "langdetect":
        one = _langdetect()
        return lambda texts: [one(t) for t in texts]
    raise ValueError(f"unknown language backend {backend!r}; choose one of {', '.join(BACKENDS)}")


def detector(backend: str, languages: Sequence[str] | str | None = None) -> Callable[[str], Detection]:
    """text -> Detection, one at a time (same answers as batch_detector)."""
    many = batch_detector(backend, languages)
    return lambda text: many([text])[0]


def backend_id(backend: str, languages: Sequence[str] | str | None = None) -> str:
    """Backend, installed version, implementation, answer shape and candidate set: other answers must not
    be reused."""
    if backend == "py3langid":
        scope = languages if languages == "all" else ",".join(sorted(set(languages))) if languages else "default"
        return f"py3langid-{version('py3langid')}-batched-top{RANKED}/{scope}"
    if backend == "lingua":
        return f"lingua-{version('lingua-language-detector')}-high-top{RANKED}/{','.join(sorted(set(languages)))}"
    return f"{backend}-{version(backend)}-top{RANKED}"


_MEMORY: dict[str, dict[str, Detection]] = {}


class DetectionCache:
    """In-process dict per backend id (text -> answer), backed by an optional SQLite file shared across runs."""

    def __init__(self, backend: str, directory: Path | None = None, warn: Callable[[str], None] | None = None,
                 languages: Sequence[str] | str | None = None):
        self.backend = backend
        self.languages = languages if languages in (None, "all") else tuple(sorted(set(languages)))
        self.id = backend_id(backend, self.languages)
        self.memory = _MEMORY.setdefault(self.id, {})
        self.path = Path(directory) / CACHE_FILE if directory is not None else None
        self.warn = warn or (lambda message: None)
        self.hits = self.misses = 0

    def detect_all(self, texts: Sequence[str]) -> list[Detection]:
        """One answer per text; a text met again (in this list or any earlier call) counts as a hit."""
        memory = self.memory
        answers: dict[str, Detection] = {}
        missing = []
        for text in dict.fromkeys(texts):
            found = memory.get(text)
            if found is None:
                missing.append(text)
            else:
                answers[text] = found
        keys = _keys(missing) if missing and self.path is not None else None
        stored = self._read(missing, keys) if keys is not None else {}
        answers.update(stored)
        todo = [i for i, t in enumerate(missing) if t not in stored] if stored else range(len(missing))
        todo_texts = [missing[i] for i in todo] if stored else missing
        new = dict(zip(todo_texts, batch_detector(self.backend, self.languages)(todo_texts))) if todo_texts else {}
        answers.update(new)
        if new and keys is not None and self.path is not None:
            self._write([keys[0][i] for i in todo], [keys[1][i] for i in todo], list(new.values()))
        if len(memory) + len(missing) > MEMORY_LIMIT:
            memory.clear()
        memory.update(islice(chain(stored.items(), new.items()), MEMORY_LIMIT))
        self.misses += len(new)
        self.hits += len(texts) - len(new)
        return [answers[t] for t in texts]

    # --- the SQLite file ------------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection | None:
        if self.path is None:
            return None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            con = sqlite3.connect(self.path, timeout=60)
            con.execute("PRAGMA journal_mode=WAL")  # readers and the pool's writers do not block each other
            con.execute("PRAGMA synchronous=NORMAL")  # a cache: losing the last commit on power loss is fine
            con.execute(f"CREATE TABLE IF NOT EXISTS {self.table} (key INTEGER PRIMARY KEY, check_key INTEGER,"
                        " lang TEXT, confidence REAL, ranked TEXT)")
            con.execute(f"CREATE TABLE IF NOT EXISTS {self.table}{NEW} (key INTEGER, check_key INTEGER, lang TEXT,"
                        " confidence REAL, ranked TEXT)")
            return con
        except (OSError, sqlite3.Error) as exc:
            self._give_up(f"unusable ({exc})")
            return None

    @property
    def table(self) -> str:
        """One table per backend id and key hash (polars' string hash is stable within a polars version)."""
        scope = f"{self.id}\0polars-{pl.__version__}".encode()
        return "detections_" + hashlib.blake2b(scope, digest_size=8).hexdigest()

    def _give_up(self, why: str) -> None:
        self.warn(f"language cache {self.path} {why}; continuing without the on-disk cache")
        self.path = None

    def _read(self, texts: list[str], keys: tuple[list[int], list[int]]) -> dict[str, Detection]:
        con = self._connect()
        if con is None:
            return {}
        found: dict[str, Detection] = {}
        try:
            if con.execute(f"SELECT 1 FROM {self.table} LIMIT 1").fetchone() is None:
                return found  # a new cache: nothing to look up
            ids, checks = keys
            position = dict(zip(ids, range(len(ids))))
            for i in range(0, len(ids), SQL_BATCH):
                chunk = ids[i:i + SQL_BATCH]
                rows = con.execute(f"SELECT key, check_key, lang, confidence, ranked FROM {self.table} WHERE key IN "
                                   f"({','.join('?' * len(chunk))})", chunk)
                for key, check, lang, conf, ranked in rows:
                    at = position[key]
                    if checks[at] == check:  # else another text shares the row id: detect this one afresh
                        found[texts[at]] = Detection(lang, conf, _parse_ranked(ranked))
        except sqlite3.Error as exc:
            self._give_up(f"failed ({exc})")
            return {}
        finally:
            con.close()
        return found

    def _write(self, ids: list[int], checks: list[int], detections: list[Detection]) -> None:
        con = self._connect()
        if con is None:
            return
        try:
            rows = zip(ids, checks, (d.lang for d in detections), (d.confidence for d in detections),
                       (_format_ranked(d.ranked) for d in detections))
            with con:  # appended: merge_stored puts them in the keyed table
                con.executemany(f"INSERT INTO {self.table}{NEW} VALUES (?, ?, ?, ?, ?)", rows)
        except sqlite3.Error as exc:
            self._give_up(f"failed ({exc})")
        finally:
            con.close()


def merge_stored(directory: Path | None, warn: Callable[[str], None] | None = None) -> None:
    """Move the answers parts appended to the `_new` tables of the cache file in `directory` into the keyed
    tables: in key order, one pass over each keyed table (the first answer stored for a key stays)."""
    path = Path(directory) / CACHE_FILE if directory is not None else None
    if path is None or not path.is_file():
        return
    con = None
    try:
        con = sqlite3.connect(path, timeout=60)
        news = [name for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                if name.startswith("detections_") and name.endswith(NEW)]
        for new in news:
            with con:
                con.execute(f"INSERT OR IGNORE INTO {new.removesuffix(NEW)} ({COLUMNS}) "
                            f"SELECT {COLUMNS} FROM {new} ORDER BY key")
                con.execute(f"DELETE FROM {new}")
    except sqlite3.Error as exc:
        (warn or (lambda message: None))(f"language cache {path} not updated ({exc}); the next run detects "
                                         "this run's texts again")
    finally:
        if con is not None:
            con.close()


def _format_ranked(ranked: tuple[tuple[str, float], ...]) -> str:
    if len(ranked) == 1:  # most answers: no runner-up
        return f"{ranked[0][0]}={ranked[0][1]!r}"
    return " ".join(f"{lang}={p!r}" for lang, p in ranked)


def _parse_ranked(text: str | None) -> tuple[tuple[str, float], ...]:
    return tuple((lang, float(p)) for lang, p in (item.split("=") for item in (text or "").split()))


def _keys(texts: list[str]) -> tuple[list[int], list[int]]:
    """Two 64-bit hashes per text (row id, check), as signed integers for SQLite; all texts at once."""
    series = pl.Series([t.encode("utf-8", "surrogatepass") for t in texts], dtype=pl.Binary)
    return tuple(series.hash(seed=seed).to_numpy().view(np.int64).tolist() for seed in (0, 1))
