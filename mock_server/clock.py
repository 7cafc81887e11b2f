"""Injected time: a VirtualClock that moves only when advanced, and the SystemClock (wall time)."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from typing import Callable, Protocol

#: Where a VirtualClock starts unless told otherwise (fixed, so runs repeat).
VIRTUAL_EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp()


class Clock(Protocol):
    """Anything that tells the time in epoch seconds, and how much shorter its durations run."""

    scale: float

    def now(self) -> float:
        """Current time, epoch seconds."""
        ...


class SystemClock:
    """The wall clock: timestamps agree with a client's own clock and never run ahead of it by themselves.

    ``speed`` does not accelerate the calendar, it shortens durations: the engine multiplies every
    duration it draws or is given (queue and run times, URL lifetimes, webhook backoffs, held
    reads) by ``scale = 1 / speed``, so at ``speed=10`` a 3-minute Kling job takes 18 s of wall time
    and its ``completedAt`` is 18 s after its ``createdAt``. ``advance`` jumps forward (never back).
    """

    def __init__(self, speed: float = 1.0):
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self.scale = 1.0 / speed
        self._offset = 0.0

    def now(self) -> float:
        """Wall time plus any jumps made with ``advance``, epoch seconds."""
        return time.time() + self._offset

    def advance(self, seconds: float) -> float:
        """Jump forward by ``seconds`` (a system clock never goes back); return the new time."""
        if seconds < 0:
            raise ValueError("a clock cannot go back")
        self._offset += seconds
        return self.now()

    def resume_from(self, moment: float | None) -> None:
        """Never show a time before ``moment`` (the high-water mark of a previous run)."""
        if moment is not None and moment > self.now():
            self._offset += moment - self.now()

    def wall_seconds(self, seconds: float) -> float:
        """How long ``seconds`` of (shortened) duration take on the wall."""
        return seconds * self.scale


class VirtualClock:
    """Time that moves only when told; ``advance`` runs every due transition in order first.

    Listeners (the engine) tell the clock when their next due moment is and are called at each
    such moment, in time order, before ``advance`` returns.
    """

    scale = 1.0

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

    def held(self) -> threading.RLock:
        """The lock ``advance`` holds while it calls listeners: take it before any lock a listener takes."""
        return self._lock

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
