"""The emulator's state, kept in SQLite so a restart loses nothing.

One connection guarded by one lock: the emulator serves a handful of clients, and a
single writer keeps every check-then-act (token use, webhook limit) atomic.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
    token_id TEXT PRIMARY KEY, org_id TEXT NOT NULL, user_id TEXT NOT NULL,
    kind TEXT NOT NULL, permissions TEXT NOT NULL, revoked INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS credentials (
    credential_id TEXT PRIMARY KEY, user_id TEXT NOT NULL, key_type TEXT NOT NULL,
    public_key_pem TEXT NOT NULL, active INTEGER NOT NULL DEFAULT 1);
CREATE TABLE IF NOT EXISTS challenges (
    identifier TEXT PRIMARY KEY, challenge TEXT NOT NULL, org_id TEXT NOT NULL,
    user_id TEXT NOT NULL, method TEXT NOT NULL, path TEXT NOT NULL, payload TEXT NOT NULL,
    expires REAL NOT NULL, used INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS user_actions (
    token TEXT PRIMARY KEY, org_id TEXT NOT NULL, method TEXT NOT NULL, path TEXT NOT NULL,
    payload TEXT NOT NULL, expires REAL NOT NULL, used INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS webhooks (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, org_id TEXT NOT NULL,
    url TEXT NOT NULL, events TEXT NOT NULL, status TEXT NOT NULL, description TEXT,
    secret TEXT NOT NULL, date_created TEXT NOT NULL, date_updated TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS webhook_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, webhook_id TEXT NOT NULL,
    kind TEXT NOT NULL, body TEXT NOT NULL, status TEXT NOT NULL, error TEXT,
    delivery_failed INTEGER NOT NULL, date TEXT NOT NULL, timestamp_sent INTEGER NOT NULL);
"""


class Store:
    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            # Survives a crash of the emulator, not of the machine: no fsync per commit,
            # which would otherwise dominate every request's time.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Serialise a check-then-act sequence and commit it as one."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- meta -------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row["value"])

    def set_meta(self, db: sqlite3.Connection, key: str, value: str) -> None:
        db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    # -- rows as API objects ----------------------------------------------------------

    @staticmethod
    def webhook_json(row: sqlite3.Row, *, with_secret: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": row["id"],
            "url": row["url"],
            "events": json.loads(row["events"]),
            "status": row["status"],
            "dateCreated": row["date_created"],
            "dateUpdated": row["date_updated"],
        }
        if row["description"] is not None:
            out["description"] = row["description"]
        if with_secret:
            out["secret"] = row["secret"]
        return out

    @staticmethod
    def event_json(row: sqlite3.Row) -> dict[str, Any]:
        out: dict[str, Any] = json.loads(row["body"])
        out["status"] = row["status"]
        if row["error"]:
            out["error"] = row["error"]
        return out
