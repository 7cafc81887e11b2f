"""Held reads: ``wait=N`` on submit and get, until the workflow finishes (or changes, ``until=change``)."""

from __future__ import annotations

import asyncio
import time

import anyio

from civitai_mock.contracts.workflow import MAX_WAIT_SECONDS, TERMINAL_STATUSES
from civitai_mock.mock_server.clock import VirtualClock
from civitai_mock.mock_server.server.fake import Fake

#: How often a held read under a system clock looks at the workflow again (real seconds).
POLL_SECONDS = 0.02


async def hold(fake: Fake, tenant: str, workflow_id: str, seconds: float, until: str = "completion") -> None:
    """Wait up to ``seconds`` (capped at the 100 s request timeout) for the workflow to end (or change).

    A virtual clock is advanced by up to ``seconds`` (fast, deterministic); a system clock really
    waits, scaled by its speed.
    """
    seconds = min(max(seconds, 0.0), float(MAX_WAIT_SECONDS))
    if seconds <= 0:
        return
    engine = fake.engine
    first = engine.fingerprint(tenant, workflow_id)

    def done() -> bool:
        now = engine.fingerprint(tenant, workflow_id)
        return not now or now[0] in TERMINAL_STATUSES or (until == "change" and now != first)

    if done():
        return
    clock = fake.clock
    if isinstance(clock, VirtualClock):
        target = clock.now() + seconds
        moments = [m for m in engine.moments(tenant, workflow_id) if m < target]

        def advance() -> None:  # through this workflow's moments (others' due events apply on the way)
            for moment in moments:
                clock.advance_to(moment, stop=done)
                if done():
                    return
            clock.advance_to(target, stop=done)

        await anyio.to_thread.run_sync(advance)
    else:
        deadline = time.monotonic() + clock.wall_seconds(seconds)
        while not done() and time.monotonic() < deadline:
            await asyncio.sleep(POLL_SECONDS)
