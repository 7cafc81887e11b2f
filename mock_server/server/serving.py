"""``civitai-mock serve``: bind first, then say where; guard connections; fail in one clear line."""

from __future__ import annotations

import argparse
import gc
import ipaddress
import logging
import secrets
import socket
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from civitai_mock.mock_server import __version__
from civitai_mock.mock_server.engine.sqlite_store import SqliteStore, StoreError
from civitai_mock.mock_server.engine.store import MemoryStore
from civitai_mock.mock_server.server.app import create_app
from civitai_mock.mock_server.server.cli import UsageProblem
from civitai_mock.mock_server.server.fake import Fake, FakeConfig

#: Seconds an idle keep-alive connection stays open.
KEEP_ALIVE_SECONDS = 5
#: Collector thresholds of a process that only serves the fake (Python's default is 700, 10, 10).
SERVED_GC_THRESHOLDS = (50_000, 20, 100)


def tune_collector() -> None:
    """Collect less often in a process that only serves the fake: it keeps every workflow and request it
    saw (plain, acyclic records), so frequent passes of the cycle collector over that growing heap
    cost more than they find. What startup allocated is frozen out of every pass. Never called in
    a process the fake merely runs inside (the pytest plugin, the live server)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*SERVED_GC_THRESHOLDS)


def header_guarded(timeout: float) -> type[H11Protocol]:
    """uvicorn's h11 protocol, closing connections that do not finish their request headers in ``timeout`` s.

    h11, not httptools: httptools stops reading a request that offers ``Upgrade: h2c`` (Java's
    HttpClient does on plain http), and the body is lost; h11 ignores the offer and answers in HTTP/1.1.
    """

    class HeaderGuardedProtocol(H11Protocol):
        _header_timer: Any = None

        def connection_made(self, transport: Any) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.conn.their_state is h11.IDLE:  # still waiting for a whole request head
                if self._header_timer is None:
                    self._arm()
            else:
                self._disarm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._disarm()
            self._header_timer = self.loop.call_later(timeout, self._too_slow)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _too_slow(self) -> None:
            if not self.transport.is_closing():
                self.transport.close()

    return HeaderGuardedProtocol


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (one clear line when that is impossible)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
        return sock
    except OSError as exc:
        raise UsageProblem(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def _config(args: argparse.Namespace, public_url: str, control_token: str | None) -> FakeConfig:
    tokens = frozenset(t.strip() for t in args.tokens.split(",") if t.strip()) if args.tokens else None
    virtual = args.clock == "virtual" or args.speed == 0
    return FakeConfig(seed=args.seed, speed=None if virtual else args.speed, url_ttl=args.url_ttl, tokens=tokens,
                      control_token=control_token, allow_http_callbacks=not args.no_http_callbacks,
                      public_url=public_url)


def banner(args: argparse.Namespace, fake: Fake, url: str, where: str, generated_token: bool) -> str:
    """What ``serve`` prints once it listens."""
    clock = "virtual clock (POST /_mock/clock/advance)" if fake.virtual else f"system clock, speed x{args.speed:g}"
    first = f"civitai-mock {__version__} on {url} ({clock}, seed {args.seed}, state in {where})"
    if fake.config.control_token:
        shown = fake.config.control_token if generated_token else "the one given with --control-token"
        first += f"; /_mock needs control token {shown}"
    lines = [first, f"  dashboard {url}/_mock/ui   control API {url}/_mock   OpenAPI {url}/openapi.json"]
    if fake.config.control_token:
        lines.append("  send the control token as 'Authorization: Bearer <token>' or 'X-Control-Token: <token>'")
    return "\n".join(lines)


def serve(args: argparse.Namespace) -> int:
    """Run the fake until interrupted."""
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    try:
        store = MemoryStore() if args.memory else SqliteStore(args.db)
    except StoreError as exc:
        raise UsageProblem(str(exc)) from None
    sock = bind(args.host, args.port)
    port = sock.getsockname()[1]
    shown_host = args.host if ":" not in args.host else f"[{args.host}]"
    url = f"http://{shown_host}:{port}"
    control_token, generated = args.control_token, False
    if not control_token and not is_loopback(args.host):
        control_token, generated = secrets.token_urlsafe(24), True
    fake = Fake(_config(args, args.public_url or url, control_token), store=store)
    if args.scenario:
        from civitai_mock.mock_server.server.scenarios import load_scenario_file

        try:
            load_scenario_file(fake, args.scenario)
        except ValueError as exc:
            raise UsageProblem(f"scenario {args.scenario}: {exc}") from None
    where = "memory" if args.memory else args.db
    config = uvicorn.Config(create_app(fake), log_level=args.log_level, access_log=False, lifespan="on",
                            timeout_keep_alive=KEEP_ALIVE_SECONDS, http=header_guarded(args.header_timeout))
    server = uvicorn.Server(config)
    print(banner(args, fake, url, where, generated), flush=True)
    tune_collector()
    server.run(sockets=[sock])
    return 0
