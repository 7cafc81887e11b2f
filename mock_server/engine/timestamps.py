"""Timestamps as the service writes them: ISO 8601 UTC with milliseconds, and the digits workflow ids start with."""

from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache

#: ``2026-08-10T22:37:15.659Z`` -> ``20260810223715659``
_STAMP_DIGITS = str.maketrans("", "", "-:T.Z")


def iso(moment: float | None) -> str | None:
    """Epoch seconds as an ISO 8601 UTC timestamp with milliseconds (``2026-01-01T00:00:00.000Z``)."""
    return None if moment is None else iso_text(moment)


@lru_cache(maxsize=2048)
def iso_text(moment: float) -> str:
    """``iso`` of a moment that is never None (cached: a workflow's times are read again and again)."""
    # isoformat truncates to milliseconds as the service does; "+00:00" becomes "Z"
    return datetime.fromtimestamp(moment, timezone.utc).isoformat(timespec="milliseconds")[:-6] + "Z"


def stamp(moment: float) -> str:
    """The creation time a workflow id starts with: ``iso`` as digits only (``20260810223715659``)."""
    return iso_text(moment).translate(_STAMP_DIGITS)
