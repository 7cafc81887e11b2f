"""The same app served over a real socket: uvicorn in a background thread on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """Serves a handle's app with uvicorn in a background thread on 127.0.0.1."""

    def __init__(self, mock: Any, port: int | None = None):
        import uvicorn

        self.mock = mock
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        mock.fake.engine.config.public_url = self.url
        config = uvicorn.Config(mock.app, host="127.0.0.1", port=self.port, log_level="warning",
                                lifespan="off", access_log=False, http="h11")  # h11 reads h2c-offering bodies
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
