"""SQLite store (stdlib ``sqlite3``, WAL): every accepted workflow survives a restart, even ``kill -9``.

Reads are served from memory (the ``MemoryStore`` this class extends). Changes made under the
fake's state lock are queued in order, each with a ticket number, and written by ``flush()``, which
the lock's owner calls once it has released the lock: readers never wait on disk, and ``flush``
returns only once the commit covers this thread's latest ticket (whichever thread wrote it).

One process per file: the store holds an exclusive lock on the database while it is open, so a
second fake on the same file refuses to start instead of overwriting acknowledged work. A file
that is not a database stops the start with a ``StoreError`` saying so; one unreadable workflow
row is skipped (and logged), not fatal.
"""

from __future__ import annotations

import fcntl
import json
import logging
import sqlite3
import threading
from collections import deque
from typing import Any, Iterator

from civitai_mock.mock_server.engine.records import WorkflowRecord
from civitai_mock.mock_server.engine.store import MemoryStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS workflows (
    seq INTEGER PRIMARY KEY, tenant TEXT NOT NULL, id TEXT NOT NULL, data TEXT NOT NULL,
    UNIQUE (tenant, id)
);
CREATE TABLE IF NOT EXISTS accounts (tenant TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY, workflow_key TEXT NOT NULL, data TEXT NOT NULL
);
"""
Write = tuple[int, str, tuple[Any, ...]]
log = logging.getLogger("civitai_mock.store")


class StoreError(Exception):
    """The database cannot be used; the message says what is wrong and what to do, in one line."""


class SqliteStore(MemoryStore):
    """A ``MemoryStore`` that writes through to one SQLite file and reloads it on start."""

    persistent = True

    def __init__(self, path: str):
        self.path = path
        self._outbox: deque[Write] = deque()
        self._queued = 0  # ticket of the latest queued write (queued under the fake's state lock)
        self._committed = 0  # every write up to this ticket is committed
        self._mine = threading.local()  # .ticket: this thread's latest queued write
        self._closed = False
        self._write = threading.Lock()
        self._lock_file = self._take_lock(path)
        try:
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:
            self._lock_file.close()
            raise StoreError(f"{path} is not a civitai-mock database or is damaged ({exc}); move it aside or "
                             "pick another --db") from None
        super().__init__()
        self._load()

    @staticmethod
    def _take_lock(path: str) -> Any:
        """An exclusive lock on the database file, held while the store is open."""
        try:
            handle = open(path, "ab")  # creates the file if needed, never truncates
        except OSError as exc:
            raise StoreError(f"cannot open the database {path}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise StoreError(f"{path} is in use by another civitai-mock serve; stop that one or pick another "
                             "--db") from None
        return handle

    def _load(self) -> None:
        skipped = 0
        for seq, data in self._db.execute("SELECT seq, data FROM workflows ORDER BY seq"):
            try:
                super().add(WorkflowRecord.from_json(json.loads(data)))
            except (ValueError, TypeError, KeyError) as exc:
                skipped += 1
                log.warning("skipped unreadable workflow row %s in %s (%s)", seq, self.path, exc)
        if skipped:
            log.warning("%d unreadable workflow row(s) in %s were skipped; the rest is served", skipped, self.path)

    def _queue(self, sql: str, params: tuple[Any, ...]) -> None:
        self._queued += 1
        self._mine.ticket = self._queued
        self._outbox.append((self._queued, sql, params))

    def flush(self) -> None:
        """Return once this thread's queued changes are committed (writing every queued change if needed)."""
        if self._committed >= getattr(self._mine, "ticket", 0):
            return  # written already, perhaps by another thread's flush
        self._drain()

    def _drain(self) -> None:
        """Write every queued change, in order, in one transaction."""
        with self._write:
            if not self._outbox:
                return
            last = self._committed
            self._db.execute("BEGIN")
            try:
                while self._outbox:
                    last, sql, params = self._outbox.popleft()
                    self._db.execute(sql, params)
            finally:
                self._db.execute("COMMIT")
                self._committed = last

    def add(self, record: WorkflowRecord) -> None:
        """Keep and persist a new workflow."""
        self._queue("INSERT INTO workflows (seq, tenant, id, data) VALUES (?, ?, ?, ?)",
                    (record.seq, record.tenant, record.id, json.dumps(record.to_json())))
        super().add(record)

    def save(self, record: WorkflowRecord) -> None:
        """Persist changes to a workflow."""
        self._queue("UPDATE workflows SET data = ? WHERE tenant = ? AND id = ?",
                    (json.dumps(record.to_json()), record.tenant, record.id))

    def clear(self) -> None:
        """Forget everything, on disk too."""
        for table in ("workflows", "accounts", "deliveries"):
            self._queue(f"DELETE FROM {table}", ())
        super().clear()

    # --- balances and other small state ----------------------------------------------------

    def save_balances(self, tenant: str, balances: dict[str, int]) -> None:
        """Persist a tenant's balances."""
        self._queue("INSERT OR REPLACE INTO accounts (tenant, data) VALUES (?, ?)", (tenant, json.dumps(balances)))

    def balances(self) -> Iterator[tuple[str, dict[str, int]]]:
        """Every persisted tenant's balances."""
        with self._write:
            rows = self._db.execute("SELECT tenant, data FROM accounts").fetchall()
        for tenant, data in rows:
            balances = _readable(data, f"balances of one tenant in {self.path}")
            if isinstance(balances, dict):
                yield tenant, balances

    def get_meta(self, key: str) -> str | None:
        """A persisted setting, or None."""
        with self._write:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        """Persist a setting."""
        self._queue("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # --- webhook deliveries not yet acknowledged ----------------------------------------------

    def add_delivery(self, row: int, workflow_key: str, data: dict[str, Any]) -> None:
        """Persist a queued webhook delivery under its row id."""
        self._queue("INSERT OR REPLACE INTO deliveries (id, workflow_key, data) VALUES (?, ?, ?)",
                    (row, workflow_key, json.dumps(data)))

    def delete_delivery(self, row: int) -> None:
        """Forget a delivery that was acknowledged or given up."""
        self._queue("DELETE FROM deliveries WHERE id = ?", (row,))

    def pending_deliveries(self) -> list[tuple[int, dict[str, Any]]]:
        """Every persisted delivery, oldest first."""
        with self._write:
            rows = self._db.execute("SELECT id, data FROM deliveries ORDER BY id").fetchall()
        readable = [(row, _readable(data, f"webhook delivery {row} in {self.path}")) for row, data in rows]
        return [(row, data) for row, data in readable if isinstance(data, dict)]

    def close(self) -> None:
        """Write what is queued and close the database (closing twice is harmless)."""
        if self._closed:
            return
        self._drain()
        with self._write:
            self._db.close()
            self._closed = True
        self._lock_file.close()


def _readable(data: str, what: str) -> Any:
    """Parsed JSON of a stored row, or None (logged) when the row is damaged."""
    try:
        return json.loads(data)
    except ValueError as exc:
        log.warning("skipped unreadable %s (%s)", what, exc)
        return None
