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

#: Which fake each thread's sleeps advance, while at least one block is open (innermost last).
_jumping: dict[int, list[CivitaiMock]] = {}
#: The functions to restore once the last block on any thread closes.
_originals: tuple[Any, Any] | None = None
_lock = threading.Lock()
#: What a sleep captured inside a block (``from time import sleep``) falls back to once every block closed.
_AT_IMPORT = (time.sleep, asyncio.sleep)


def _mock_of_this_thread() -> CivitaiMock | None:
    mocks = _jumping.get(threading.get_ident())
    return mocks[-1] if mocks else None


def _sleep(seconds: float) -> None:
    mock = _mock_of_this_thread()
    if mock is None or seconds <= 0:
        return (_originals or _AT_IMPORT)[0](seconds)
    mock.advance(seconds)
    return None


async def _async_sleep(delay: float, result: Any = None) -> Any:
    mock = _mock_of_this_thread()
    if mock is not None and delay > 0:
        mock.advance(delay)
        delay = 0
    return await (_originals or _AT_IMPORT)[1](delay, result)


@contextlib.contextmanager
def autojump(mock: CivitaiMock) -> Iterator[None]:
    """Patch ``time.sleep`` / ``asyncio.sleep`` so this thread's sleeps advance ``mock``'s virtual clock."""
    global _originals
    if not isinstance(mock.clock, VirtualClock):
        raise RuntimeError("autojump needs the fake's virtual clock (a fake built with speed=… runs on real time)")
    owner = threading.get_ident()
    with _lock:  # blocks on several threads may open and close in any order: patch once, restore once
        if not _jumping:
            _originals = (time.sleep, asyncio.sleep)
            time.sleep, asyncio.sleep = _sleep, _async_sleep  # type: ignore[assignment]
        _jumping.setdefault(owner, []).append(mock)
    try:
        yield
    finally:
        with _lock:
            _jumping[owner].pop()
            if not _jumping[owner]:
                del _jumping[owner]
            if not _jumping and _originals is not None:
                time.sleep, asyncio.sleep = _originals  # type: ignore[assignment]
                _originals = None
