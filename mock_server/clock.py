"""Injected time: a VirtualClock that tests advance, and a SystemClock with a speed factor."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from typing import Callable, Protocol

#: Where a VirtualClock starts unless told otherwise (fixed, so runs repeat).
VIRTUAL_EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp()


class Clock(Protocol):
    """Anything that tells the time in epoch seconds."""

    def now(self) -> float:
        """Current time, epoch seconds."""
        ...


class SystemClock:
    """Real time, optionally accelerated: ``speed=60`` makes a minute pass every second."""

    def __init__(self, speed: float = 1.0, start: float | None = None):
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._real0 = time.time()
        self._virtual0 = max(start, self._real0) if start is not None else self._real0

    def resume_from(self, moment: float | None) -> None:
        """Never show a time before ``moment`` (the high-water mark of a previous run)."""
        if moment is not None and moment > self.now():
            self._virtual0 += moment - self.now()

    def now(self) -> float:
        """Current (accelerated) time, epoch seconds."""
        return self._virtual0 + (time.time() - self._real0) * self.speed

    def real_seconds(self, virtual_seconds: float) -> float:
        """How long ``virtual_seconds`` of clock time take on the wall."""
        return virtual_seconds / self.speed


class VirtualClock:
    """Time that moves only when told; ``advance`` runs every due transition in order first.

    Listeners (the engine) tell the clock when their next due moment is and are called at each
    such moment, in time order, before ``advance`` returns.
    """

    def __init__(self, start: float = VIRTUAL_EPOCH):
        self.start = start
        self._now = start
        self._lock = threading.RLock()
        self._next_due: list[Callable[[], float | None]] = []
        self._on_tick: list[Callable[[float], None]] = []

    def now(self) -> float:
        """Current virtual time, epoch seconds."""
        return self._now

    def reset(self) -> None:
        """Go back to the start time (listeners stay subscribed)."""
        with self._lock:
            self._now = self.start

    def subscribe(self, next_due: Callable[[], float | None], on_tick: Callable[[float], None]) -> None:
        """Register a listener: ``next_due()`` names its next moment, ``on_tick(now)`` handles it."""
        self._next_due.append(next_due)
        self._on_tick.append(on_tick)

    def advance(self, seconds: float) -> float:
        """Move time forward by ``seconds``, stopping at every due moment on the way; return now."""
        if seconds < 0:
            raise ValueError("a clock cannot go back")
        return self.advance_to(self._now + seconds)

    def advance_to(self, target: float, stop: Callable[[], bool] | None = None) -> float:
        """Move time to ``target`` (or until ``stop()`` is true after a tick); return now."""
        with self._lock:
            while True:
                due = [d for d in (f() for f in self._next_due) if d is not None and d <= target]
                if not due:
                    break
                self._now = max(self._now, min(due))
                for tick in self._on_tick:
                    tick(self._now)
                if stop is not None and stop():
                    return self._now
            self._now = max(self._now, target)
            for tick in self._on_tick:
                tick(self._now)
            return self._now
