"""Counted one-shot behaviours ("the next N …"), for one tenant or for anyone."""

from __future__ import annotations


class Countdowns:
    """How many more times something happens, per tenant; the key ``None`` counts for anyone."""

    def __init__(self) -> None:
        self._left: dict[str | None, int] = {}

    def set(self, count: int, tenant: str | None = None) -> None:
        """The next ``count`` times for ``tenant`` (``None``: whoever comes first)."""
        self._left[tenant] = max(0, count)

    def take(self, tenant: str) -> bool:
        """True (and one fewer left) when one is left for ``tenant``, its own count first."""
        for key in (tenant, None):
            if self._left.get(key, 0) > 0:
                self._left[key] -= 1
                return True
        return False

    def clear(self) -> None:
        """Nothing left for anyone."""
        self._left.clear()
