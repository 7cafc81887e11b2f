"""Where workflows live, per tenant, behind a small interface (in-memory here; SQLite beside it)."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import Any, Callable, Iterator, Protocol

from civitai_mock.mock_server.engine.records import WorkflowRecord

Predicate = Callable[[WorkflowRecord], bool]


class Store(Protocol):
    """The operations the engine needs from a workflow store."""

    #: True for a store that writes to disk. False only for one that keeps everything in memory: its
    #: ``add`` cannot fail (the engine then skips the snapshot it would need to take back the ids a
    #: refused workflow drew), and it has no balances to save and nothing to flush (the engine then
    #: does not send them, nor ask it to flush).
    persistent: bool

    def add(self, record: WorkflowRecord) -> None:
        """Keep a new workflow."""

    def save(self, record: WorkflowRecord) -> None:
        """Persist changes to a kept workflow."""

    def get(self, tenant: str, workflow_id: str) -> WorkflowRecord | None:
        """A tenant's workflow, or None."""

    def by_external_id(self, tenant: str, external_id: str) -> WorkflowRecord | None:
        """A tenant's workflow submitted with ``external_id``."""

    def blob_owner(self, blob_id: str) -> tuple[str, str] | None:
        """(tenant, workflow id) owning a blob."""

    def page(self, tenant: str, cursor: int | None, take: int, ascending: bool,
             predicate: Predicate | None = None) -> tuple[list[WorkflowRecord], int | None]:
        """Up to ``take`` workflows after ``cursor`` in creation order; and the next cursor."""

    def unfinished(self) -> Iterator[WorkflowRecord]:
        """Workflows that still have lifecycle events to apply."""

    def next_seq(self) -> int:
        """A sequence number larger than any used so far."""

    def tenants(self) -> list[str]:
        """Every tenant with a stored workflow."""

    def count(self, tenant: str) -> int:
        """How many workflows a tenant has (deleted ones excluded)."""

    def last_seq(self) -> int:
        """The largest sequence number used so far (0 when empty)."""

    def clear(self) -> None:
        """Forget everything."""

    def save_balances(self, tenant: str, balances: dict[str, int]) -> None:
        """Persist a tenant's balances."""

    def balances(self) -> Iterator[tuple[str, dict[str, int]]]:
        """Every persisted tenant's balances."""

    def get_meta(self, key: str) -> str | None:
        """A persisted setting, or None."""

    def set_meta(self, key: str, value: str) -> None:
        """Persist a setting."""

    def add_delivery(self, row: int, workflow_key: str, data: dict[str, Any]) -> None:
        """Persist a queued webhook delivery under its row id."""

    def delete_delivery(self, row: int) -> None:
        """Forget a delivery that was acknowledged or given up."""

    def pending_deliveries(self) -> list[tuple[int, dict[str, Any]]]:
        """Every persisted delivery, oldest first."""

    def flush(self) -> None:
        """Write queued changes to durable storage (called outside the state lock)."""

    def close(self) -> None:
        """Release the storage."""


class MemoryStore:
    """Dict-backed store; pagination walks a per-tenant list of sequence numbers."""

    persistent = False

    def __init__(self) -> None:
        self._forget()

    def clear(self) -> None:
        """Forget everything."""
        self._forget()

    def _forget(self) -> None:
        self._records: dict[tuple[str, str], WorkflowRecord] = {}
        self._order: dict[str, tuple[list[int], list[str]]] = {}
        self._external: dict[tuple[str, str], str] = {}
        self._blobs: dict[str, tuple[str, str]] = {}
        self._seq = 0

    def next_seq(self) -> int:
        """A sequence number larger than any used so far."""
        self._seq += 1
        return self._seq

    def last_seq(self) -> int:
        """The largest sequence number used so far (0 when empty)."""
        return self._seq

    def tenants(self) -> list[str]:
        """Every tenant with a stored workflow."""
        return list(self._order)

    def count(self, tenant: str) -> int:
        """How many workflows a tenant has (deleted ones excluded)."""
        _, ids = self._order.get(tenant, ([], []))
        return sum(1 for i in ids if (r := self._records.get((tenant, i))) is not None and not r.deleted)

    def add(self, record: WorkflowRecord) -> None:
        """Keep a new workflow."""
        self._seq = max(self._seq, record.seq)
        key = (record.tenant, record.id)
        self._records[key] = record
        order = self._order.get(record.tenant)
        if order is None:
            order = self._order[record.tenant] = ([], [])
        seqs, ids = order
        seqs.append(record.seq)
        ids.append(record.id)
        if record.external_id:
            self._external[(record.tenant, record.external_id)] = record.id
        for step in record.steps:
            self._blobs[step.blob_id] = key  # (tenant, workflow id): one tuple for both indexes

    def save(self, record: WorkflowRecord) -> None:
        """Nothing to do: records are live objects."""

    def get(self, tenant: str, workflow_id: str) -> WorkflowRecord | None:
        """A tenant's workflow, or None."""
        return self._records.get((tenant, workflow_id))

    def by_external_id(self, tenant: str, external_id: str) -> WorkflowRecord | None:
        """A tenant's workflow submitted with ``external_id``."""
        workflow_id = self._external.get((tenant, external_id))
        return self._records.get((tenant, workflow_id)) if workflow_id else None

    def blob_owner(self, blob_id: str) -> tuple[str, str] | None:
        """(tenant, workflow id) owning a blob."""
        return self._blobs.get(blob_id)

    def page(self, tenant: str, cursor: int | None, take: int, ascending: bool,
             predicate: Predicate | None = None) -> tuple[list[WorkflowRecord], int | None]:
        """Up to ``take`` workflows after ``cursor`` in creation order; and the next cursor."""
        seqs, ids = self._order.get(tenant, ([], []))
        if ascending:
            index, step, stop = (bisect_right(seqs, cursor) if cursor is not None else 0), 1, len(seqs)
        else:
            index, step, stop = (bisect_left(seqs, cursor) if cursor is not None else len(seqs)) - 1, -1, -1
        found: list[WorkflowRecord] = []
        while index != stop and len(found) < take:
            record = self._records.get((tenant, ids[index]))
            if record is not None and not record.deleted and (predicate is None or predicate(record)):
                found.append(record)
            index += step
        more = index != stop and len(found) == take
        return found, (found[-1].seq if more and found else None)

    def unfinished(self) -> Iterator[WorkflowRecord]:
        """Workflows that still have lifecycle events to apply."""
        return (r for r in self._records.values() if r.next_event_at() is not None)

    def __len__(self) -> int:
        return len(self._records)

    # --- what a persistent store keeps besides workflows: nothing, in memory ----------------

    def save_balances(self, tenant: str, balances: dict[str, int]) -> None:
        """Nothing to persist in memory."""

    def balances(self) -> Iterator[tuple[str, dict[str, int]]]:
        """No persisted balances."""
        return iter(())

    def get_meta(self, key: str) -> str | None:
        """No persisted settings."""
        return None

    def set_meta(self, key: str, value: str) -> None:
        """Nothing to persist in memory."""

    def add_delivery(self, row: int, workflow_key: str, data: dict[str, Any]) -> None:
        """Nothing to persist in memory."""

    def delete_delivery(self, row: int) -> None:
        """Nothing to persist in memory."""

    def pending_deliveries(self) -> list[tuple[int, dict[str, Any]]]:
        """No persisted deliveries."""
        return []

    def flush(self) -> None:
        """Nothing queued in memory."""

    def close(self) -> None:
        """Nothing to release."""
