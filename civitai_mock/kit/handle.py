"""The test handle: a fake with in-process clients, its clock, inbox, request log and controls.

Used by the pytest plugin (``civitai_mock``, ``civitai_mock_server``) and directly::

    with civitai_fake(seed=1) as mock:          # a fresh isolated fake (e.g. per Hypothesis example)
        r = mock.client.post("/v2/consumer/workflows", json=body)
        mock.advance(300)
"""

from __future__ import annotations

import contextlib
from typing import Any, ContextManager, Iterable, Iterator

import httpx

from civitai_mock.contracts.outcomes import Outcome
from civitai_mock.contracts.rules import Violation, assert_conforms, lint
from civitai_mock.kit.transport import SyncASGITransport
from civitai_mock.mock_server.clock import SystemClock, VirtualClock
from civitai_mock.mock_server.engine.faults import Fault
from civitai_mock.mock_server.engine.requestlog import RequestEntry
from civitai_mock.mock_server.engine.service import Engine
from civitai_mock.mock_server.engine.webhooks import WebhookBook
from civitai_mock.mock_server.server.app import create_app
from civitai_mock.mock_server.server.fake import Fake, FakeConfig

#: The real service's base URL; the in-process clients use it so URLs look exactly as in production.
REAL_BASE_URL = "https://orchestration.civitai.com"
DEFAULT_TOKEN = "test-token"


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

    def use_token(self, token: str) -> None:
        """Make ``token`` this handle's tenant (its ``client`` sends it from now on)."""
        self.token = token
        self.client.headers["Authorization"] = f"Bearer {token}"

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

    # --- time and state --------------------------------------------------------------------

    @property
    def clock(self) -> VirtualClock | SystemClock:
        """The fake's clock (a ``VirtualClock`` unless built with a speed)."""
        return self.fake.clock

    def advance(self, seconds: float) -> float:
        """Advance virtual time, running every due transition and webhook first."""
        return self.fake.advance(seconds)

    @property
    def engine(self) -> Engine:
        """The engine (plain Python, no HTTP): the one owner of the fake's state."""
        return self.fake.engine

    @property
    def webhooks(self) -> WebhookBook:
        """The webhook book: ``inbox()``, ``deliveries()``, ``pending()``, ``route(prefix, asgi_app)``."""
        return self.fake.engine.webhooks

    @property
    def requests(self) -> list[RequestEntry]:
        """Every request this handle's token made, in order."""
        return self.fake.engine.requests.entries(self.token)

    # --- controls --------------------------------------------------------------------------

    def queue_outcome(self, kind: str = "fail", reason: str | None = None, token: str | None = None,
                      **fields: Any) -> None:
        """Make the next submitted step end this way (``kind``: succeed, fail, block, expire, cancel)."""
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

    def expire_next_urls(self, count: int = 1, token: str | None = None) -> None:
        """The next ``count`` signed blob URLs the fake hands this tenant (or ``token``) are already expired."""
        self.fake.engine.expire_next_urls(count, token or self.token)

    def duplicate_next_webhooks(self, count: int = 1, token: str | None = None) -> None:
        """Each of this tenant's (or ``token``'s) next ``count`` acknowledged webhook events is delivered twice."""
        self.fake.engine.webhooks.duplicate_next(count, token or self.token)

    def configure(self, seed: int | None = None, url_ttl: float | None = None,
                  balances: dict[str, int] | None = None) -> None:
        """Change the fake's seed, URL lifetime or default balances (takes effect at the next reset)."""
        self.fake.engine.configure(seed=seed, url_ttl=url_ttl, balances=balances)

    def reset(self) -> None:
        """Forget everything (workflows, balances, outcomes, faults, routes, requests, webhooks); time restarts."""
        self.fake.reset()

    def clear_log(self, token: str | None = None) -> None:
        """Forget the logged requests (of one tenant, or everyone's); state stays."""
        self.fake.engine.requests.clear(token)

    def clear_inbox(self, token: str | None = None) -> None:
        """Forget the recorded webhook attempts (of one tenant, or everyone's); routes stay."""
        self.fake.engine.webhooks.clear_inbox(token)

    # --- judging the client ----------------------------------------------------------------

    #: Rule ids skipped by ``lint`` / ``assert_client_conforms`` (the marker's ``lint_ignore`` sets it per test).
    lint_ignore: tuple[str, ...] = ()

    def lint(self, token: str | None = None, *, everyone: bool = False, ignore: Iterable[str] = (),
             include_advisories: bool = True) -> list[Violation]:
        """Contract violations in one tenant's traffic (``token``, default this handle's) or, ``everyone=True``, all.

        Each tenant is judged on its own requests and webhook attempts; rules in ``ignore`` (and in
        ``lint_ignore``) are skipped; advisories are included unless ``include_advisories=False``.
        """
        if everyone and token is not None:
            raise ValueError("pass a token or everyone=True, not both")
        tenant = None if everyone else (token or self.token)
        return lint(self.fake.engine.requests.entries(tenant), self.fake.engine.webhooks.inbox(tenant),
                    ignore=(*self.lint_ignore, *ignore), include_advisories=include_advisories)

    def assert_client_conforms(self, token: str | None = None, *, everyone: bool = False,
                               ignore: Iterable[str] = (), strict: bool = False) -> None:
        """Fail with a grouped report when the client broke a documented rule (advisories fail only if ``strict``)."""
        assert_conforms(self.lint(token, everyone=everyone, ignore=ignore), strict=strict)

    def autojump(self) -> ContextManager[None]:
        """Within the block, ``time.sleep`` / ``asyncio.sleep`` on this thread advance the virtual clock instead."""
        from civitai_mock.kit.autojump import autojump

        return autojump(self)

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
