"""Deterministic ids: the same seed and the same calls give the same ids."""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, NamedTuple


@lru_cache(maxsize=256)
def _second(moment: datetime) -> str:
    return moment.strftime("%Y%m%d%H%M%S")


class IdSnapshot(NamedTuple):
    """Where an ``IdFactory`` stood: its generator's state and how many workflow ids it had handed out."""

    rng_state: Any
    seen: int


class IdFactory:
    """Makes workflow, job, blob and transaction ids from one seeded generator."""

    def __init__(self, rng: random.Random):
        self._rng = rng
        self._seen: dict[str, None] = {}  # workflow ids handed out, in order (``restore`` drops the newest)

    def snapshot(self) -> IdSnapshot:
        """The factory's position now: ``restore`` undoes every draw made after it."""
        return IdSnapshot(self._rng.getstate(), len(self._seen))

    def restore(self, snapshot: IdSnapshot) -> None:
        """Go back to ``snapshot``: the same ids are drawn again, as if the draws since never happened."""
        self._rng.setstate(snapshot.rng_state)
        while len(self._seen) > snapshot.seen:
            self._seen.popitem()

    def workflow_id(self, now: float) -> str:
        """A workflow id: creation time to the millisecond, then random hex (like ``20260810223715659-1a2b3c``)."""
        moment = datetime.fromtimestamp(now, timezone.utc)
        stamp = f"{_second(moment.replace(microsecond=0))}{moment.microsecond // 1000:03d}"
        while True:
            candidate = f"{stamp}-{self._rng.getrandbits(24):06x}"
            if candidate not in self._seen:
                self._seen[candidate] = None
                return candidate

    def uuid(self) -> str:
        """A random-looking UUID (jobs, transactions)."""
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def blob_id(self, extension: str = "mp4") -> str:
        """A blob id with its file extension."""
        return f"{self._rng.getrandbits(96):024x}.{extension}"
