"""In-process transports: a plain ``httpx.Client`` (or respx) calling the fake's ASGI app, no socket.

Where the calling thread runs no event loop (the usual sync test), the app runs right there on an
event loop that thread owns (one per thread, created on first use and kept): no thread hop. Where
the calling thread is running an event loop (the sync client called from async code, or from an
in-process webhook receiver), that loop cannot be re-entered, so the call goes to a private loop
thread (a portal) started on first need. Both paths run the same ASGI call and buffer the body.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import httpx

from civitai_mock.mock_server.server.eventloop import BackgroundLoop

try:
    import sniffio
except ImportError:  # optional: without it, only asyncio loops are detected (anyio does the same)
    sniffio = None  # type: ignore[assignment]

T = TypeVar("T")
Message = dict[str, Any]
Outcome = tuple[int, list[tuple[bytes, bytes]], bytes]
#: The client address the app sees (httpx.ASGITransport's default).
CLIENT = ("127.0.0.1", 123)

_local = threading.local()
_loops: list[tuple[threading.Thread, asyncio.AbstractEventLoop]] = []
_loops_lock = threading.Lock()
_parents_loops: list[asyncio.AbstractEventLoop] = []  # in a forked child: kept, never used, never closed


def thread_loop() -> asyncio.AbstractEventLoop:
    """The calling thread's own event loop for in-process calls (created on first use, then kept)."""
    loop: asyncio.AbstractEventLoop | None = getattr(_local, "loop", None)
    if loop is None or loop.is_closed():
        loop = asyncio.new_event_loop()
        _local.loop = loop
        with _loops_lock:
            _close_loops(lambda thread: not thread.is_alive())
            _loops.append((threading.current_thread(), loop))
    return loop


def _close_loops(finished: Any) -> None:
    """Close the kept loops whose thread ``finished(thread)`` (caller holds ``_loops_lock``)."""
    for entry in [entry for entry in _loops if finished(entry[0])]:
        _loops.remove(entry)
        if not entry[1].is_running():
            entry[1].close()


@atexit.register
def _close_all_loops() -> None:
    with _loops_lock:
        _close_loops(lambda thread: True)


def _forget_loops_in_child() -> None:
    """A forked child makes its own loops: the parent's share their epoll set and wake-up pipe with it."""
    global _local, _loops_lock
    _local, _loops_lock = threading.local(), threading.Lock()
    # never closed here: closing one would unregister its pipe from the epoll set the parent still uses
    _parents_loops.extend(loop for _, loop in _loops)
    _loops.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_loops_in_child)


def run_here(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to its end on this thread's own loop (the caller runs no loop)."""
    # run_until_complete, not a hand-rolled stop: it runs the task's done callbacks too, such as
    # anyio stopping the worker threads that ``wait=N`` used (they would otherwise hold up exit)
    return thread_loop().run_until_complete(coro)


def _running_loop() -> Any:
    """The event loop this thread is running (an asyncio loop, or the name of another library), else None."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        pass
    if sniffio is None:
        return None
    try:  # e.g. trio: its thread cannot run our loop either, and anyio would take it for the backend
        return sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        return None


async def call_app(app: Any, request: httpx.Request, content: bytes) -> Outcome:
    """One ASGI call with ``httpx.ASGITransport``'s scope and semantics; returns status, headers, body."""
    url = request.url
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": request.method,
        "headers": [(key.lower(), value) for key, value in request.headers.raw],
        "scheme": url.scheme,
        "path": url.path,
        "raw_path": url.raw_path.split(b"?")[0],
        "query_string": url.query,
        "server": (url.host, url.port),
        "client": CLIENT,
        "root_path": "",
    }
    sent_body = False
    complete: asyncio.Future[None] | None = None
    finished = False
    status: int | None = None
    headers: list[tuple[bytes, bytes]] = []
    parts: list[bytes] = []
    head = request.method == "HEAD"

    async def receive() -> Message:
        nonlocal sent_body, complete
        if not sent_body:
            sent_body = True
            return {"type": "http.request", "body": content, "more_body": False}
        if not finished:  # a second receive waits for the response to end, then reports the disconnect
            complete = complete or asyncio.get_running_loop().create_future()
            await complete
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal status, headers, finished
        if message["type"] == "http.response.start":
            if status is not None:
                raise RuntimeError("the app started its response twice")
            status, headers = message["status"], list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            if finished:
                raise RuntimeError("the app sent a body after its response ended")
            body = message.get("body", b"")
            if body and not head:
                parts.append(body)
            if not message.get("more_body", False):
                finished = True
                if complete is not None and not complete.done():
                    complete.set_result(None)

    await app(scope, receive, send)
    if status is None or not finished:
        raise RuntimeError("the app returned without a complete response")
    return status, headers, b"".join(parts)


class SyncASGITransport(httpx.BaseTransport):
    """Lets a plain ``httpx.Client`` (or respx) call an ASGI app in-process, from sync or async code."""

    def __init__(self, app: Any):
        self.app = app
        self._portal: BackgroundLoop | None = None
        self._portal_lock = threading.Lock()
        self._closed = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Run the request through the app (on this thread's loop when it has none running) and buffer it."""
        if self._closed:
            raise RuntimeError("this in-process transport was shut down (its handle was closed)")
        content = request.read()
        running = _running_loop()
        if running is None:
            status, headers, body = run_here(call_app(self.app, request, content))
        else:
            portal = self._background()
            if portal.running and running is portal.loop:  # the app itself called back in: would wait on itself
                raise RuntimeError("an in-process app called its own sync client from inside a request; "
                                   "use the async client (CivitaiMock.async_client) there")
            status, headers, body = portal.run(call_app(self.app, request, content))
        return httpx.Response(status, headers=headers, content=body, request=request)

    def _background(self) -> BackgroundLoop:
        """The portal: a private loop thread for calls made from inside a running event loop."""
        with self._portal_lock:
            if self._closed:
                raise RuntimeError("this in-process transport was shut down (its handle was closed)")
            if self._portal is None:
                self._portal = BackgroundLoop("civitai-mock-portal")
            return self._portal

    @property
    def uses_portal(self) -> bool:
        """True once a call needed the portal (the sync client was used from a running event loop)."""
        return self._portal is not None and self._portal.running

    def close(self) -> None:
        """Nothing: clients sharing this transport may close freely; ``shutdown`` ends it."""

    def shutdown(self) -> None:
        """Stop the portal thread if one was started; later requests raise (when the handle closes)."""
        with self._portal_lock:
            self._closed = True
            portal, self._portal = self._portal, None
        if portal is not None:
            portal.close()
