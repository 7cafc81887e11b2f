"""Waiting on real time in tests: poll a condition under a deadline that fails the test when missed."""

from __future__ import annotations

import time
from typing import Callable


def wait_until(condition: Callable[[], object], timeout: float = 10.0, what: str = "the condition",
               every: float = 0.02) -> None:
    """Poll ``condition`` until it is truthy; raise AssertionError naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)
