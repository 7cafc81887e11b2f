"""Property-based timelines: buggy clients are caught with Hypothesis shrinking to the smallest timeline,
failures explain what the fake did, and timelines replay. (Correct clients: tests/test_corpus.py.)"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, find, given, settings

from civitai_mock import civitai_fake, play
from civitai_mock.contracts.timelines import Timeline, timelines
from civitai_mock.kit.play import TimelineFailure, check
from examples.reference_client import KlingClient, Result
from tests.clients.buggy import CachesBlobUrls, IgnoresRetryAfter, PollsEveryTwoSeconds

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
    timeline = failing_timeline(mock, PollsEveryTwoSeconds, rule="poll-cadence")
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


def test_a_wrong_outcome_is_explained_with_what_the_fake_did_the_docs_and_the_replay_line(mock: Any) -> None:
    timeline = Timeline(expired_urls=1, seed=3)
    result = run(mock, CachesBlobUrls, timeline)
    with pytest.raises(TimelineFailure) as failure:
        check(mock, timeline, result)
    text = str(failure.value)
    assert "expected: ('succeeded', None, True)" in text and "actual:   ('succeeded', None, False)" in text
    assert "the first 1 signed blob URL(s) handed out are already expired" in text
    assert "-> 403: the video URL had already expired when your client fetched it" in text
    assert "The docs say: a signed blob URL stops working after a while: read the workflow again" in text
    assert text.count("[refresh-expired-url]") == 1 and "more like it" in text  # the lint report, grouped
    replay = text.split("Replay: ")[1].splitlines()[0]
    assert replay == "play(mock, Timeline(ending='succeeded', runtime=10, submit_throttles=(), retry_after=1, " \
                     "poll_errors=0, expired_urls=1, duplicate_webhooks=0, seed=3))"


def test_a_client_that_gives_up_is_told_about_retries(mock: Any) -> None:
    class GivesUpAtOnce(KlingClient):
        def _request(self, method: str, url: str, **kwargs: Any) -> Any:
            return self.http.request(method, url, **kwargs).raise_for_status()

    timeline = Timeline(submit_throttles=(429,), retry_after=4)
    play(mock, timeline)
    with pytest.raises(Exception) as raised:
        GivesUpAtOnce(mock.client, sleep=mock.advance).generate(BODY)
    with pytest.raises(TimelineFailure, match=r"(?s)raised HTTPStatusError.*429 \(Retry-After: 4 s\).*"
                                              r"The docs say: back off exponentially before retrying a 429 / 5xx"):
        check(mock, timeline, raised.value)


def test_play_as_a_context_manager_narrates_any_exception_escaping_it(mock: Any) -> None:
    timeline = Timeline(ending="failed:blocked")
    with pytest.raises(KeyError) as raised, play(mock, timeline):
        KlingClient(mock.client, sleep=mock.advance).generate(BODY)
        raise KeyError("video")
    note = "\n".join(raised.value.__notes__)
    assert "the job is set to fail with reason 'blocked'" in note and "your client saw the workflow failed" in note
    assert "Replay: play(mock, Timeline(ending='failed:blocked'" in note


def test_check_is_silent_for_a_correct_client_and_judges_the_contract_too(mock: Any) -> None:
    timeline = Timeline(poll_errors=2, expired_urls=2, submit_throttles=(503,))
    check(mock, timeline, run(mock, KlingClient, timeline))
    result = run(mock, IgnoresRetryAfter, timeline)
    assert reported(result) == timeline.expected  # right outcome, broken contract
    with pytest.raises(TimelineFailure, match=r"(?s)reported the expected .*\[backoff-on-429-5xx\]"):
        check(mock, timeline, result)


def test_behaviours_describe_every_injected_fault() -> None:
    said = Timeline(ending="expired", runtime=40, submit_throttles=(429, 503), retry_after=7, poll_errors=1,
                    expired_urls=2, duplicate_webhooks=3).behaviours()
    assert said == ["the job is set to run past its timeout and expire after 40 s of processing",
                    "the first 2 submit(s) answer 429, 503 with Retry-After: 7",
                    "the first 1 GetWorkflow call(s) answer 503 with Retry-After: 7",
                    "the first 2 signed blob URL(s) handed out are already expired",
                    "the first 3 acknowledged webhook event(s) are delivered twice"]
