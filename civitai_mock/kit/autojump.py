"""Autojump: code under test that sleeps advances the fake's virtual clock instead of blocking.

Like trio's autojump clock, for production code with hard-coded sleeps::

    with civitai_mock.respx(), civitai_mock.autojump():
        video = my_module.generate_video("a fox")   # its time.sleep(10) polls take no wall time

Inside the block, ``time.sleep(s)`` and ``asyncio.sleep(s)`` called *from the thread that entered
the block* (including coroutines of an event loop running on it, e.g. ``asyncio.run``) advance the
virtual clock by ``s`` — every due transition and webhook runs first — and return at once
(``asyncio.sleep`` still yields to the loop once). Limits, by design:

- Other threads sleep for real (the fake's own webhook sender, a uvicorn server, worker threads).
- Only the module attributes are patched: code that did ``from time import sleep`` (or
  ``from asyncio import sleep``, as anyio and trio do) before the block keeps the real function.
- ``time.time()`` / ``time.monotonic()`` and event-loop timers (``loop.call_later``,
  ``asyncio.wait_for`` / ``asyncio.timeout``) stay on the wall clock; a deadline computed from them
  never expires inside the block, and a busy loop that never sleeps never advances the clock.
- It needs the virtual clock (no ``speed=``); sleeps of 0 s or less just yield as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from civitai_mock.mock_server.clock import VirtualClock

if TYPE_CHECKING:
    from civitai_mock.kit.handle import CivitaiMock

_patch_lock = threading.Lock()


@contextlib.contextmanager
def autojump(mock: CivitaiMock) -> Iterator[None]:
    """Patch ``time.sleep`` / ``asyncio.sleep`` so this thread's sleeps advance ``mock``'s virtual clock."""
    if not isinstance(mock.clock, VirtualClock):
        raise RuntimeError("autojump needs the fake's virtual clock (a fake built with speed=… runs on real time)")
    owner = threading.get_ident()
    real_sleep, real_async_sleep = time.sleep, asyncio.sleep

    def sleep(seconds: float) -> None:
        if threading.get_ident() != owner or seconds <= 0:
            return real_sleep(seconds)
        mock.advance(seconds)
        return None

    async def async_sleep(delay: float, result: Any = None) -> Any:
        if threading.get_ident() != owner or delay <= 0:
            return await real_async_sleep(delay, result)
        mock.advance(delay)
        return await real_async_sleep(0, result)

    with _patch_lock:
        time.sleep, asyncio.sleep = sleep, async_sleep  # type: ignore[assignment]
    try:
        yield
    finally:
        with _patch_lock:
            time.sleep, asyncio.sleep = real_sleep, real_async_sleep  # type: ignore[assignment]
