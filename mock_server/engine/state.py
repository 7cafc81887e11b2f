"""The one lock over a fake's mutable state, and the rule that storage is written after it is released."""

from __future__ import annotations

import threading
from typing import Any, Callable


class _Changing:
    """The ``with state.changing():`` block: re-entrant lock, ``flush`` after the outermost exit."""

    __slots__ = ("_owner", "_flush")

    def __init__(self, owner: "StateLock", flush: Callable[[], None]):
        self._owner = owner
        self._flush = flush

    def __enter__(self) -> None:
        owner = self._owner
        owner._lock.acquire()
        owner._depth += 1  # only the thread holding the lock touches the depth

    def __exit__(self, *exc: Any) -> None:
        owner = self._owner
        depth = owner._depth = owner._depth - 1
        owner._lock.release()
        if depth == 0:
            self._flush()


class StateLock:
    """Every change to workflows, balances, queues, routes and logs happens inside ``changing()``.

    The lock is re-entrant, so a component method may call another. Storage writes queued while it
    was held are flushed by ``flush`` once the outermost ``changing()`` of this thread ends: no
    reader ever waits on disk I/O, and a caller returns only after its own changes are durable.
    A virtual clock's lock (``VirtualClock.held``), when both are needed, is taken before this one.
    """

    def __init__(self, flush: Callable[[], None] | None = None):
        self._lock = threading.RLock()
        #: how deeply the thread holding the lock is nested in ``changing()`` (0 when no thread is)
        self._depth = 0
        #: with nothing to flush (an in-memory store), a change needs the lock only: no depth to count
        self._changing: _Changing | threading.RLock = _Changing(self, flush) if flush is not None else self._lock

    def changing(self) -> _Changing | threading.RLock:
        """Hold the lock for a change; write queued storage after the outermost block."""
        return self._changing

    def reading(self) -> threading.RLock:
        """Hold the lock for a consistent read (nothing is flushed)."""
        return self._lock
