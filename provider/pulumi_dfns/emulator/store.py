"""The emulator's state, kept in SQLite so a restart loses nothing. All SQL lives here.

Rows become the API's JSON objects in shapes.py.

One connection guarded by one lock: the emulator serves a handful of clients, and a
single writer keeps every check-then-act (token use, webhook limit) atomic.

The database holds the bearer-token signing key, webhook secrets and the service
account's token: its files are created readable by the owner only (0600), like
credentials.json.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

Row = sqlite3.Row

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
CREATE TABLE IF NOT EXISTS retries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, webhook_id TEXT NOT NULL, event TEXT NOT NULL,
    attempt INTEGER NOT NULL, retry_of TEXT NOT NULL, first_sent REAL NOT NULL,
    scale REAL NOT NULL, due REAL NOT NULL);
"""

# Columns added after the first release: (table, column, definition).
MIGRATIONS = (
    ("credentials", "credential_uuid", "TEXT"),
    ("webhook_events", "next_attempt_date", "TEXT"),
)

WEBHOOK_COLUMNS = ("url", "events", "status", "description")
OWNER_ONLY = 0o600


def _owner_only(path: Path) -> None:
    """Create `path` (if missing) readable by its owner only, and tighten it if it exists."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, OWNER_ONLY)
    os.close(fd)
    os.chmod(path, OWNER_ONLY)


class Store:
    def __init__(self, path: Path) -> None:
        # SQLite gives the -wal and -shm files the mode of the database file, so
        # creating that one 0600 first covers all three; existing ones are tightened.
        for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            if name == path or name.exists():
                _owner_only(name)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            # Survives a crash of the emulator, not of the machine: no fsync per commit,
            # which would otherwise dominate every request's time.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
            for table, column, definition in MIGRATIONS:
                names = {r["name"] for r in self._db.execute(f"PRAGMA table_info({table})")}
                if column not in names:
                    self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
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

    def set_meta(self, values: dict[str, str]) -> None:
        with self._transaction() as db:
            for key, value in values.items():
                db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    # -- bearer tokens ----------------------------------------------------------------

    def add_token(
        self, token_id: str, org_id: str, user_id: str, kind: str, permissions: list[str]
    ) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO tokens(token_id, org_id, user_id, kind, permissions)"
                " VALUES (?,?,?,?,?)",
                (token_id, org_id, user_id, kind, json.dumps(permissions)),
            )

    def live_token(self, token_id: object) -> Row | None:
        with self._lock:
            row: Row | None = self._db.execute(
                "SELECT * FROM tokens WHERE token_id=? AND revoked=0", (token_id,)
            ).fetchone()
        return row

    # -- credentials ------------------------------------------------------------------

    def add_credential(
        self,
        credential_id: str,
        credential_uuid: str,
        user_id: str,
        key_type: str,
        public_key_pem: str,
    ) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO credentials(credential_id, credential_uuid, user_id, key_type,"
                " public_key_pem) VALUES (?,?,?,?,?)",
                (credential_id, credential_uuid, user_id, key_type, public_key_pem),
            )

    def set_credential_uuid(self, credential_id: str, credential_uuid: str) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE credentials SET credential_uuid=? WHERE credential_id=?",
                (credential_uuid, credential_id),
            )

    def credential(self, credential_id: str) -> Row | None:
        with self._lock:
            row: Row | None = self._db.execute(
                "SELECT * FROM credentials WHERE credential_id=?", (credential_id,)
            ).fetchone()
        return row

    def active_credential_ids(self, user_id: str) -> list[str]:
        with self._lock:
            rows = self._db.execute(
                "SELECT credential_id FROM credentials WHERE user_id=? AND active=1 ORDER BY rowid",
                (user_id,),
            ).fetchall()
        return [str(r["credential_id"]) for r in rows]

    # -- challenges and user actions --------------------------------------------------

    def add_challenge(self, row: dict[str, Any]) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO challenges(identifier, challenge, org_id, user_id, method, path,"
                " payload, expires) VALUES (:identifier, :challenge, :org_id, :user_id,"
                " :method, :path, :payload, :expires)",
                row,
            )

    def take_challenge(self, identifier: str, org_id: str) -> Row | None:
        """The challenge as it was, marking it used: a challenge gets one try, and a
        failed signature burns it too."""
        with self._transaction() as db:
            row: Row | None = db.execute(
                "SELECT * FROM challenges WHERE identifier=?", (identifier,)
            ).fetchone()
            if row is not None and row["org_id"] == org_id and not row["used"]:
                db.execute("UPDATE challenges SET used=1 WHERE identifier=?", (identifier,))
        return row

    def add_user_action(self, row: dict[str, Any]) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO user_actions(token, org_id, method, path, payload, expires)"
                " VALUES (:token, :org_id, :method, :path, :payload, :expires)",
                row,
            )

    def spend_user_action(self, token: str, check: Callable[[Row | None], None]) -> None:
        """Run `check` on the token's row and mark it used, atomically; `check` raises
        to refuse (and then the token stays unspent)."""
        with self._transaction() as db:
            row: Row | None = db.execute(
                "SELECT * FROM user_actions WHERE token=?", (token,)
            ).fetchone()
            check(row)
            db.execute("UPDATE user_actions SET used=1 WHERE token=?", (token,))

    # -- webhooks ---------------------------------------------------------------------

    def add_webhook(self, row: dict[str, Any], limit: int) -> Row | None:
        """Insert a webhook unless the organisation already has `limit`; None if it has."""
        with self._transaction() as db:
            (count,) = db.execute(
                "SELECT COUNT(*) FROM webhooks WHERE org_id=?", (row["org_id"],)
            ).fetchone()
            if count >= limit:
                return None
            db.execute(
                "INSERT INTO webhooks(id, org_id, url, events, status, description, secret,"
                " date_created, date_updated) VALUES (:id, :org_id, :url, :events, :status,"
                " :description, :secret, :date_created, :date_updated)",
                {**row, "events": json.dumps(row["events"])},
            )
            created: Row = db.execute("SELECT * FROM webhooks WHERE id=?", (row["id"],)).fetchone()
        return created

    def webhook(self, org_id: str, webhook_id: str) -> Row | None:
        with self._lock:
            row: Row | None = self._db.execute(
                "SELECT * FROM webhooks WHERE id=? AND org_id=?", (webhook_id, org_id)
            ).fetchone()
        return row

    def webhooks_page(self, org_id: str, after: int, count: int) -> list[Row]:
        with self._lock:
            return self._db.execute(
                "SELECT * FROM webhooks WHERE org_id=? AND seq>? ORDER BY seq LIMIT ?",
                (org_id, after, count),
            ).fetchall()

    def enabled_webhooks(self, org_id: str) -> list[Row]:
        with self._lock:
            return self._db.execute(
                "SELECT * FROM webhooks WHERE org_id=? AND status='Enabled' ORDER BY seq",
                (org_id,),
            ).fetchall()

    def update_webhook(self, webhook_id: str, fields: dict[str, Any], now: str) -> Row | None:
        columns = {k: v for k, v in fields.items() if k in WEBHOOK_COLUMNS}
        if "events" in columns:
            columns["events"] = json.dumps(columns["events"])
        columns["date_updated"] = now
        assignments = ", ".join(f"{name}=?" for name in columns)
        with self._transaction() as db:
            db.execute(
                f"UPDATE webhooks SET {assignments} WHERE id=?",  # noqa: S608 - names are fixed
                (*columns.values(), webhook_id),
            )
            row: Row | None = db.execute(
                "SELECT * FROM webhooks WHERE id=?", (webhook_id,)
            ).fetchone()
        return row

    def delete_webhook(self, webhook_id: str) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM webhooks WHERE id=?", (webhook_id,))
            db.execute("DELETE FROM webhook_events WHERE webhook_id=?", (webhook_id,))
            db.execute("DELETE FROM retries WHERE webhook_id=?", (webhook_id,))

    def webhook_row(self, webhook_id: str) -> Row | None:
        """A webhook of any organisation (deliveries follow the webhook, not a caller)."""
        with self._lock:
            row: Row | None = self._db.execute(
                "SELECT * FROM webhooks WHERE id=?", (webhook_id,)
            ).fetchone()
        return row

    # -- webhook events ---------------------------------------------------------------

    def add_event(
        self,
        webhook_id: str,
        event: dict[str, Any],
        status: str,
        error: str | None,
        *,
        retry: dict[str, Any] | None = None,
        done: int | None = None,
    ) -> None:
        """Record one delivery attempt; in the same transaction, schedule its retry
        (`retry`: a `retries` row, whose due moment is the event's nextAttemptDate) and
        drop the scheduled retry this attempt carried out (`done`, its seq), so a crash
        leaves either both or neither."""
        with self._transaction() as db:
            if done is not None:
                db.execute("DELETE FROM retries WHERE seq=?", (done,))
            if retry is not None:
                db.execute(
                    "INSERT INTO retries(webhook_id, event, attempt, retry_of, first_sent,"
                    " scale, due) VALUES (:webhook_id, :event, :attempt, :retry_of,"
                    " :first_sent, :scale, :due)",
                    {**retry, "event": json.dumps(retry["event"])},
                )
            db.execute(
                "INSERT INTO webhook_events(id, webhook_id, kind, body, status, error,"
                " delivery_failed, date, timestamp_sent, next_attempt_date)"
                " VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    event["id"],
                    webhook_id,
                    event["kind"],
                    json.dumps(event),
                    status,
                    error,
                    0 if status == "200" else 1,
                    event["date"],
                    event["timestampSent"],
                    None if retry is None else retry["next_attempt_date"],
                ),
            )

    def events_page(
        self,
        webhook_id: str,
        *,
        after: int,
        count: int,
        sent_since: float,
        kind: str | None = None,
        delivery_failed: bool | None = None,
    ) -> list[Row]:
        sql = "SELECT * FROM webhook_events WHERE webhook_id=? AND seq>? AND timestamp_sent>=?"
        args: list[Any] = [webhook_id, after, sent_since]
        if kind is not None:
            sql += " AND kind=?"
            args.append(kind)
        if delivery_failed is not None:
            sql += " AND delivery_failed=?"
            args.append(1 if delivery_failed else 0)
        sql += " ORDER BY seq LIMIT ?"
        args.append(count)
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def event(self, webhook_id: str, event_id: str, sent_since: float) -> Row | None:
        with self._lock:
            row: Row | None = self._db.execute(
                "SELECT * FROM webhook_events WHERE webhook_id=? AND id=? AND timestamp_sent>=?",
                (webhook_id, event_id, sent_since),
            ).fetchone()
        return row

    def forget_events_before(self, sent_before: float) -> int:
        with self._transaction() as db:
            cursor = db.execute("DELETE FROM webhook_events WHERE timestamp_sent<?", (sent_before,))
        return cursor.rowcount

    # -- scheduled delivery retries (kept here so a restart loses none) -----------------

    def retries_due(self, now: float, skip: Collection[int]) -> list[Row]:
        """Scheduled retries due at `now` (the emulator's clock), but those in `skip`."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM retries WHERE due<=? ORDER BY due, seq", (now,)
            ).fetchall()
        return [r for r in rows if r["seq"] not in skip]

    def next_retry_due(self, skip: Collection[int]) -> float | None:
        with self._lock:
            rows = self._db.execute("SELECT seq, due FROM retries ORDER BY due").fetchall()
        return next((float(r["due"]) for r in rows if r["seq"] not in skip), None)

    def drop_retry(self, seq: int) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM retries WHERE seq=?", (seq,))

    def retry_count(self) -> int:
        with self._lock:
            (count,) = self._db.execute("SELECT COUNT(*) FROM retries").fetchone()
        return int(count)
