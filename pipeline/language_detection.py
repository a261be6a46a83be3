"""Language detectors behind one interface, and a cache of their answers keyed by text hash.

Backends (both deterministic, both answer ISO 639-1 codes such as "en", "de", "zh"):
  langdetect  Google's language-detection port; its random sampling is seeded (seed 0), so the same text
              always gets the same answer. 55 languages.
  py3langid   naive Bayes over byte n-grams (langid.py); 97 languages; much faster (bench/bench_language.py).

`detect_all(texts, backend, cache)` returns one `Detection(lang, confidence)` per text, "und" when the
text has no usable features. Answers are remembered in-process and, when the cache has a directory, in
an SQLite file there, so a rerun on grown data only detects the new texts.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from functools import cache
from importlib.metadata import version
from pathlib import Path
from typing import NamedTuple

BACKENDS = ("py3langid", "langdetect")
UNDETERMINED = "und"
LANGDETECT_SEED = 0


class Detection(NamedTuple):
    lang: str
    confidence: float


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
            best = detector.get_probabilities()[0]
        except (LangDetectException, IndexError):
            return Detection(UNDETERMINED, 0.0)
        return Detection(_base_code(best.lang), float(best.prob))

    return detect


@cache
def _py3langid() -> Callable[[str], Detection]:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)

    def detect(text: str) -> Detection:
        if not any(c.isalpha() for c in text):
            return Detection(UNDETERMINED, 0.0)
        lang, conf = identifier.classify(text)
        return Detection(_base_code(lang), float(conf))

    return detect


def detector(backend: str) -> Callable[[str], Detection]:
    if backend == "langdetect":
        return _langdetect()
    if backend == "py3langid":
        return _py3langid()
    raise ValueError(f"unknown language backend {backend!r}; choose one of {', '.join(BACKENDS)}")


def backend_id(backend: str) -> str:
    """Backend name and installed version: a new model version must not reuse old answers."""
    return f"{backend}-{version(backend)}"


def text_key(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


_MEMORY: dict[str, dict[str, Detection]] = {}


class DetectionCache:
    """In-process dict per backend version, backed by an optional SQLite file shared across runs."""

    def __init__(self, backend: str, directory: Path | None = None, warn: Callable[[str], None] | None = None):
        self.backend = backend
        self.id = backend_id(backend)
        self.memory = _MEMORY.setdefault(self.id, {})
        self.path = Path(directory) / "language_detections.sqlite" if directory is not None else None
        self.warn = warn or (lambda message: None)
        self.hits = self.misses = 0

    def _connect(self) -> sqlite3.Connection | None:
        if self.path is None:
            return None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            con = sqlite3.connect(self.path, timeout=30)
            con.execute("CREATE TABLE IF NOT EXISTS detections (backend TEXT, key TEXT, lang TEXT, confidence REAL,"
                        " PRIMARY KEY (backend, key))")
            return con
        except (OSError, sqlite3.Error) as exc:
            self.warn(f"language cache {self.path} unusable ({exc}); continuing without the on-disk cache")
            self.path = None
            return None

    def _load(self, con: sqlite3.Connection, keys: list[str]) -> None:
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            rows = con.execute(f"SELECT key, lang, confidence FROM detections WHERE backend = ? AND key IN "
                               f"({','.join('?' * len(chunk))})", [self.id, *chunk])
            for key, lang, conf in rows:
                self.memory[key] = Detection(lang, conf)

    def _store(self, con: sqlite3.Connection, new: dict[str, Detection]) -> None:
        with con:
            con.executemany("INSERT OR IGNORE INTO detections VALUES (?, ?, ?, ?)",
                            [(self.id, k, d.lang, d.confidence) for k, d in new.items()])

    def detect_all(self, texts: list[str]) -> list[Detection]:
        keys = [text_key(t) for t in texts]
        missing = sorted({k for k in keys if k not in self.memory})
        con = self._connect() if missing else None
        try:
            if con is not None:
                self._load(con, missing)
            detect = detector(self.backend)
            new: dict[str, Detection] = {}
            for key, text in zip(keys, texts):
                if key in self.memory:
                    self.hits += 1
                    continue
                self.misses += 1
                new[key] = self.memory[key] = detect(text)
            if con is not None and new:
                self._store(con, new)
        except sqlite3.Error as exc:
            self.warn(f"language cache {self.path} failed ({exc}); continuing without the on-disk cache")
            self.path = None
            return self.detect_all(texts)
        finally:
            if con is not None:
                con.close()
        return [self.memory[k] for k in keys]
