"""Every request the fake answered, per tenant: what the client linter judges."""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

from civitai_mock.mock_server.engine.state import StateLock

#: Requests kept (oldest dropped first).
MAX_ENTRIES = 100_000


@dataclass
class RequestEntry:
    """One answered request."""

    seq: int
    at: float
    wall: float
    tenant: str | None
    method: str
    path: str
    query: dict[str, str]
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    seen: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """Plain dict."""
        return asdict(self)


class RequestLog:
    """An append-only, bounded log of requests."""

    def __init__(self, state: StateLock, limit: int = MAX_ENTRIES):
        self._state = state
        self._entries: deque[RequestEntry] = deque(maxlen=limit)
        self._seq = 0

    def add(self, **fields: Any) -> RequestEntry:
        """Record a request."""
        with self._state.changing():
            self._seq += 1
            entry = RequestEntry(seq=self._seq, **fields)
            self._entries.append(entry)
            return entry

    def entries(self, tenant: str | None = None) -> list[RequestEntry]:
        """Entries in order, optionally one tenant's only."""
        with self._state.reading():
            return [e for e in self._entries if tenant is None or e.tenant == tenant]

    def tenants(self) -> list[str]:
        """Tenants that made logged requests, in first-seen order."""
        with self._state.reading():
            return list(dict.fromkeys(e.tenant for e in self._entries if e.tenant))

    def clear(self, tenant: str | None = None) -> None:
        """Forget every entry (or one tenant's)."""
        with self._state.changing():
            if tenant is None:
                self._entries.clear()
            else:
                kept = [e for e in self._entries if e.tenant != tenant]
                self._entries.clear()
                self._entries.extend(kept)
