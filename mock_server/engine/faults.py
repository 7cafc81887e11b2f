"""Injected HTTP faults (next N requests answer 429/5xx) and an optional per-tenant rate limit."""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any

from civitai_mock.contracts.traffic import THROTTLE_STATUSES
from civitai_mock.mock_server.engine.state import StateLock

FAULT_STATUSES = (429, 500, 502, 503, 504)
#: Which requests a fault applies to.
FAULT_TARGETS = ("submit", "get", "any")


class FaultError(ValueError):
    """A fault description that cannot be used."""


@dataclass
class Fault:
    """Answer ``status`` to the next ``count`` matching requests (``retry_after`` seconds on 429/503)."""

    status: int
    count: int = 1
    target: str = "submit"
    retry_after: int | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Fault":
        """Build from the control API's JSON (``{"status": 429, "count": 2, "target": "submit"}``)."""
        unknown = set(data) - {"status", "count", "target", "retryAfter"}
        if unknown:
            raise FaultError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        status, count = data.get("status"), data.get("count", 1)
        target, retry_after = data.get("target", "submit"), data.get("retryAfter")
        if status not in FAULT_STATUSES:
            raise FaultError(f"status must be one of {', '.join(map(str, FAULT_STATUSES))}")
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise FaultError("count must be a positive integer")
        if target not in FAULT_TARGETS:
            raise FaultError(f"target must be one of {', '.join(FAULT_TARGETS)}")
        if retry_after is not None and (not isinstance(retry_after, int) or isinstance(retry_after, bool)
                                        or retry_after < 0):
            raise FaultError("retryAfter must be a non-negative integer (seconds)")
        if retry_after is None and status in THROTTLE_STATUSES:
            retry_after = 1
        return cls(status, count, target, retry_after)


@dataclass
class RateLimit:
    """At most ``limit`` requests per ``window`` seconds of clock time."""

    limit: int
    window: float


class Faults:
    """Per-tenant fault queues and rate limits ("*" applies to every tenant), under the fake's one lock."""

    def __init__(self, state: StateLock):
        self._state = state
        self._forget()

    def clear(self) -> None:
        """Forget every fault and limit."""
        with self._state.changing():
            self._forget()

    def _forget(self) -> None:
        self._queues: dict[str, deque[Fault]] = defaultdict(deque)
        self._limits: dict[str, RateLimit] = {}
        self._hits: dict[str, deque[float]] = defaultdict(deque)

    def tenants(self) -> list[str]:
        """Tenants (not "*") with queued faults or a rate limit."""
        with self._state.reading():
            return [t for t in (*(t for t, q in self._queues.items() if q), *self._limits) if t != "*"]

    def add(self, tenant: str, fault: Fault) -> None:
        """Queue a fault for a tenant (or "*")."""
        with self._state.changing():
            self._queues[tenant].append(fault)

    def limit(self, tenant: str, rate: RateLimit | None) -> None:
        """Switch a tenant's rate limit on (or off with None)."""
        with self._state.changing():
            if rate is None:
                self._limits.pop(tenant, None)
            else:
                self._limits[tenant] = rate

    def idle(self) -> bool:
        """True when no fault is queued and no rate limit is on (nothing to check a request against)."""
        with self._state.reading():
            return not self._limits and not any(self._queues.values())

    def take(self, tenant: str, target: str, now: float) -> Fault | None:
        """The fault this request must answer with, if any (consumes one)."""
        with self._state.changing():
            return self._take(tenant, target, now)

    def _take(self, tenant: str, target: str, now: float) -> Fault | None:
        for key in (tenant, "*"):
            queue = self._queues.get(key)
            if queue and queue[0].target in (target, "any"):
                fault = queue[0]
                fault.count -= 1
                if fault.count <= 0:
                    queue.popleft()
                return fault
        rate = self._limits.get(tenant) or self._limits.get("*")
        if rate is None:
            return None
        hits = self._hits[tenant]
        while hits and hits[0] <= now - rate.window:
            hits.popleft()
        if len(hits) >= rate.limit:
            return Fault(429, retry_after=max(1, int(hits[0] + rate.window - now + 0.999)))
        hits.append(now)
        return None
