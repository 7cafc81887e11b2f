"""Webhook bookkeeping: what to deliver, in which order, what every attempt got back. No I/O here.

- A callback gets an event when its ``type`` holds ``scope:status`` or ``scope:*``.
- Per workflow, events go out serialized and in lifecycle order: the next waits until the current
  one is acknowledged (2xx) or given up.
- Retried where a real sender retries: 5xx, 408, 429, timeouts and network errors, after a backoff
  of 1, 2, 4, 8, 16, 30, 60 … clock seconds, up to ``max_attempts``. Any other answer (a 4xx such
  as the 400 a receiver sends on purpose) ends that event after one attempt.
- Every attempt is kept in the inbox, per tenant.
The sending itself sits behind the server layer (``server/sender.py``), which asks this book what
is due and reports each attempt back. A ``generation`` guards against late reports after a reset.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

from civitai_mock.mock_server.engine.countdown import Countdowns
from civitai_mock.mock_server.engine.lifecycle import Transition
from civitai_mock.mock_server.engine.records import WorkflowRecord
from civitai_mock.mock_server.engine.state import StateLock
from civitai_mock.mock_server.engine.store import Store
from civitai_mock.mock_server.engine.timestamps import iso

BACKOFF_SECONDS: tuple[float, ...] = (1, 2, 4, 8, 16, 30, 60)
#: Statuses after which a real sender tries again (besides timeouts and network errors).
RETRIED_STATUSES = frozenset({408, 429})
#: Attempts kept in the inbox (oldest dropped first).
MAX_INBOX = 100_000
Key = tuple[str, str]
Render = Callable[[WorkflowRecord, Transition, bool], dict[str, Any]]


@dataclass
class Delivery:
    """One event on its way to one callback URL."""

    tenant: str
    workflow_id: str
    url: str
    event_type: str
    payload: dict[str, Any]
    due: float
    attempt: int = 0
    repeat: int = 0
    row: int = 0

    def to_json(self) -> dict[str, Any]:
        """What is persisted of a waiting delivery."""
        return {"tenant": self.tenant, "workflow_id": self.workflow_id, "url": self.url,
                "event_type": self.event_type, "payload": self.payload, "due": self.due}


@dataclass(frozen=True)
class Attempt:
    """What one delivery attempt got: a status code, or an error (timeout, refused, …)."""

    status: int | None
    error: str | None
    latency_ms: float

    @property
    def delivered(self) -> bool:
        """True for a 2xx answer."""
        return self.status is not None and 200 <= self.status < 300

    @property
    def retryable(self) -> bool:
        """True where a real sender tries again: no answer, 5xx, 408 or 429."""
        return self.status is None or self.status >= 500 or self.status in RETRIED_STATUSES


def wants(callback: dict[str, Any], event_type: str, scope: str) -> bool:
    """True when a callback's ``type`` filter takes this event."""
    types = callback.get("type") or []
    return event_type in types or f"{scope}:*" in types


