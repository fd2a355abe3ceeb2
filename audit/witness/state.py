"""The witness's own state: the logs it knows, the last checkpoint it cosigned for each, and evidence.

An SQLite file beside the witness's key, never the hub's database: a witness that shared the operator's
storage could be rolled back together with the log it is meant to hold to account. The check of ``old``
against the stored size and the update to the new checkpoint happen in one ``BEGIN IMMEDIATE`` transaction
(tlog-witness: they must be atomic, or two racing requests could roll the stored size back).

Evidence of misbehaviour (a checkpoint of the same size with another root, a proof that does not verify) is
kept with both checkpoints and the proof, so the witness's operator can show anyone what the log signed.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS logs (
    origin TEXT PRIMARY KEY,
    vkey TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cosigned (
    origin TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    root BLOB NOT NULL,
    note TEXT NOT NULL,
    cosigned_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS evidence (
    id INTEGER PRIMARY KEY,
    origin TEXT NOT NULL,
    kind TEXT NOT NULL,
    old_size INTEGER NOT NULL,
    cosigned_note TEXT,
    submitted_note TEXT NOT NULL,
    proof TEXT NOT NULL,
    detail TEXT NOT NULL,
    received_at INTEGER NOT NULL
);
"""


@dataclass(frozen=True)
class Cosigned:
    origin: str
    size: int
    root: bytes
    note: str


@dataclass(frozen=True)
class Evidence:
    id: int
    origin: str
    kind: str  # "fork" (same size, another root) or "inconsistent" (the proof does not verify)
    old_size: int
    cosigned_note: str | None
    submitted_note: str
    proof: str  # the proof lines as submitted, base64, one per line
    detail: str
    received_at: int


class WitnessState:
    """One SQLite file; every method is a short transaction, safe from several threads of one process."""

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a cosigned size must survive a power cut
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE``: take the write lock before reading, so check-then-update cannot interleave."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def add_log(self, origin: str, vkey: str) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO logs (origin, vkey) VALUES (?, ?) ON CONFLICT (origin) DO UPDATE SET vkey = ?",
                (origin, vkey, vkey),
            )

    def log_keys(self) -> dict[str, str]:
        with self._lock:
            return dict(self._db.execute("SELECT origin, vkey FROM logs").fetchall())

    def cosigned(self, origin: str, db: sqlite3.Connection | None = None) -> Cosigned | None:
        def read(conn: sqlite3.Connection) -> Cosigned | None:
            row = conn.execute("SELECT size, root, note FROM cosigned WHERE origin = ?", (origin,)).fetchone()
            return Cosigned(origin, int(row[0]), bytes(row[1]), str(row[2])) if row else None

        if db is not None:
            return read(db)
        with self._lock:
            return read(self._db)

    @staticmethod
    def store_cosigned(db: sqlite3.Connection, origin: str, size: int, root: bytes, note: str) -> None:
        db.execute(
            "INSERT INTO cosigned (origin, size, root, note, cosigned_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (origin) DO UPDATE SET size = excluded.size, root = excluded.root, "
            "note = excluded.note, cosigned_at = excluded.cosigned_at",
            (origin, size, root, note, int(time.time())),
        )

    @staticmethod
    def store_evidence(
        db: sqlite3.Connection,
        origin: str,
        kind: str,
        old_size: int,
        cosigned_note: str | None,
        submitted_note: str,
        proof: str,
        detail: str,
    ) -> None:
        db.execute(
            "INSERT INTO evidence (origin, kind, old_size, cosigned_note, submitted_note, proof, detail, "
            "received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (origin, kind, old_size, cosigned_note, submitted_note, proof, detail, int(time.time())),
        )

    def evidence(self, origin: str | None = None) -> list[Evidence]:
        query = (
            "SELECT id, origin, kind, old_size, cosigned_note, submitted_note, proof, detail, received_at "
            "FROM evidence"
        )
        args: tuple[str, ...] = ()
        if origin is not None:
            query += " WHERE origin = ?"
            args = (origin,)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY id", args).fetchall()
        return [Evidence(*row) for row in rows]
