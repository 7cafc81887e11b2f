"""Every request the fake answered, per tenant: what the client linter judges.

Bodies are kept compactly, as the raw bytes (up to ``LOGGED_BODY_LIMIT``), and parsed only when read;
the log is bounded by entries and by bytes, oldest dropped first, so hostile traffic cannot grow it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, fields
from typing import Any

from civitai_mock.contracts import jsontext
from civitai_mock.mock_server.engine.state import StateLock

#: Requests kept (oldest dropped first), and the bytes of bodies kept in all.
MAX_ENTRIES = 100_000
MAX_BODY_BYTES_KEPT = 32_000_000
#: Request bodies larger than this are logged as their size only.
LOGGED_BODY_LIMIT = 64_000
#: What an entry's ``seen`` holds, in order: the workflow's id and status as answered, and (when some
#: step waited on another) which steps each step waits on.
SEEN_FIELDS = ("id", "status", "dependsOn")


def masked(token: str | None) -> str | None:
    """A token as logs show it: enough to tell tenants apart, never the secret itself."""
    if not token:
        return token
    if len(token) <= 8:
        return token[:1] + "…"
    return f"{token[:4]}…{token[-4:]}"


@dataclass(slots=True)
class RequestEntry:
    """One answered request (``body`` is parsed from the kept bytes when read)."""

    seq: int
    at: float
    wall: float
    tenant: str | None
    method: str
    path: str
    query: dict[str, str]
    status: int
    raw: bytes = b""
    size: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    #: what the client was shown, in ``SEEN_FIELDS`` order (a tuple: one is kept per request)
    seen: tuple[Any, ...] | None = None

    @property
    def body(self) -> Any:
        """The JSON body (``{"$size": n}`` when too large to keep, ``{"$raw": …}`` when not JSON)."""
        if self.size > LOGGED_BODY_LIMIT:
            return {"$size": self.size}
        if not self.raw:
            return None
        try:
            return jsontext.loads(self.raw)
        except jsontext.JsonTextError:
            return {"$raw": self.raw[:200].decode("utf-8", "replace")}

    def to_json(self, mask: bool = False) -> dict[str, Any]:
        """Plain dict, with the body parsed (and the tenant's token masked when ``mask``)."""
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("raw", "size")}
        data["headers"] = dict(self.headers)  # entries may share one dict of headers (``kept_headers``)
        data["seen"] = None if self.seen is None else dict(zip(SEEN_FIELDS, self.seen))
        data["body"] = self.body
        if mask:
            data["tenant"] = masked(self.tenant)
        return data


class RequestLog:
    """An append-only log of requests, bounded by count and by the bytes of kept bodies."""

    def __init__(self, state: StateLock, limit: int = MAX_ENTRIES, max_bytes: int = MAX_BODY_BYTES_KEPT):
        self._state = state
        self._entries: deque[RequestEntry] = deque()
        self._limit, self._max_bytes = limit, max_bytes
        self._bytes = 0
        self._seq = 0

    def add(self, at: float, wall: float, tenant: str | None, method: str, path: str, query: dict[str, str],
            status: int, raw: bytes = b"", size: int = 0, headers: dict[str, str] | None = None,
            seen: dict[str, Any] | None = None) -> RequestEntry:
        """Record a request (``raw``: its body bytes, kept when at most ``LOGGED_BODY_LIMIT``)."""
        kept = raw if size <= LOGGED_BODY_LIMIT else b""
        entries = self._entries
        with self._state.changing():
            self._seq += 1
            entry = RequestEntry(self._seq, at, wall, tenant, method, path, query, status, kept, size,
                                 {} if headers is None else headers, seen)
            entries.append(entry)
            if kept:
                self._bytes += len(kept)
            while len(entries) > self._limit or self._bytes > self._max_bytes:
                self._bytes -= len(entries.popleft().raw)
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
            kept = [] if tenant is None else [e for e in self._entries if e.tenant != tenant]
            self._entries.clear()
            self._entries.extend(kept)
            self._bytes = sum(len(e.raw) for e in kept)
