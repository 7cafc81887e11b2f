"""The one lock over a fake's mutable state, and the rule that storage is written after it is released."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Callable, Iterator


class StateLock:
    """Every change to workflows, balances, queues, routes and logs happens inside ``changing()``.

    The lock is re-entrant, so a component method may call another. Storage writes queued while it
    was held are flushed by ``flush`` once the outermost ``changing()`` of this thread ends: no
    reader ever waits on disk I/O, and a caller returns only after its own changes are durable.
    """

    def __init__(self, flush: Callable[[], None] | None = None):
        self._lock = threading.RLock()
        self._depth = threading.local()
        self._flush = flush

    @contextmanager
    def changing(self) -> Iterator[None]:
        """Hold the lock for a change; write queued storage after the outermost block."""
        depth = getattr(self._depth, "value", 0)
        self._depth.value = depth + 1
        try:
            with self._lock:
                yield
        finally:
            self._depth.value = depth
            if depth == 0 and self._flush is not None:
                self._flush()

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Hold the lock for a consistent read (nothing is flushed)."""
        with self._lock:
            yield
