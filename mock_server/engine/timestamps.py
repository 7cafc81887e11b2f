"""Timestamps as the service writes them: ISO 8601 UTC with milliseconds, and the digits workflow ids start with."""

from __future__ import annotations

import math
import time
from datetime import datetime, timezone
from functools import lru_cache

_MICROS = 1_000_000
#: The moments whose year has four digits from 1970 on: others are left to ``datetime`` (and its errors).
_FOUR_DIGIT_YEARS = (0.0, 253402300799.0)
#: ".000Z" to ".999Z": the end of a timestamp, by its milliseconds (looked up, not formatted)
_MILLIS_TEXT = tuple(f".{millis:03d}Z" for millis in range(1000))


def iso(moment: float | None) -> str | None:
    """Epoch seconds as an ISO 8601 UTC timestamp with milliseconds (``2026-01-01T00:00:00.000Z``)."""
    return None if moment is None else iso_text(moment)


@lru_cache(maxsize=2048)
def iso_text(moment: float) -> str:
    """``iso`` of a moment that is never None (cached: a workflow's times are read again and again).

    The same text as ``datetime.fromtimestamp(moment, timezone.utc).isoformat(timespec="milliseconds")``
    with "Z": microseconds rounded half to even as ``fromtimestamp`` rounds them, then cut to
    milliseconds; the date and time of the whole second come from a cache of their own.
    """
    if not _FOUR_DIGIT_YEARS[0] <= moment < _FOUR_DIGIT_YEARS[1]:
        return _by_datetime(moment)
    fraction, whole = math.modf(moment)
    micros = round(fraction * _MICROS)
    if micros >= _MICROS:
        micros -= _MICROS
        whole += 1
    return _second(int(whole)) + _MILLIS_TEXT[micros // 1000]


@lru_cache(maxsize=1024)
def _second(whole: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))


def _by_datetime(moment: float) -> str:
    # isoformat truncates to milliseconds as the service does; "+00:00" becomes "Z"
    return datetime.fromtimestamp(moment, timezone.utc).isoformat(timespec="milliseconds")[:-6] + "Z"


def stamp(moment: float) -> str:
    """The creation time a workflow id starts with: ``iso`` as digits only (``20260810223715659``)."""
    return iso_text(moment).replace("-", "").replace(":", "").replace("T", "").replace(".", "")[:-1]  # no "Z"
