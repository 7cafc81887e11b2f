"""Per-tenant queues of outcomes for the next submitted steps (the control API and the kit fill them)."""

from __future__ import annotations

from collections import defaultdict, deque
from typing import Any

from civitai_mock.contracts.outcomes import Outcome
from civitai_mock.mock_server.engine.state import StateLock


class OutcomeQueues:
    """FIFO of outcomes per tenant, under the fake's one lock."""

    def __init__(self, state: StateLock):
        self._state = state
        self._queues: dict[str, deque[Outcome]] = defaultdict(deque)

    def push(self, tenant: str, outcomes: list[Outcome]) -> int:
        """Queue outcomes for a tenant; return how many are now waiting."""
        with self._state.changing():
            self._queues[tenant].extend(outcomes)
            return len(self._queues[tenant])

    def peek(self, tenant: str, count: int) -> list[Outcome]:
        """The next ``count`` queued outcomes of a tenant, left in the queue."""
        with self._state.reading():
            queue = self._queues.get(tenant)
            return [outcome for _, outcome in zip(range(count), queue)] if queue else []

    def drop(self, tenant: str, count: int) -> None:
        """Remove the next ``count`` outcomes of a tenant (once a submission took them)."""
        with self._state.changing():
            queue = self._queues.get(tenant)
            for _ in range(min(count, len(queue or ()))):
                queue.popleft()  # type: ignore[union-attr]

    def tenants(self) -> list[str]:
        """Tenants with queued outcomes."""
        with self._state.reading():
            return [tenant for tenant, queue in self._queues.items() if queue]

    def pending(self, tenant: str) -> list[dict[str, Any]]:
        """What is still queued for a tenant."""
        with self._state.reading():
            return [o.to_json() for o in self._queues.get(tenant, ())]

    def clear(self) -> None:
        """Forget every queue."""
        with self._state.changing():
            self._queues.clear()
