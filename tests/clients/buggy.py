"""Buggy clients, one known bug each, with the rule that must catch it and the timelines that show it.

Each is a small change to a correct client from ``tests.clients.correct`` (or the reference client),
so everything else it does stays right: a second rule firing would be a false alarm.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from civitai_mock import CivitaiMock, Timeline
from examples.reference_client import POLL_CADENCE, KlingClient
from tests.clients.correct import BODY, HOOKS, WORKFLOW, WebhookClient, video_of

Drive = Callable[[CivitaiMock, Timeline], Any]


@dataclass(frozen=True)
class Bug:
    """A buggy client: what it gets wrong, the rule that must catch it, how to run it and where."""

    name: str
    rule: str
    drive: Drive
    timelines: tuple[Timeline, ...] = (Timeline(),)
    fake: dict[str, Any] = field(default_factory=dict)


def sync(client_class: type[KlingClient], body: dict[str, Any] = BODY, **fields: Any) -> Drive:
    """Drive a ``KlingClient`` subclass on ``body`` (extra workflow ``fields`` go into the submission)."""
    return lambda mock, timeline: client_class(mock.client, sleep=mock.advance, seed=timeline.seed).generate(
        body, **fields)


class RetriesEveryError(KlingClient):
    """Bug: retries any failed request, a 400 included, unchanged."""

    def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        for _ in range(3):
            response = self.http.request(method, url, **kwargs)
            if response.status_code < 400:
                return response
            self.sleep(max(2.0, float(response.headers.get("retry-after", 0))))
        response.raise_for_status()
        return response


class IgnoresRetryAfter(KlingClient):
    """Bug: retries throttled requests immediately."""

    def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        for _ in range(5):
            response = self.http.request(method, url, **kwargs)
            if response.status_code not in (429, 503):
                return response
        return response


class NeverGivesUp(KlingClient):
    """Bug: backs off correctly but retries 429/5xx forever."""

    def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        while True:
            response = self.http.request(method, url, **kwargs)
            if response.status_code != 429 and response.status_code < 500:
                return response
            self.sleep(max(2.0, float(response.headers.get("retry-after", 0))))


class SubmitsWithWait(KlingClient):
    """Bug: holds the submit for 30 s although Kling jobs outlast the request timeout."""

    def submit(self, video_input: dict[str, Any], **workflow_fields: Any) -> dict[str, Any]:
        body = {"steps": [{"$type": "videoGen", "input": video_input}], **workflow_fields}
        return self._request("POST", "/v2/consumer/workflows", params={"wait": 30}, json=body).json()


class PollsEveryTwoSeconds(KlingClient):
    """Bug: polls every 2 s (the generic guide's first step) although Kling jobs take minutes."""

    def wait(self, workflow_id: str, timeout: float = 6 * 3600) -> dict[str, Any]:
        while True:
            self.sleep(2)
            workflow = self._request("GET", WORKFLOW.format(workflow_id)).json()
            if workflow["status"] in ("succeeded", "failed", "expired", "canceled"):
                return workflow


class PollsRightAfterSubmit(KlingClient):
    """Bug: reads the workflow the moment it is submitted, then follows the cadence."""

    def wait(self, workflow_id: str, timeout: float = 6 * 3600) -> dict[str, Any]:
        self._request("GET", WORKFLOW.format(workflow_id))
        return super().wait(workflow_id, timeout)


class StopsOnlyOnSuccess(KlingClient):
    """Bug: its loop ends on ``succeeded`` only, so a failed job is polled until its own limit."""

    def wait(self, workflow_id: str, timeout: float = 6 * 3600) -> dict[str, Any]:
        for polls in range(40):
            self.sleep(POLL_CADENCE[min(polls, len(POLL_CADENCE) - 1)])
            workflow = self._request("GET", WORKFLOW.format(workflow_id)).json()
            if workflow["status"] == "succeeded":
                break
        return workflow


class CachesBlobUrls(KlingClient):
    """Bug: fetches the first URL it saw again and again instead of refreshing it."""

    def download(self, workflow: dict[str, Any]) -> bytes | None:
        url = (video_of(workflow) or {}).get("url")
        for _ in range(3):
            response = self.http.get(url, headers={"Authorization": ""})
            if response.status_code == 200:
                return response.content
        return None


class RefreshesButKeepsOldUrl(KlingClient):
    """Bug: downloads a minute later; on 403 calls RefreshBlob but fetches the URL it already had."""

    def download(self, workflow: dict[str, Any]) -> bytes | None:
        video = video_of(workflow)
        if not video:
            return None
        self.sleep(60)
        for _ in range(3):
            response = self.http.get(video["url"], headers={"Authorization": ""})
            if response.status_code == 200:
                return response.content
            self._request("POST", f"/v2/consumer/blobs/{video['id']}/refresh")
        return None


def webhooks(**options: Any) -> Drive:
    """Drive a ``WebhookClient`` built with ``options`` (its receiver routed in-process)."""
    fields = options.pop("fields", {})

    def drive(mock: CivitaiMock, timeline: Timeline) -> Any:
        client = WebhookClient(mock.client, sleep=mock.advance, seed=timeline.seed, **options)
        mock.webhooks.route(HOOKS, client.receiver)
        return client.generate(BODY, **fields)

    return drive


ENDINGS = tuple(Timeline(ending=e) for e in ("failed:no_provider_available", "expired", "canceled", "succeeded"))
THROTTLED = (Timeline(submit_throttles=(429,), retry_after=3), Timeline(submit_throttles=(503, 429)),
             Timeline(poll_errors=2, retry_after=5))
BUGS: tuple[Bug, ...] = (
    Bug("retries a 400 unchanged", "no-retry-after-4xx",
        sync(RetriesEveryError, {"engine": "kling-v3", "duration": 5}),
        (Timeline(), Timeline(submit_throttles=(429,)))),
    Bug("retries 429/503 at once, ignoring Retry-After", "backoff-on-429-5xx", sync(IgnoresRetryAfter),
        (Timeline(), *THROTTLED)),
    Bug("retries 503 forever", "backoff-on-429-5xx", sync(NeverGivesUp),
        (Timeline(), Timeline(submit_throttles=(503,) * 4, poll_errors=4))),
    Bug("submits Kling with wait=30", "kling-wait-zero", sync(SubmitsWithWait), (Timeline(), *ENDINGS[:2])),
    Bug('sends kling-v3 duration "5"', "kling-duration-type", sync(KlingClient, {**BODY, "duration": "5"})),
    Bug("polls every 2 s", "poll-cadence", sync(PollsEveryTwoSeconds), (Timeline(), Timeline(runtime=200))),
    Bug("reads right after a wait=0 submit", "poll-cadence", sync(PollsRightAfterSubmit), ENDINGS[:2]),
    Bug("stops polling on succeeded only", "poll-until-terminal", sync(StopsOnlyOnSuccess), ENDINGS),
    Bug("fetches an expired URL again", "refresh-expired-url", sync(CachesBlobUrls),
        (Timeline(), Timeline(expired_urls=1), Timeline(expired_urls=3))),
    Bug("refreshes, then fetches the old URL", "refresh-expired-url", sync(RefreshesButKeepsOldUrl),
        (Timeline(), Timeline(runtime=300)), {"url_ttl": 30}),
    Bug("ephemeral without callback or wait", "ephemeral-needs-callback", sync(KlingClient, BODY, ephemeral=True)),
    Bug("ephemeral with non-detailed callbacks", "ephemeral-detailed-callback",
        webhooks(detailed=False, fields={"ephemeral": True}), ENDINGS[2:]),
    Bug("answers 409 to a repeated webhook", "webhook-2xx-promptly",
        webhooks(receiver_status=lambda duplicate: 409 if duplicate else 204),
        (Timeline(), Timeline(duplicate_webhooks=1), Timeline(ending="expired", duplicate_webhooks=2))),
    Bug("handles a repeated webhook twice", "webhook-dedupe", webhooks(dedupe=False, detailed=False),
        (Timeline(), Timeline(duplicate_webhooks=1), Timeline(ending="failed:blocked", duplicate_webhooks=1))),
    Bug('sends "aspect_ratio" (snake_case)', "unknown-input-property",
        sync(KlingClient, {**BODY, "aspect_ratio": "9:16"})),
)
#: Extra set-up some bugs need beyond a timeline (applied after ``play``).
SETUP: dict[str, Callable[[CivitaiMock], None]] = {
    "retries 503 forever": lambda mock: mock.fail_next(503, count=8, target="submit", retry_after=1),
}
