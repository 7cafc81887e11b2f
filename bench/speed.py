"""In-process speed, side by side in one run: a GET on the fake vs a respx canned route, a whole
lifecycle vs one moto ``s3.put_object``, and one Hypothesis timeline example (fresh fake each time)."""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Iterator
from typing import Any

import httpx
import respx

from bench.common import BODY, lifecycle_once, p90, paired_ms
from bench.report import Figure
from civitai_mock import civitai_fake, play
from civitai_mock.contracts.paths import WORKFLOWS
from civitai_mock.contracts.timelines import Timeline, timelines
from civitai_mock.kit.handle import DEFAULT_TOKEN, REAL_BASE_URL

SUBMIT = WORKFLOWS
CANNED = {"id": "canned", "status": "succeeded"}
VIDEO = {"engine": "kling-v3", "operation": "text-to-video", "prompt": "a lighthouse in a storm", "duration": 5}


@contextlib.contextmanager
def respx_client() -> Iterator[httpx.Client]:
    """A client like the fake's (same base URL and header) on respx's router as ``httpx.MockTransport``."""
    router = respx.MockRouter(assert_all_called=False)
    router.get(url__startswith=REAL_BASE_URL).respond(200, json=CANNED)
    with httpx.Client(transport=httpx.MockTransport(router.handler), base_url=REAL_BASE_URL,
                      headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"}) as http:
        yield http


def get_figures(repeat: int) -> list[Figure]:
    """In-process GETs on the fake (a 404, and a rendered workflow) vs the respx canned GET."""
    with civitai_fake(balances={"blue": 10**12}) as mock, respx_client() as http:
        def canned() -> None:
            http.get(f"{SUBMIT}/canned")

        missing, floor = paired_ms(lambda: mock.client.get(f"{SUBMIT}/nope"), canned, repeat)
        workflow_id = mock.client.post(SUBMIT, params={"wait": 0}, json=BODY).json()["id"]
        mock.advance(400)
        found, floor_again = paired_ms(lambda: mock.client.get(f"{SUBMIT}/{workflow_id}"), canned, repeat)
        mock.clear_log()

        def fresh() -> None:
            with civitai_fake() as one:
                one.client.get(f"{SUBMIT}/nope")

        def fresh_respx() -> None:
            with respx_client() as one:
                one.get(f"{SUBMIT}/canned")

        built, built_floor = paired_ms(fresh, fresh_respx, repeat // 4)
    return [
        Figure("in-process GET on the fake (404)", missing, "ms", floor, "respx canned GET (MockTransport)",
               "<= 2x", missing <= 2 * floor),
        Figure("in-process GET of a finished workflow", found, "ms", floor_again, "respx canned GET (MockTransport)",
               "(no target)"),
        Figure("fresh fake: build, one GET, close", built, "ms", built_floor, "fresh respx router+client, one GET",
               "(no target)"),
    ]


def lifecycle_figures(repeat: int) -> list[Figure]:
    """The whole lifecycle (submit, advance, GET, fetch the MP4) vs one moto ``s3.put_object``."""
    try:
        import boto3
        from moto import mock_aws
    except ImportError as exc:
        return [Figure.skip("full lifecycle: submit, advance, GET, MP4", "one moto s3.put_object",
                            f"moto not installed ({exc.name}): pip install -e '.[bench]'")]
    with mock_aws(), civitai_fake(balances={"blue": 10**12}) as mock:
        s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="bench", aws_secret_access_key="bench")
        s3.create_bucket(Bucket="bench")

        ours, moto = paired_ms(lambda: lifecycle_once(mock), lambda: s3.put_object(Bucket="bench", Key="k", Body=b"x" * 1024), repeat)
    return [Figure("full lifecycle: submit, advance, GET, MP4", ours, "ms", moto, "one moto s3.put_object",
                   "< 1x", ours < moto)]


def timeline_samples(examples: int) -> tuple[list[float], list[float], list[int]]:
    """Seconds per Hypothesis timeline example (fresh fake each time; one shared fake, play resets) and its calls."""
    from hypothesis import HealthCheck, Phase, given, settings

    from examples.reference_client import KlingClient

    fresh: list[float] = []
    shared: list[float] = []
    calls: list[int] = []

    def generate(mock: Any, timeline: Timeline) -> None:
        play(mock, timeline)
        result = KlingClient(mock.client, sleep=mock.advance, seed=timeline.seed).generate(VIDEO)
        assert (result.status, result.reason, result.video is not None) == timeline.expected

    with civitai_fake() as keep:
        @settings(max_examples=examples, derandomize=True, database=None, deadline=None, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(timeline=timelines())
        def example(timeline: Timeline) -> None:
            started = time.perf_counter()
            with civitai_fake() as mock:
                generate(mock, timeline)
                calls.append(len(mock.requests))
            fresh.append(time.perf_counter() - started)
            started = time.perf_counter()
            generate(keep, timeline)
            shared.append(time.perf_counter() - started)

        example()
    return fresh, shared, calls


def timeline_figures(examples: int) -> list[Figure]:
    """One Hypothesis timeline example (fresh fake + reference client + play): median and p90."""
    fresh, shared, calls = timeline_samples(examples)
    median, ninety = statistics.median(fresh) * 1000, p90(fresh) * 1000
    return [
        Figure(f"timeline example, fresh fake (median, {statistics.median(calls):g} calls)", median, "ms",
               statistics.median(shared) * 1000, "same example, one shared fake", "<= 3 ms", median <= 3),
        Figure("timeline example, fresh fake (p90)", ninety, "ms", p90(shared) * 1000,
               "same example, one shared fake (p90)", "(no target)"),
    ]


def run(quick: bool = False) -> list[Figure]:
    """Every in-process speed figure."""
    repeat = 300 if quick else 2000
    return [*get_figures(repeat), *lifecycle_figures(repeat // 4), *timeline_figures(100 if quick else 300)]
