"""Webhook delivery with the documented semantics, and the inbox of every attempt.

- A callback gets an event when its ``type`` holds ``scope:status`` or ``scope:*``.
- Per workflow, events go out serialized and in lifecycle order: the next waits until the current
  one is acknowledged with a 2xx.
- A non-2xx answer, a timeout (5 s by default) or a connection error is retried after a backoff of
  1, 2, 4, 8, 16, 30, 60 … clock seconds, up to 8 attempts; then the event is given up (kept in the
  inbox with ``gaveUp: true``) and the next one goes.
- Each workflow's chain runs on its own, so a slow or dead receiver never delays other workflows.
- Under a ``VirtualClock``, ``advance()`` returns only after every due attempt was made.
- URLs registered with ``route(prefix, asgi_app)`` are delivered in-process (no socket).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import httpx

from mock_server.clock import VirtualClock
from mock_server.engine.eventloop import BackgroundLoop
from mock_server.engine.lifecycle import Transition
from mock_server.engine.records import WorkflowRecord
from mock_server.engine.views import iso

log = logging.getLogger("civitai_mock.webhooks")
BACKOFF_SECONDS: tuple[float, ...] = (1, 2, 4, 8, 16, 30, 60)
USER_AGENT = "civitai-mock-webhooks"
Key = tuple[str, str]


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
    row: int | None = None

    def to_json(self) -> dict[str, Any]:
        """What is persisted of a waiting delivery."""
        return {"tenant": self.tenant, "workflow_id": self.workflow_id, "url": self.url,
                "event_type": self.event_type, "payload": self.payload, "due": self.due}


class WebhookDispatcher:
    """Queues lifecycle events for each workflow's callbacks and delivers them in order."""

    def __init__(self, engine: Any, *, max_attempts: int = 8, attempt_timeout: float = 5.0,
                 backoff: tuple[float, ...] = BACKOFF_SECONDS):
        self.engine = engine
        self.max_attempts, self.attempt_timeout, self.backoff = max_attempts, attempt_timeout, backoff
        self._queues: dict[Key, deque[Delivery]] = {}
        self._in_flight: set[Key] = set()
        self._inbox: list[dict[str, Any]] = []
        self._routes: list[tuple[str, Any]] = []
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._duplicates = 0
        self._lock = threading.RLock()
        self._loop = BackgroundLoop("civitai-mock-webhooks")
        self.blocking = isinstance(engine.clock, VirtualClock)
        self._persist = engine.store if hasattr(engine.store, "add_delivery") else None
        if self._persist is not None:
            for row, data in self._persist.pending_deliveries():  # resume, in order, after a restart
                self._queues.setdefault((data["tenant"], data["workflow_id"]), deque()).append(
                    Delivery(**data, row=row))
        engine.listeners.append(self._on_event)
        if self.blocking:
            engine.clock.subscribe(self.next_due, self.tick)

    # --- queueing (called inside the engine lock: no I/O here) -------------------------------

    def _on_event(self, record: WorkflowRecord, event: Transition) -> None:
        event_type = f"{event.scope}:{event.status}"
        for callback in record.callbacks:
            types = callback.get("type") or []
            if event_type not in types and f"{event.scope}:*" not in types:
                continue
            payload = self.engine.render.event(record, event, bool(callback.get("detailed")),
                                               self.engine.config.public_url)
            delivery = Delivery(record.tenant, record.id, callback["url"], event_type, payload, event.at)
            if self._persist is not None:
                delivery.row = self._persist.add_delivery(f"{record.tenant}/{record.id}", delivery.to_json())
            with self._lock:
                self._queues.setdefault((record.tenant, record.id), deque()).append(delivery)

    def route(self, prefix: str, app: Any) -> None:
        """Deliver to URLs starting with ``prefix`` through this ASGI app, in-process (newest route wins)."""
        with self._lock:
            self._routes = [(prefix, app)] + [(p, a) for p, a in self._routes if p != prefix]
            self._clients.pop(prefix, None)

    def duplicate_next(self, count: int) -> None:
        """Deliver each of the next ``count`` acknowledged events a second time (as a retried delivery may)."""
        with self._lock:
            self._duplicates = max(0, count)

    # --- delivering ------------------------------------------------------------------------

    def next_due(self) -> float | None:
        """When the earliest waiting delivery is due (None when nothing waits)."""
        with self._lock:
            dues = [q[0].due for k, q in self._queues.items() if q and k not in self._in_flight]
        return min(dues) if dues else None

    def tick(self, now: float) -> None:
        """Start every workflow's due deliveries; under a virtual clock, wait until they were attempted."""
        with self._lock:
            keys = [k for k, q in self._queues.items() if q and q[0].due <= now and k not in self._in_flight]
            self._in_flight.update(keys)
        futures = [self._loop.submit(self._chain(key)) for key in keys]
        if self.blocking:
            for future in futures:
                future.result()

    async def _chain(self, key: Key) -> None:
        try:
            while True:
                with self._lock:
                    queue = self._queues.get(key)
                    if not queue or queue[0].due > self.engine.clock.now():
                        return
                    delivery = queue[0]
                ok = await self._attempt(delivery)
                with self._lock:
                    if ok and self._duplicates > 0 and delivery.repeat == 0:
                        self._duplicates -= 1
                        delivery.repeat = 1
                        continue
                    if ok or delivery.attempt >= self.max_attempts:
                        queue.popleft()
                        if self._persist is not None and delivery.row is not None:
                            self._persist.delete_delivery(delivery.row)
                        if not queue:
                            self._queues.pop(key, None)
                        continue
                    step = self.backoff[min(delivery.attempt - 1, len(self.backoff) - 1)]
                    delivery.due = self.engine.clock.now() + step
                    return
        finally:
            with self._lock:
                self._in_flight.discard(key)

    def _client(self, url: str) -> httpx.AsyncClient:
        for prefix, app in self._routes:
            if url.startswith(prefix):
                if prefix not in self._clients:
                    self._clients[prefix] = httpx.AsyncClient(transport=httpx.ASGITransport(app))
                return self._clients[prefix]
        if "" not in self._clients:
            self._clients[""] = httpx.AsyncClient(timeout=self.attempt_timeout, follow_redirects=False)
        return self._clients[""]

    async def _attempt(self, delivery: Delivery) -> bool:
        delivery.attempt += 1
        started = time.perf_counter()
        status, error = None, None
        headers = {"User-Agent": USER_AGENT, "X-Civitai-Event": delivery.event_type}
        try:
            response = await asyncio.wait_for(
                self._client(delivery.url).post(delivery.url, json=delivery.payload, headers=headers),
                self.attempt_timeout)
            status = response.status_code
        except (asyncio.TimeoutError, httpx.TimeoutException):
            error = f"timeout after {self.attempt_timeout:g} s"
        except (httpx.HTTPError, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}".strip()
        except Exception as exc:  # a receiver app that crashed is the receiver's failure, not ours
            error = f"receiver raised {type(exc).__name__}: {exc}"
        latency = round((time.perf_counter() - started) * 1000, 2)
        delivered = status is not None and 200 <= status < 300
        gave_up = not delivered and delivery.attempt >= self.max_attempts
        entry = {"tenant": delivery.tenant, "workflowId": delivery.workflow_id, "url": delivery.url,
                 "eventType": delivery.event_type, "event": delivery.payload, "attempt": delivery.attempt,
                 "statusCode": status, "latencyMs": latency, "error": error, "at": iso(self.engine.clock.now()),
                 "delivered": delivered, "gaveUp": gave_up}
        with self._lock:
            self._inbox.append(entry)
        log.info("webhook %s %s -> %s attempt %d (%.1f ms)%s", delivery.event_type, delivery.url,
                 status if status is not None else error, delivery.attempt, latency, " gave up" if gave_up else "")
        return delivered

    # --- inbox -----------------------------------------------------------------------------

    def inbox(self, tenant: str | None = None) -> list[dict[str, Any]]:
        """Every attempt, in order (optionally one tenant's)."""
        with self._lock:
            return [dict(e) for e in self._inbox if tenant is None or e["tenant"] == tenant]

    def deliveries(self, tenant: str | None = None) -> list[dict[str, Any]]:
        """The acknowledged attempts only."""
        return [e for e in self.inbox(tenant) if e["delivered"]]

    def pending(self, tenant: str | None = None) -> int:
        """How many events still wait to be delivered."""
        with self._lock:
            return sum(len(q) for (t, _), q in self._queues.items() if tenant is None or t == tenant)

    def clear(self) -> None:
        """Forget the inbox, every waiting delivery and every in-process route."""
        with self._lock:
            self._queues.clear()
            self._inbox.clear()
            self._duplicates = 0
            self._routes = []
            for prefix in [p for p in self._clients if p]:
                self._clients.pop(prefix)

    def close(self) -> None:
        """Close the HTTP clients and stop the delivery loop."""
        clients = list(self._clients.values())
        self._clients.clear()
        if clients:
            async def close_all() -> None:
                for client in clients:
                    await client.aclose()
            try:
                self._loop.run(close_all(), timeout=5)
            except Exception:  # closing is best effort on shutdown
                pass
        self._loop.close()
