"""What the in-process benchmarks share: the workflow they submit, one whole lifecycle, and timing."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from civitai_mock.contracts.paths import WORKFLOWS

#: A kling-v3 job that processes for 5 minutes of clock time.
BODY = {"steps": [{"$type": "videoGen", "input": {"engine": "kling-v3", "prompt": "[mock:runtime=300] a fox"}}]}


def lifecycle_once(mock: Any) -> None:
    """Submit, advance past the end, read the succeeded workflow, fetch its MP4."""
    workflow = mock.client.post(WORKFLOWS, params={"wait": 0}, json=BODY).json()
    mock.advance(400)
    done = mock.client.get(f"{WORKFLOWS}/{workflow['id']}").json()
    assert done["status"] == "succeeded"
    assert mock.client.get(done["steps"][0]["output"]["video"]["url"]).status_code == 200


def samples(action: Callable[[], Any], repeat: int, warmup: int = 20) -> list[float]:
    """Seconds per run of ``action``, ``repeat`` runs after ``warmup`` unmeasured ones."""
    for _ in range(warmup):
        action()
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        out.append(time.perf_counter() - started)
    return out


def per_call(action: Callable[[], Any], repeat: int) -> float:
    """Median seconds of ``action`` over ``repeat`` runs (no warm-up: some actions are slow or one-off)."""
    return statistics.median(samples(action, repeat, warmup=0))


def paired_ms(ours: Callable[[], Any], baseline: Callable[[], Any], repeat: int,
              rounds: int = 10) -> tuple[float, float]:
    """Median milliseconds of ``ours`` and ``baseline``, measured in alternating rounds (same load for both)."""
    mine: list[float] = []
    theirs: list[float] = []
    for _ in range(rounds):
        mine += samples(ours, max(1, repeat // rounds), warmup=5)
        theirs += samples(baseline, max(1, repeat // rounds), warmup=5)
    return statistics.median(mine) * 1000, statistics.median(theirs) * 1000


def p90(values: list[float]) -> float:
    """The 90th percentile of ``values``."""
    return statistics.quantiles(values, n=10)[-1]
