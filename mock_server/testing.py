"""The test kit: a handle on a fake with in-process clients, clock, inbox, request log and controls.

Used by the pytest plugin (``civitai_mock``, ``civitai_mock_server``) and directly::

    with civitai_fake(seed=1) as mock:          # a fresh isolated fake (e.g. per Hypothesis example)
        r = mock.client.post("/v2/consumer/workflows", json=body)
        mock.advance(300)
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Any, Iterator

import anyio.from_thread
import httpx

from mock_server.app import create_app
from mock_server.engine.faults import Fault
from mock_server.engine.outcomes import Outcome
from mock_server.engine.requestlog import RequestEntry
from mock_server.fake import Fake, FakeConfig

#: The real service's base URL; the in-process clients use it so URLs look exactly as in production.
REAL_BASE_URL = "https://orchestration.civitai.com"
DEFAULT_TOKEN = "test-token"


class SyncASGITransport(httpx.BaseTransport):
    """Lets a plain ``httpx.Client`` (or respx) call an ASGI app in-process, from sync or async code."""

    def __init__(self, app: Any):
        self._transport = httpx.ASGITransport(app)
        self._portal_cm = anyio.from_thread.start_blocking_portal()
        self._portal = self._portal_cm.__enter__()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Run the request through the app on a private event loop and return the full response."""
        content = request.read()

        async def call() -> tuple[int, list[tuple[bytes, bytes]], bytes]:
            forwarded = httpx.Request(request.method, request.url, headers=request.headers, content=content)
            response = await self._transport.handle_async_request(forwarded)
            body = await response.aread()
            return response.status_code, response.headers.raw, body

        status, headers, body = self._portal.call(call)
        return httpx.Response(status, headers=headers, content=body, request=request)

    def close(self) -> None:
        """Nothing: clients sharing this transport may close freely; ``shutdown`` stops the loop."""

    def shutdown(self) -> None:
        """Stop the private event loop (when the handle closes)."""
        self._portal_cm.__exit__(None, None, None)


