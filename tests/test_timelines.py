"""Property-based timelines: the reference client reports what every allowed timeline says it must,
and deliberately buggy clients are caught, with Hypothesis shrinking to the smallest timeline."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from civitai_mock.contracts.timelines import Timeline, timelines
from hypothesis import HealthCheck, Phase, find, given, settings

from civitai_mock import civitai_fake, play
from examples.reference_client import KlingClient, Result

BODY = {"engine": "kling-v3", "operation": "text-to-video", "prompt": "a lighthouse in a storm", "duration": 5}


def run(mock: Any, client_class: type[KlingClient], timeline: Timeline) -> Result | None:
    """Play a timeline and let a client generate one video; None when the client blew up."""
    play(mock, timeline)
    try:
        return client_class(mock.client, sleep=mock.advance, seed=timeline.seed).generate(BODY)
    except Exception:
        return None


def reported(result: Result | None) -> tuple[str, str | None, bool] | None:
    """The outcome a client reported, in the shape of ``Timeline.expected``."""
    return None if result is None else (result.status, result.reason, result.video is not None)


@pytest.fixture(scope="module")
def mock() -> Any:
    with civitai_fake() as handle:
        yield handle


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(timeline=timelines())
def test_reference_client_reports_every_timeline_correctly(mock: Any, timeline: Timeline) -> None:
    result = run(mock, KlingClient, timeline)
    assert reported(result) == timeline.expected
    assert mock.lint() == []


class CachesBlobUrls(KlingClient):
    """Bug: downloads the first URL it saw again and again instead of refreshing it."""

    def download(self, workflow: dict[str, Any]) -> bytes | None:
        url = workflow["steps"][0].get("output", {}).get("video", {}).get("url")
        for _ in range(3):
            response = self.http.get(url)
            if response.status_code == 200:
                return response.content
        return None


class IgnoresRetryAfter(KlingClient):
    """Bug: retries throttled requests immediately."""

    def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        for _ in range(5):
            response = self.http.request(method, url, **kwargs)
            if response.status_code not in (429, 503):
                return response
        return response


class PollsTooFast(KlingClient):
    """Bug: polls every 2 s (the generic guide's cadence) although Kling jobs take minutes."""

    def wait(self, workflow_id: str, timeout: float = 6 * 3600) -> dict[str, Any]:
        while True:
            self.sleep(2)
            workflow = self._request("GET", f"/v2/consumer/workflows/{workflow_id}").json()
            if workflow["status"] in ("succeeded", "failed", "expired", "canceled"):
                return workflow


def failing_timeline(mock: Any, client_class: type[KlingClient], rule: str | None = None) -> Timeline:
    """The smallest timeline on which ``client_class`` reports a wrong outcome (or breaks ``rule``)."""

    def broken(timeline: Timeline) -> bool:
        result = run(mock, client_class, timeline)
        if rule is not None:
            return any(v.rule == rule for v in mock.lint())
        return reported(result) != timeline.expected

    return find(timelines(), broken, settings=settings(
        max_examples=300, deadline=None, database=None, derandomize=True,
        phases=[Phase.generate, Phase.shrink], suppress_health_check=list(HealthCheck)))


def test_caching_blob_urls_is_caught_and_shrinks_to_one_expired_url(mock: Any) -> None:
    timeline = failing_timeline(mock, CachesBlobUrls)
    assert timeline.expired_urls == 1
    assert timeline.ending == "succeeded"
    assert timeline.submit_throttles == () and timeline.poll_errors == 0
    assert "refresh-expired-url" in {v.rule for v in mock.lint()}


def test_ignoring_retry_after_is_caught_and_shrinks_to_one_throttle(mock: Any) -> None:
    timeline = failing_timeline(mock, IgnoresRetryAfter, rule="backoff-on-429-5xx")
    run(mock, IgnoresRetryAfter, timeline)
    assert len(timeline.submit_throttles) + timeline.poll_errors == 1
    assert timeline.expired_urls == 0 and timeline.ending == "succeeded"


def test_polling_too_fast_is_caught_on_the_simplest_timeline(mock: Any) -> None:
    timeline = failing_timeline(mock, PollsTooFast, rule="poll-cadence")
    assert timeline == Timeline(seed=timeline.seed)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(timeline=timelines())
def test_webhook_consumer_sees_each_terminal_event_once_despite_duplicates(mock: Any, timeline: Timeline) -> None:
    play(mock, timeline)
    client = KlingClient(mock.client, sleep=mock.advance, seed=timeline.seed)
    handled: list[tuple[str, str]] = []

    async def handler(scope: Any, receive: Any, send: Any) -> None:
        import json

        event = json.loads((await receive())["body"])
        if client.on_webhook(event):
            handled.append((event["$type"], event["status"]))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    mock.webhooks.route("https://hooks.test/", handler)
    callbacks = [{"url": "https://hooks.test/h", "type": ["workflow:*"]}]
    result = client.generate(BODY, callbacks=callbacks)
    assert reported(result) == timeline.expected
    payloads = [repr(sorted(a["event"].items())) for a in mock.webhooks.deliveries()]
    assert (len(payloads) > len(set(payloads))) == (timeline.duplicate_webhooks > 0)  # duplicates really arrived
    terminal = [status for scope, status in handled if status == timeline.expected[0]]
    assert terminal == [timeline.expected[0]]  # the final event is handled exactly once


def test_timelines_round_trip_through_json_for_replay() -> None:
    original = Timeline(ending="failed:blocked", runtime=42, submit_throttles=(429, 503), retry_after=7,
                        poll_errors=2, expired_urls=1, duplicate_webhooks=2, seed=9)
    assert Timeline.from_json(original.to_json()) == original
    assert eval(repr(original), {"Timeline": Timeline}) == original  # Hypothesis prints replayable examples


def test_expected_outcome_of_each_ending() -> None:
    assert Timeline(ending="succeeded").expected == ("succeeded", None, True)
    assert Timeline(ending="failed:no_provider_available").expected == ("failed", "no_provider_available", False)
    assert Timeline(ending="expired").expected == ("expired", "timeout", False)
    assert Timeline(ending="canceled").expected == ("canceled", "canceled", False)
