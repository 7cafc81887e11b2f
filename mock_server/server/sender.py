"""Sending webhooks: the engine's ``WebhookBook`` says what is due; this posts it and reports back.

- Each workflow's events go out as one chain, serialized and in order, on a private event loop.
- Concurrency is bounded per receiver (scheme, host and port, or in-process route) and overall;
  a receiver waits for its own slot before taking a shared one, so a receiver that hangs holds at
  most its own share and delays nobody else.
- Timeouts are the HTTP client's own (no cancelling of requests still waiting for a connection);
  each receiver has its own client and connection pool, sized to its share.
- Redirects are not followed. URLs routed with ``book.route(prefix, app)`` are delivered to that
  ASGI app in-process.
- Under a virtual clock ``tick`` returns only after every due attempt was made; ``cancel_all``
  cancels and awaits chains in flight (a reset) and closes the clients.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from urllib.parse import urlsplit

import httpx
import orjson

from civitai_mock.mock_server.engine.service import Engine
from civitai_mock.mock_server.engine.webhooks import Attempt, Delivery, Key
from civitai_mock.mock_server.server.eventloop import BackgroundLoop
from civitai_mock.mock_server.server.redact import redacted_url

log = logging.getLogger("civitai_mock.webhooks")
USER_AGENT = "civitai-mock-webhooks"
#: Concurrent attempts per receiver, and in all.
PER_RECEIVER, TOTAL = 8, 64


class WebhookSender:
    """Delivers what the engine's webhook book says is due, with bounded concurrency."""

    def __init__(self, engine: Engine, *, timeout: float = 5.0, blocking: bool = False,
                 per_receiver: int = PER_RECEIVER, total: int = TOTAL):
        self.engine = engine
        self.book = engine.webhooks
        self.timeout, self.blocking = timeout, blocking
        self.per_receiver, self.total = per_receiver, total
        self._loop = BackgroundLoop("civitai-mock-webhooks")
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._shared: asyncio.Semaphore | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # --- driving ---------------------------------------------------------------------------

    def next_due(self) -> float | None:
        """When the earliest waiting delivery is due."""
        return self.book.next_due()

    def tick(self, now: float) -> None:
        """Start every due chain; under a virtual clock, wait until each due attempt was made."""
        generation, keys = self.book.start_due(now)
        if not keys:
            return
        future = self._loop.submit(self._run(keys, generation))
        if self.blocking:
            future.result()

    async def _run(self, keys: list[Key], generation: int) -> None:
        tasks = [asyncio.ensure_future(self._chain(key, generation)) for key in keys]
        self._tasks.update(tasks)
        try:
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            self._tasks.difference_update(tasks)

    async def _chain(self, key: Key, generation: int) -> None:
        try:
            while True:
                delivery = self.book.head(key, generation, self.engine.clock.now())
                if delivery is None:
                    return
                attempt = await self._attempt(delivery)
                self.book.finish(key, generation, delivery, attempt, self.engine.clock.now())
        finally:
            self.book.release(key, generation)

    # --- one attempt -----------------------------------------------------------------------

    def _receiver(self, url: str) -> tuple[str, httpx.AsyncClient]:
        """The receiver's name (route prefix or origin) and its client."""
        routed = self.book.routed(url)
        if routed is not None:
            name, app = "route:" + routed[0], routed[1]
            if name not in self._clients:
                self._clients[name] = httpx.AsyncClient(transport=httpx.ASGITransport(app))
            return name, self._clients[name]
        parts = urlsplit(url)
        name = f"{parts.scheme}://{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
        if name not in self._clients:
            limits = httpx.Limits(max_connections=self.per_receiver, max_keepalive_connections=self.per_receiver)
            self._clients[name] = httpx.AsyncClient(timeout=httpx.Timeout(self.timeout), limits=limits,
                                                    follow_redirects=False, trust_env=False)
        return name, self._clients[name]

    def _slot(self, name: str) -> asyncio.Semaphore:
        if name not in self._slots:
            self._slots[name] = asyncio.Semaphore(self.per_receiver)
        return self._slots[name]

    async def _attempt(self, delivery: Delivery) -> Attempt:
        name, client = self._receiver(delivery.url)
        if self._shared is None:
            self._shared = asyncio.Semaphore(self.total)
        status, error = None, None
        async with self._slot(name), self._shared:
            started = time.perf_counter()
            try:
                status = await self._post(name, client, delivery)
            except (asyncio.TimeoutError, httpx.TimeoutException):
                error = f"timeout after {self.timeout:g} s"
            except (httpx.HTTPError, OSError) as exc:
                error = f"{type(exc).__name__}: {exc}".strip()
            except Exception as exc:  # a receiver app that crashed is the receiver's failure, not ours
                error = f"receiver raised {type(exc).__name__}: {exc}"
        latency = round((time.perf_counter() - started) * 1000, 2)
        log.info("webhook %s %s -> %s attempt %d (%.1f ms)", delivery.event_type, redacted_url(delivery.url),
                 status if status is not None else error, delivery.attempt, latency)
        return Attempt(status, error, latency)

    async def _post(self, name: str, client: httpx.AsyncClient, delivery: Delivery) -> int:
        content = orjson.dumps(delivery.payload)
        headers = {"User-Agent": USER_AGENT, "Content-Type": "application/json"}
        request = client.post(delivery.url, content=content, headers=headers)
        if name.startswith("route:"):  # an in-process app has no socket timeouts of its own
            response = await asyncio.wait_for(request, self.timeout)
        else:
            response = await request
        return response.status_code

    # --- reset and shutdown ----------------------------------------------------------------

    def cancel_all(self) -> None:
        """Cancel every chain in flight and wait for them; close the clients (fresh ones follow)."""
        if not self._loop.running:  # chains, clients and slots live on the loop: none yet, nothing to cancel
            return
        try:
            self._loop.run(self._cancel_all(), timeout=10)
        except (concurrent.futures.TimeoutError, RuntimeError):  # a loop already stopped has nothing in flight
            pass

    async def _cancel_all(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        clients, self._clients, self._slots, self._shared = list(self._clients.values()), {}, {}, None
        for client in clients:
            await client.aclose()

    def close(self) -> None:
        """Cancel what is in flight, close the clients and stop the loop."""
        if self._loop.running:
            self.cancel_all()
        self._loop.close()