class CivitaiMock:
    """Everything a test needs from one fake; see README "Testing your client"."""

    def __init__(self, fake: Fake, token: str = DEFAULT_TOKEN, base_url: str = REAL_BASE_URL):
        self.fake = fake
        self.app = create_app(fake)
        self.token = token
        self.base_url = base_url
        self._transport = SyncASGITransport(self.app)
        self.client = httpx.Client(transport=self._transport, base_url=base_url, headers=self.headers)
        self.url: str | None = None

    # --- clients ---------------------------------------------------------------------------

    @property
    def headers(self) -> dict[str, str]:
        """The Authorization header for this handle's token."""
        return {"Authorization": f"Bearer {self.token}"}

    def async_client(self, token: str | None = None, **kwargs: Any) -> httpx.AsyncClient:
        """An ``httpx.AsyncClient`` bound to the app in-process (close it, or use ``async with``)."""
        headers = {"Authorization": f"Bearer {token or self.token}"}
        return httpx.AsyncClient(transport=httpx.ASGITransport(self.app), base_url=self.base_url,
                                 headers=headers, **kwargs)

    def sync_client(self, token: str | None = None, **kwargs: Any) -> httpx.Client:
        """Another in-process ``httpx.Client`` (e.g. with a different token)."""
        headers = {"Authorization": f"Bearer {token or self.token}"}
        return httpx.Client(transport=self._transport, base_url=self.base_url, headers=headers, **kwargs)

    @contextlib.contextmanager
    def respx(self, base_url: str = REAL_BASE_URL) -> Iterator[Any]:
        """Route every httpx request to ``base_url`` (the real service by default) to this fake."""
        import respx

        def forward(request: httpx.Request) -> httpx.Response:
            return self._transport.handle_request(request)

        with respx.mock(assert_all_called=False, assert_all_mocked=False) as router:
            router.route(url__startswith=base_url.rstrip("/")).mock(side_effect=forward)
            router.route().pass_through()
            yield router

    # --- time, state, controls -------------------------------------------------------------

    @property
    def clock(self) -> Any:
        """The fake's clock (a ``VirtualClock`` unless built with a speed)."""
        return self.fake.clock

    def advance(self, seconds: float) -> float:
        """Advance virtual time, running every due transition and webhook first."""
        return self.fake.advance(seconds)

    @property
    def engine(self) -> Any:
        """The engine (plain Python, no HTTP)."""
        return self.fake.engine

    @property
    def webhooks(self) -> Any:
        """The webhook dispatcher: ``inbox()``, ``deliveries()``, ``route(prefix, asgi_app)``."""
        return self.fake.webhooks

    @property
    def requests(self) -> list[RequestEntry]:
        """Every request this handle's token made, in order."""
        return self.fake.engine.requests.entries(self.token)

    def queue_outcome(self, kind: str = "fail", reason: str | None = None, token: str | None = None,
                      **fields: Any) -> None:
        """Make the next submitted step end this way (``kind``: succeed, fail, block, expire)."""
        outcome = Outcome.from_json({"kind": kind, **({"reason": reason} if reason else {}), **fields})
        self.fake.engine.outcomes.push(token or self.token, [outcome])

    def fail_next(self, status: int = 429, count: int = 1, target: str = "submit", retry_after: int | None = None,
                  token: str | None = None) -> None:
        """The next ``count`` matching requests answer ``status`` (problem+json, Retry-After on 429/503)."""
        spec: dict[str, Any] = {"status": status, "count": count, "target": target}
        if retry_after is not None:
            spec["retryAfter"] = retry_after
        self.fake.engine.faults.add(token or self.token, Fault.from_json(spec))

    def set_balances(self, token: str | None = None, **balances: int) -> dict[str, int]:
        """Set Buzz balances (``blue=…, green=…, yellow=…``) of a tenant."""
        return self.fake.engine.accounts.set_balances(token or self.token, balances)

    def configure(self, seed: int | None = None, url_ttl: float | None = None,
                  balances: dict[str, int] | None = None) -> None:
        """Change the fake's seed, URL lifetime or default balances (takes effect at the next reset)."""
        engine = self.fake.engine
        if seed is not None:
            engine.config.seed = seed
        if url_ttl is not None:
            engine.signer.ttl = url_ttl
        if balances is not None:
            engine.accounts.defaults = dict(balances)

    def reset(self) -> None:
        """Forget everything (workflows, balances, outcomes, faults, requests, webhooks); time restarts."""
        self.fake.reset()

    def lint(self, token: str | None = None) -> list[Any]:
        """Client-contract violations found in this tenant's traffic (see ``contracts.rules``)."""
        from contracts.rules import lint_fake

        return lint_fake(self.fake, token or self.token)

    def assert_client_conforms(self, token: str | None = None) -> None:
        """Fail with a readable report when the client broke a documented rule."""
        from contracts.rules import assert_conforms

        assert_conforms(self.lint(token))

    def close(self) -> None:
        """Release the in-process transport and the fake's background work."""
        self.client.close()
        self._transport.shutdown()
        self.fake.stop()


@contextlib.contextmanager
def civitai_fake(token: str = DEFAULT_TOKEN, **config: Any) -> Iterator[CivitaiMock]:
    """A fresh, isolated in-process fake for one block (e.g. one Hypothesis example)."""
    mock = CivitaiMock(Fake(FakeConfig(**config)), token=token)
    try:
        yield mock
    finally:
        mock.close()


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """The same app served by uvicorn in a background thread on 127.0.0.1."""

    def __init__(self, mock: CivitaiMock, port: int | None = None):
        import uvicorn

        self.mock = mock
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        mock.fake.engine.config.public_url = self.url
        config = uvicorn.Config(mock.app, host="127.0.0.1", port=self.port, log_level="warning",
                                lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="civitai-mock-server", daemon=True)

    def start(self, timeout: float = 5.0) -> "LiveServer":
        """Start serving; return once the port accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"civitai-mock server did not start on {self.url}")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        self._server.should_exit = True
        self._thread.join(timeout=5)
