"""Timestamps read as the service writes them, exactly as ``datetime`` formats them (milliseconds cut)."""

from __future__ import annotations

from datetime import datetime, timezone

from hypothesis import given
from hypothesis import strategies as st

from civitai_mock.mock_server.engine.timestamps import iso_text, stamp

#: Fractions where rounding to microseconds, then cutting to milliseconds, is easy to get wrong.
EDGES = (0.0, 0.0005, 0.0009995, 0.9995, 0.999999, 0.9999995, 0.99999949, 0.0000005, 0.5, 0.1234565)


def by_datetime(moment: float) -> str:
    return datetime.fromtimestamp(moment, timezone.utc).isoformat(timespec="milliseconds")[:-6] + "Z"


@given(st.floats(min_value=0, max_value=253402300798, allow_nan=False))
def test_any_moment_reads_as_datetime_writes_it(moment: float) -> None:
    assert iso_text(moment) == by_datetime(moment)
    assert stamp(moment) == "".join(c for c in by_datetime(moment) if c.isdigit())


@given(st.integers(min_value=0, max_value=4_000_000_000), st.sampled_from(EDGES))
def test_rounding_edges_read_as_datetime_writes_them(whole: int, fraction: float) -> None:
    moment = whole + fraction
    assert iso_text(moment) == by_datetime(moment)


def test_a_workflow_id_starts_with_its_creation_time_as_digits() -> None:
    assert iso_text(1786487835.6599) == "2026-08-11T22:37:15.659Z"
    assert stamp(1786487835.6599) == "20260811223715659"
