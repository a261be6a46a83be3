"""The persistent moderation cache: one sqlite file in WAL mode, one row per (endpoint, model, text hash).

Only sha256 hashes of texts and the parsed results are stored, never a text and never the key. Each
batch of answers is committed (and fsynced, synchronous=FULL) as it arrives, so a run killed at any
moment, even with kill -9, keeps every answer it received and the next run resumes from there; sqlite's
write-ahead log guarantees a half-written transaction is rolled back, never read. Several runs may share
the file (sqlite locks it).
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from pipeline.errors import UserError
from pipeline.stages.moderation.response import ModerationResult

FILE_NAME = "results.sqlite3"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    endpoint TEXT NOT NULL,       -- sha256 prefix of the base URL
    model TEXT NOT NULL,
    text_sha256 TEXT NOT NULL,
    result TEXT NOT NULL,         -- ModerationResult as compact JSON
    PRIMARY KEY (endpoint, model, text_sha256)
) WITHOUT ROWID
"""
_LOOKUP_CHUNK = 500


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ModerationCache:
    def __init__(self, directory: Path, endpoint: str, model: str):
        self.path = Path(directory) / FILE_NAME
        self.endpoint, self.model = endpoint, model
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(_SCHEMA)
        except (sqlite3.DatabaseError, OSError) as e:
            raise UserError(f"moderation cache {self.path} cannot be opened ({e}); delete it (answers will be "
                            f"asked again) or set stages.moderation.cache_dir to another folder") from e

    def get_many(self, hashes: Iterable[str]) -> dict[str, ModerationResult]:
        hashes = list(hashes)
        found: dict[str, ModerationResult] = {}
        for i in range(0, len(hashes), _LOOKUP_CHUNK):
            part = hashes[i:i + _LOOKUP_CHUNK]
            rows = self._db.execute(
                f"SELECT text_sha256, result FROM results WHERE endpoint = ? AND model = ? "
                f"AND text_sha256 IN ({','.join('?' * len(part))})", [self.endpoint, self.model, *part])
            for h, result in rows:
                try:
                    found[h] = ModerationResult.from_json(result)
                except (ValueError, KeyError, TypeError):  # an unreadable row is asked again, not trusted
                    continue
        return found

    def put_many(self, items: Iterable[tuple[str, ModerationResult]]) -> None:
        rows = [(self.endpoint, self.model, h, r.to_json()) for h, r in items]
        if not rows:
            return
        with self._db:  # one transaction per batch of answers
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?)", rows)

    def count(self) -> int:
        return self._db.execute("SELECT count(*) FROM results WHERE endpoint = ? AND model = ?",
                                (self.endpoint, self.model)).fetchone()[0]

    def close(self) -> None:
        self._db.close()
