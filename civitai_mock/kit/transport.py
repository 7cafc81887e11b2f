"""In-process transports: a plain ``httpx.Client`` (or respx) calling the fake's ASGI app, no socket."""

from __future__ import annotations

from typing import Any

import anyio.from_thread
import httpx


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
