"""SQLite store (stdlib ``sqlite3``, WAL): every accepted workflow survives a restart, even ``kill -9``.

Reads are served from memory (the ``MemoryStore`` this class extends); every change is written
through in the same call, so a crash loses nothing that was answered.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from typing import Any, Iterator

from mock_server.engine.records import WorkflowRecord
from mock_server.engine.store import MemoryStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS workflows (
    seq INTEGER PRIMARY KEY, tenant TEXT NOT NULL, id TEXT NOT NULL, data TEXT NOT NULL,
    UNIQUE (tenant, id)
);
CREATE TABLE IF NOT EXISTS accounts (tenant TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT, workflow_key TEXT NOT NULL, data TEXT NOT NULL
);
"""


class SqliteStore(MemoryStore):
    """A ``MemoryStore`` that writes through to one SQLite file and reloads it on start."""

    def __init__(self, path: str):
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._write = threading.Lock()
        super().__init__()
        self._load()

    def _load(self) -> None:
        for (data,) in self._db.execute("SELECT data FROM workflows ORDER BY seq"):
            super().add(WorkflowRecord.from_json(json.loads(data)))

    def _exec(self, sql: str, params: tuple[Any, ...]) -> None:
        with self._write:
            self._db.execute(sql, params)

    def add(self, record: WorkflowRecord) -> None:
        """Keep and persist a new workflow."""
        self._exec("INSERT OR REPLACE INTO workflows (seq, tenant, id, data) VALUES (?, ?, ?, ?)",
                   (record.seq, record.tenant, record.id, json.dumps(record.to_json())))
        super().add(record)

    def save(self, record: WorkflowRecord) -> None:
        """Persist changes to a workflow."""
        self._exec("UPDATE workflows SET data = ? WHERE tenant = ? AND id = ?",
                   (json.dumps(record.to_json()), record.tenant, record.id))

    def remove(self, tenant: str, workflow_id: str) -> None:
        """Forget a workflow here and on disk."""
        self._exec("DELETE FROM workflows WHERE tenant = ? AND id = ?", (tenant, workflow_id))
        super().remove(tenant, workflow_id)

    def clear(self) -> None:
        """Forget everything, on disk too."""
        with self._write:
            self._db.executescript("DELETE FROM workflows; DELETE FROM accounts; DELETE FROM deliveries;")
        super().clear()

    # --- balances and other small state ----------------------------------------------------

    def save_balances(self, tenant: str, balances: dict[str, int]) -> None:
        """Persist a tenant's balances."""
        self._exec("INSERT OR REPLACE INTO accounts (tenant, data) VALUES (?, ?)", (tenant, json.dumps(balances)))

    def balances(self) -> Iterator[tuple[str, dict[str, int]]]:
        """Every persisted tenant's balances."""
        for tenant, data in self._db.execute("SELECT tenant, data FROM accounts").fetchall():
            yield tenant, json.loads(data)

    def get_meta(self, key: str) -> str | None:
        """A persisted setting, or None."""
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        """Persist a setting."""
        self._exec("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # --- webhook deliveries not yet acknowledged ----------------------------------------------

    def add_delivery(self, workflow_key: str, data: dict[str, Any]) -> int:
        """Persist a queued webhook delivery; return its row id."""
        with self._write:
            return int(self._db.execute("INSERT INTO deliveries (workflow_key, data) VALUES (?, ?)",
                                        (workflow_key, json.dumps(data))).lastrowid)

    def delete_delivery(self, row: int) -> None:
        """Forget a delivery that was acknowledged or given up."""
        self._exec("DELETE FROM deliveries WHERE id = ?", (row,))

    def pending_deliveries(self) -> list[tuple[int, dict[str, Any]]]:
        """Every persisted delivery, oldest first."""
        rows = self._db.execute("SELECT id, data FROM deliveries ORDER BY id").fetchall()
        return [(row, json.loads(data)) for row, data in rows]

    def close(self) -> None:
        """Close the database."""
        with self._write:
            self._db.close()
