"""Deterministic ids: the same seed and the same calls give the same ids."""

from __future__ import annotations

import random
from typing import Any, NamedTuple

from civitai_mock.mock_server.engine.timestamps import stamp

#: RFC 4122 version 4: the version nibble is 4 and the variant bits are 10.
_UUID_KEEP = ~((0xF000 << 64) | (0xC000 << 48)) & ((1 << 128) - 1)
_UUID_V4 = (4 << 76) | (0x8000 << 48)


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
        digits = stamp(now)  # the same text as the workflow's createdAt, so that is formatted once
        while True:
            candidate = f"{digits}-{self._rng.getrandbits(24).to_bytes(3, 'big').hex()}"
            if candidate not in self._seen:
                self._seen[candidate] = None
                return candidate

    def uuid(self) -> str:
        """A random-looking UUID (jobs, transactions)."""
        bits = self._rng.getrandbits(128) & _UUID_KEEP | _UUID_V4  # what uuid.UUID(int=…, version=4) makes
        text = bits.to_bytes(16, "big").hex()  # the 32 hex digits of f"{bits:032x}", made faster
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"

    def blob_id(self, extension: str = "mp4") -> str:
        """A blob id with its file extension."""
        return f"{self._rng.getrandbits(96).to_bytes(12, 'big').hex()}.{extension}"
