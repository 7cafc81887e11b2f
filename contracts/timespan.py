"""Step ``timeout`` values: .NET time spans (``00:20:00``) as the service writes them, ISO 8601 too."""

from __future__ import annotations

import re
from functools import lru_cache

_DOTNET = re.compile(r"^(?:(?P<days>\d+)\.)?(?P<h>\d{1,2}):(?P<m>\d{1,2}):(?P<s>\d{1,2})(?:\.(?P<frac>\d{1,7}))?$")
_ISO = re.compile(
    r"^P(?!$)(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?=\d)(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)
#: Default step timeout when a submission names none, and the longest the fake accepts.
DEFAULT_STEP_TIMEOUT_SECONDS = 20 * 60
MAX_STEP_TIMEOUT_SECONDS = 7 * 86400


def parse_timespan(text: str) -> float:
    """Seconds in a .NET time span (``[d.]hh:mm:ss[.fffffff]``) or an ISO 8601 duration (``PT20M``)."""
    match = _DOTNET.match(text)
    if match and int(match["m"]) < 60 and int(match["s"]) < 60:
        seconds = int(match["days"] or 0) * 86400 + int(match["h"]) * 3600 + int(match["m"]) * 60 + int(match["s"])
        return seconds + (float(f"0.{match['frac']}") if match["frac"] else 0.0)
    match = _ISO.match(text)
    if match:
        parts = {k: float(v) for k, v in match.groupdict().items() if v is not None}
        return parts.get("days", 0) * 86400 + parts.get("h", 0) * 3600 + parts.get("m", 0) * 60 + parts.get("s", 0)
    raise ValueError(f"'{text}' is not a time span (use hh:mm:ss such as 00:20:00, or ISO 8601 such as PT20M)")


def parse_step_timeout(text: str) -> float:
    """Seconds of a step ``timeout``: a time span from 0 up to the longest a step may run (7 days)."""
    seconds = parse_timespan(text)
    if not 0 <= seconds <= MAX_STEP_TIMEOUT_SECONDS:
        raise ValueError(f"timeout must be at most {format_timespan(MAX_STEP_TIMEOUT_SECONDS)} (7 days)")
    return seconds


@lru_cache(maxsize=256)
def format_timespan(seconds: float) -> str:
    """The .NET spelling of a span, as real responses carry it (``00:20:00``); cached: every step of
    every workflow has one, and most have the default, so they share its text."""
    whole, ticks = divmod(round(seconds * 10**7), 10**7)  # round first, so .99999999 carries into the seconds
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    if ticks:
        text += f".{ticks:07d}"
    return f"{days}.{text}" if days else text
