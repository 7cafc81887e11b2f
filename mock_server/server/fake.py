"""One running fake: clock, store, engine and webhook sender, wired together."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from civitai_mock.mock_server.clock import SystemClock, VirtualClock
from civitai_mock.mock_server.engine.blobs import DEFAULT_URL_TTL
from civitai_mock.mock_server.engine.service import Engine, EngineConfig
from civitai_mock.mock_server.engine.sqlite_store import SqliteStore
from civitai_mock.mock_server.engine.store import MemoryStore, Store
from civitai_mock.mock_server.engine.timestamps import iso
from civitai_mock.mock_server.engine.views import DEFAULT_PUBLIC_URL
from civitai_mock.mock_server.server.sender import WebhookSender

#: Largest request body accepted (Kestrel's default limit, which the real service runs behind).
MAX_BODY_BYTES = 30_000_000
#: How often a system-clock fake applies due events and delivers webhooks (real seconds).
TICK_SECONDS = 0.02


@dataclass
class FakeConfig:
    """Every setting of a fake, with the defaults the fixtures use (``serve`` overrides some)."""

    seed: int = 0
    speed: float | None = None
    url_ttl: float = DEFAULT_URL_TTL
    tokens: frozenset[str] | None = None
    control_token: str | None = None
    #: URL-signing secret; None = random per process (kept in the database with --db)
    secret: bytes | None = None
    allow_http_callbacks: bool = True
    public_url: str = DEFAULT_PUBLIC_URL
    balances: dict[str, int] | None = None
    db_path: str | None = None
    max_body_bytes: int = MAX_BODY_BYTES
    webhook_attempts: int = 8
    webhook_timeout: float = 5.0


class Fake:
    """Clock + engine + webhook sender. A virtual clock (``speed=None``) moves only when advanced."""

    def __init__(self, config: FakeConfig | None = None, store: Store | None = None):
        self.config = config or FakeConfig()
        cfg = self.config
        if store is None:
            store = SqliteStore(cfg.db_path) if cfg.db_path else MemoryStore()
        remembered = _remembered_clock(store)
        clock: VirtualClock | SystemClock = (
            VirtualClock(start=remembered) if cfg.speed is None and remembered else
            VirtualClock() if cfg.speed is None else SystemClock(cfg.speed))
        self.clock = clock
        self.engine = Engine(clock, store, EngineConfig(
            seed=cfg.seed, url_ttl=cfg.url_ttl, secret=cfg.secret, allow_http_callbacks=cfg.allow_http_callbacks,
            public_url=cfg.public_url, balances=cfg.balances, webhook_attempts=cfg.webhook_attempts))
        if isinstance(clock, SystemClock):
            clock.resume_from(remembered)
        self.webhooks = WebhookSender(self.engine, timeout=cfg.webhook_timeout, blocking=self.virtual)
        if isinstance(clock, VirtualClock):
            clock.subscribe(self.webhooks.next_due, self.webhooks.tick)
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    @property
    def virtual(self) -> bool:
        """True when time moves only through ``advance``."""
        return isinstance(self.clock, VirtualClock)

    def clock_json(self, now: float | None = None) -> dict[str, Any]:
        """The clock as ``/_mock/clock`` and the dashboard show it: ``now`` (default: the clock's), which clock, speed."""
        return {"now": iso(self.clock.now() if now is None else now), "clock": "virtual" if self.virtual else "system",
                "speed": None if self.virtual else self.config.speed}

    def tenants(self) -> list[dict[str, Any]]:
        """Every tenant the fake knows: its token, Buzz balances and how many workflows it has."""
        engine = self.engine
        return [{"token": token, "balances": engine.accounts.balances(token), "workflows": engine.count(token)}
                for token in engine.tenants()]

    def advance(self, seconds: float) -> float:
        """Move time forward; return the new time.

        A virtual clock stops at every due moment on the way: every transition, refund and webhook
        attempt happens, in order, before this returns. A system clock jumps forward (never back);
        what became due is applied now and its webhooks start.
        """
        now = self.clock.advance(seconds)
        if isinstance(self.clock, SystemClock):
            self.engine.settle(now)
            self.webhooks.tick(now)
        self.engine.remember_clock(now)
        return now

    def reset(self) -> None:
        """Back to a blank state with the same configuration: state, request log and webhook inbox."""
        self.webhooks.cancel_all()
        self.engine.reset()
        self.engine.requests.clear()
        self.engine.webhooks.clear_inbox()

    def start(self) -> None:
        """With a system clock, start applying due events and delivering webhooks in the background."""
        if self.virtual or self._ticker is not None:
            return
        self._stop.clear()
        self._ticker = threading.Thread(target=self._tick_forever, name="civitai-mock-ticker", daemon=True)
        self._ticker.start()

    def _tick_forever(self) -> None:
        saved = 0.0
        while not self._stop.wait(TICK_SECONDS):
            now = self.clock.now()
            self.engine.settle(now)
            self.webhooks.tick(now)
            if now - saved >= 1.0:
                self.engine.remember_clock(now)
                saved = now

    def stop(self) -> None:
        """Stop background work, close the webhook clients and the store."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=5)
            self._ticker = None
        self.webhooks.close()
        self.engine.store.close()


def _remembered_clock(store: Store) -> float | None:
    """The clock's high-water mark kept by a previous run on the same database (None in memory)."""
    value = store.get_meta("clock")
    return float(value) if value else None
