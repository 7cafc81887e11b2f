"""One running fake: clock, store, engine and webhook dispatcher, wired together."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from mock_server.clock import SystemClock, VirtualClock
from mock_server.engine.blobs import DEFAULT_URL_TTL
from mock_server.engine.service import Engine, EngineConfig
from mock_server.engine.store import MemoryStore, Store
from mock_server.engine.delivery import WebhookDispatcher

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
    allow_http_callbacks: bool = True
    public_url: str = "http://127.0.0.1:8000"
    balances: dict[str, int] | None = None
    db_path: str | None = None
    max_body_bytes: int = MAX_BODY_BYTES
    webhook_attempts: int = 8
    webhook_timeout: float = 5.0
    extra: dict[str, Any] = field(default_factory=dict)


class Fake:
    """Clock + engine + webhooks. A virtual clock (``speed=None``) moves only when advanced."""

    def __init__(self, config: FakeConfig | None = None, store: Store | None = None):
        self.config = config or FakeConfig()
        cfg = self.config
        if store is None and cfg.db_path:
            from mock_server.engine.sqlite_store import SqliteStore

            store = SqliteStore(cfg.db_path)
        self.store = store if store is not None else MemoryStore()
        self.clock: VirtualClock | SystemClock = VirtualClock() if cfg.speed is None else SystemClock(
            cfg.speed, start=self._persisted_clock())
        self.engine = Engine(self.clock, self.store, EngineConfig(
            seed=cfg.seed, url_ttl=cfg.url_ttl, allow_http_callbacks=cfg.allow_http_callbacks,
            public_url=cfg.public_url, balances=cfg.balances))
        self._persist_balances()
        self.webhooks = WebhookDispatcher(self.engine, max_attempts=cfg.webhook_attempts,
                                          attempt_timeout=cfg.webhook_timeout)
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def _persisted_clock(self) -> float | None:
        getter = getattr(self.store, "get_meta", None)
        value = getter("clock") if getter else None
        return float(value) if value else None

    def _persist_balances(self) -> None:
        saver = getattr(self.store, "save_balances", None)
        if saver is None:
            return
        for tenant, balances in self.store.balances():  # type: ignore[attr-defined]
            self.engine.accounts.load(tenant, balances)
        self.engine.accounts._on_change = saver

    @property
    def virtual(self) -> bool:
        """True when time moves only through ``advance``."""
        return isinstance(self.clock, VirtualClock)

    def advance(self, seconds: float) -> float:
        """Advance a virtual clock, running every due transition and webhook; return the new time."""
        if not isinstance(self.clock, VirtualClock):
            raise RuntimeError("this fake runs on a system clock; only a virtual clock can be advanced")
        return self.clock.advance(seconds)

    def reset(self) -> None:
        """Back to a blank state with the same configuration."""
        self.webhooks.clear()
        self.engine.reset()

    def start(self) -> None:
        """With a system clock, start applying due events and delivering webhooks in the background."""
        if self.virtual or self._ticker is not None:
            return
        self._stop.clear()
        self._ticker = threading.Thread(target=self._tick_forever, name="civitai-mock-ticker", daemon=True)
        self._ticker.start()

    def _tick_forever(self) -> None:
        saver = getattr(self.store, "set_meta", None)
        saved = 0.0
        while not self._stop.wait(TICK_SECONDS):
            now = self.clock.now()
            self.engine.settle(now)
            self.webhooks.tick(now)
            if saver is not None and now - saved >= 1.0:
                saver("clock", repr(now))  # a restart never moves the clock back
                saved = now

    def stop(self) -> None:
        """Stop background work and close the webhook client."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=5)
            self._ticker = None
        self.webhooks.close()
