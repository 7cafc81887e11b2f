"""Held reads: ``wait=N`` on submit and get, until the workflow finishes (or changes, ``until=change``)."""

from __future__ import annotations

import asyncio
import time

import anyio

from contracts.workflow import MAX_WAIT_SECONDS, TERMINAL_STATUSES
from mock_server.clock import VirtualClock
from mock_server.engine.records import WorkflowRecord
from mock_server.fake import Fake

#: How often a held read under a system clock looks at the workflow again (real seconds).
POLL_SECONDS = 0.02


async def hold(fake: Fake, record: WorkflowRecord, seconds: float, until: str = "completion") -> None:
    """Wait up to ``seconds`` (capped at the 100 s request timeout) for the workflow to end (or change).

    A virtual clock is advanced by up to ``seconds`` (fast, deterministic); a system clock really
    waits, scaled by its speed.
    """
    seconds = min(max(seconds, 0.0), float(MAX_WAIT_SECONDS))
    engine = fake.engine
    if seconds <= 0:
        return
    first = engine.fingerprint(record)

    def done() -> bool:
        now = engine.fingerprint(record)
        return now[0] in TERMINAL_STATUSES or (until == "change" and now != first)

    if seconds > 0 and not done():
        clock = fake.clock
        if isinstance(clock, VirtualClock):
            target = clock.now() + seconds
            await anyio.to_thread.run_sync(lambda: clock.advance_to(target, stop=done))
        else:
            deadline = time.monotonic() + clock.real_seconds(seconds)
            while not done() and time.monotonic() < deadline:
                await asyncio.sleep(POLL_SECONDS)