class WebhookBook:
    """Queues per workflow, the inbox of attempts, in-process routes; under the fake's one lock."""

    def __init__(self, state: StateLock, store: Store, render: Render, *, max_attempts: int = 8,
                 backoff: tuple[float, ...] = BACKOFF_SECONDS):
        self._state = state
        self._store = store
        self._render = render
        self.max_attempts, self.backoff = max_attempts, backoff
        self._queues: dict[Key, deque[Delivery]] = {}
        self._in_flight: set[Key] = set()
        self._inbox: deque[dict[str, Any]] = deque(maxlen=MAX_INBOX)
        self._routes: list[tuple[str, Any]] = []
        self._duplicates = Countdowns()
        self._rows = 0
        self.generation = 0
        for row, data in store.pending_deliveries():  # resume, in order, after a restart
            self._rows = max(self._rows, row)
            self._queues.setdefault((data["tenant"], data["workflow_id"]), deque()).append(Delivery(**data, row=row))

    # --- queueing (the engine calls this for each lifecycle event, inside the lock) ----------

    def on_event(self, record: WorkflowRecord, event: Transition) -> None:
        """Queue ``event`` for every callback whose filter takes it; each payload variant is rendered once."""
        if not record.callbacks:
            return
        event_type = f"{event.scope}:{event.status}"
        payloads: dict[bool, dict[str, Any]] = {}  # detailed or not: callbacks share the same payload
        with self._state.changing():
            for callback in record.callbacks:
                if not wants(callback, event_type, event.scope):
                    continue
                detailed = bool(callback.get("detailed"))
                if detailed not in payloads:
                    payloads[detailed] = self._render(record, event, detailed)
                payload = payloads[detailed]
                self._rows += 1
                delivery = Delivery(record.tenant, record.id, callback["url"], event_type, payload, event.at,
                                    row=self._rows)
                self._store.add_delivery(delivery.row, f"{record.tenant}/{record.id}", delivery.to_json())
                self._queues.setdefault((record.tenant, record.id), deque()).append(delivery)

    def route(self, prefix: str, app: Any) -> None:
        """Deliver to URLs starting with ``prefix`` through this ASGI app, in-process (newest route wins)."""
        with self._state.changing():
            self._routes = [(prefix, app)] + [(p, a) for p, a in self._routes if p != prefix]

    def routed(self, url: str) -> tuple[str, Any] | None:
        """(prefix, app) of the in-process route for ``url``, if any."""
        with self._state.reading():
            return next(((p, a) for p, a in self._routes if url.startswith(p)), None)

    def duplicate_next(self, count: int, tenant: str | None = None) -> None:
        """Deliver each of the next ``count`` acknowledged events (of ``tenant``, or anyone's) a second time."""
        with self._state.changing():
            self._duplicates.set(count, tenant)

    # --- what the sender asks --------------------------------------------------------------

    def next_due(self) -> float | None:
        """When the earliest waiting delivery is due (None when nothing waits)."""
        with self._state.reading():
            dues = [q[0].due for k, q in self._queues.items() if q and k not in self._in_flight]
        return min(dues) if dues else None

    def start_due(self, now: float) -> tuple[int, list[Key]]:
        """Claim every workflow whose next delivery is due; return the generation and their keys."""
        with self._state.changing():
            keys = [k for k, q in self._queues.items() if q and q[0].due <= now and k not in self._in_flight]
            self._in_flight.update(keys)
            return self.generation, keys

    def head(self, key: Key, generation: int, now: float) -> Delivery | None:
        """The workflow's next delivery when it is due now (None when not, or after a reset)."""
        with self._state.changing():
            queue = self._queues.get(key)
            if generation != self.generation or not queue or queue[0].due > now:
                return None
            queue[0].attempt += 1
            return queue[0]

    def finish(self, key: Key, generation: int, delivery: Delivery, attempt: Attempt, now: float) -> None:
        """Record an attempt; move on, or schedule the retry."""
        with self._state.changing():
            if generation != self.generation:
                return
            gave_up = not attempt.delivered and (not attempt.retryable or delivery.attempt >= self.max_attempts)
            self._inbox.append({
                "tenant": delivery.tenant, "workflowId": delivery.workflow_id, "url": delivery.url,
                "eventType": delivery.event_type, "event": delivery.payload, "attempt": delivery.attempt,
                "statusCode": attempt.status, "latencyMs": attempt.latency_ms, "error": attempt.error,
                "at": iso(now), "delivered": attempt.delivered, "gaveUp": gave_up,
            })
            queue = self._queues.get(key)
            if queue is None or not queue or queue[0] is not delivery:
                return
            if attempt.delivered and delivery.repeat == 0 and self._duplicates.take(delivery.tenant):
                delivery.repeat = 1
                return
            if attempt.delivered or gave_up:
                queue.popleft()
                self._store.delete_delivery(delivery.row)
                if not queue:
                    self._queues.pop(key, None)
                return
            delivery.due = now + self.backoff[min(delivery.attempt - 1, len(self.backoff) - 1)]

    def release(self, key: Key, generation: int) -> None:
        """The sender stopped working on this workflow's chain."""
        with self._state.changing():
            if generation == self.generation:
                self._in_flight.discard(key)

    # --- inbox -----------------------------------------------------------------------------

    def inbox(self, tenant: str | None = None) -> list[dict[str, Any]]:
        """Every attempt, in order (optionally one tenant's)."""
        with self._state.reading():
            return [dict(e) for e in self._inbox if tenant is None or e["tenant"] == tenant]

    def deliveries(self, tenant: str | None = None) -> list[dict[str, Any]]:
        """The acknowledged attempts only."""
        return [e for e in self.inbox(tenant) if e["delivered"]]

    def pending(self, tenant: str | None = None) -> int:
        """How many events still wait to be delivered."""
        with self._state.reading():
            return sum(len(q) for (t, _), q in self._queues.items() if tenant is None or t == tenant)

    def queued(self, tenant: str | None = None) -> list[dict[str, Any]]:
        """Events waiting to be delivered, in order: ``{"workflowId", "url", "eventType", "event"}``."""
        with self._state.reading():
            return [{"workflowId": d.workflow_id, "url": d.url, "eventType": d.event_type, "event": d.payload}
                    for (t, _), queue in self._queues.items() if tenant is None or t == tenant for d in queue]

    def clear_inbox(self, tenant: str | None = None) -> None:
        """Forget the recorded attempts (of one tenant, or everyone's); routes and queues stay."""
        with self._state.changing():
            kept = [] if tenant is None else [e for e in self._inbox if e["tenant"] != tenant]
            self._inbox.clear()
            self._inbox.extend(kept)

    def reset(self) -> None:
        """Forget queues, routes and duplicates (the inbox stays); late reports of older attempts are ignored."""
        with self._state.changing():
            self.generation += 1
            self._queues.clear()
            self._in_flight.clear()
            self._routes = []
            self._duplicates.clear()
