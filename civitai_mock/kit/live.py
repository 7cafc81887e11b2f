"""The same app served over a real socket: uvicorn in a background thread on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any, Self


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ThreadServer:
    """Any ASGI app served by uvicorn in a daemon thread on 127.0.0.1 (a free port unless given)."""

    def __init__(self, app: Any, port: int | None = None, name: str = "uvicorn-thread", **config: Any):
        import uvicorn

        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        options = {"log_level": "warning", "lifespan": "off", "access_log": False, **config}
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, **options))
        self._thread = threading.Thread(target=self._server.run, name=name, daemon=True)

    def start(self, timeout: float = 5.0) -> Self:
        """Start serving; return once the port accepts connections (RuntimeError if it never does)."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():  # e.g. the port was taken meanwhile
                raise RuntimeError(f"the server did not start on {self.url}")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        self._server.should_exit = True
        self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class LiveServer(ThreadServer):
    """Serves a handle's app over a real socket; its blob URLs and references name this address."""

    def __init__(self, mock: Any, port: int | None = None):
        super().__init__(mock.app, port, name="civitai-mock-server", http="h11")  # h11 reads h2c-offering bodies
        self.mock = mock
        mock.fake.engine.config.public_url = self.url
