"""Project-wide pytest configuration: Hypothesis profiles and the ``slow`` marker.

- ``HYPOTHESIS_PROFILE=ci`` (set by ``.ci/run``): derandomized, bounded, CI-safe deadlines.
- Tests marked ``slow`` (reliability soaks, big bursts) are deselected unless ``CIVITAI_MOCK_SLOW=1``
  (CI sets it) or ``-m slow`` is given, so ``make test`` stays under a minute on a laptop.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("ci", derandomize=True, max_examples=100, deadline=timedelta(seconds=5),
                          suppress_health_check=[HealthCheck.too_slow], print_blob=True)
settings.register_profile("dev", max_examples=100, deadline=timedelta(seconds=5),
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("fuzz", max_examples=10_000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect ``slow`` tests unless CI (``CIVITAI_MOCK_SLOW=1``) or the command line asks for them."""
    if os.environ.get("CIVITAI_MOCK_SLOW") == "1" or "slow" in (config.getoption("-m") or ""):
        return
    slow = [item for item in items if item.get_closest_marker("slow")]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if not item.get_closest_marker("slow")]
