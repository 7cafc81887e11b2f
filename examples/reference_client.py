"""A small, correct client of the orchestration API for Kling video — it doubles as documentation.

What makes it correct (each point is a documented rule the fake's linter checks):
- submit Kling workflows with ``wait=0`` (jobs outlast the 100 s request timeout);
- poll GetWorkflow on the 10 s → 30 s → 60 s cadence and stop at a terminal status;
- never retry 400/401/403/404; back off on 429 (honouring ``Retry-After``) and 5xx with
  exponential backoff and jitter, capped at 30 s, giving up after 5 tries;
- signed blob URLs expire: on 403, get a fresh URL (RefreshBlob) instead of repeating the old one;
- webhook events are deduplicated by ``(workflowId, status, timestamp)``.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any, Callable

import httpx

TERMINAL = frozenset({"succeeded", "failed", "expired", "canceled"})
POLL_CADENCE = (10.0, 30.0, 60.0)
NO_RETRY = frozenset({400, 401, 403, 404})
MAX_TRIES, MAX_BACKOFF = 5, 30.0


class ApiError(Exception):
    """The API answered an error that must not be retried as-is (or retries ran out)."""

    def __init__(self, response: httpx.Response):
        self.status = response.status_code
        try:
            self.problem: dict[str, Any] = response.json()
        except ValueError:
            self.problem = {"status": response.status_code, "detail": response.text}
        super().__init__(f"{self.status}: {self.problem.get('title')} {self.problem.get('errors') or self.problem.get('detail') or ''}")


@dataclass
class Result:
    """What happened to one generation, as the client reports it."""

    workflow_id: str
    status: str
    reason: str | None = None
    blocked_reason: str | None = None
    video: bytes | None = None


class KlingClient:
    """Submit a Kling videoGen workflow, wait for it, download the video."""

    def __init__(self, http: httpx.Client, sleep: Callable[[float], Any] = time.sleep, seed: int = 0):
        self.http = http
        self.sleep = sleep
        self._jitter = random.Random(seed)
        self._seen_events: set[tuple[str, str, str]] = set()

    def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One API call with the documented retry policy."""
        for attempt in range(1, MAX_TRIES + 1):
            response = self.http.request(method, url, **kwargs)
            if response.status_code < 400 or response.status_code in (308,):
                return response
            if response.status_code in NO_RETRY or attempt == MAX_TRIES:
                raise ApiError(response)
            if response.status_code != 429 and response.status_code < 500:
                raise ApiError(response)
            backoff = min(MAX_BACKOFF, 2 ** (attempt - 1)) * (1 + self._jitter.random() / 2)
            retry_after = response.headers.get("retry-after")
            if retry_after and retry_after.isdigit():
                backoff = max(backoff, float(retry_after))
            self.sleep(backoff)
        raise AssertionError("unreachable")

    def submit(self, video_input: dict[str, Any], **workflow_fields: Any) -> dict[str, Any]:
        """Submit a one-step videoGen workflow with ``wait=0``; return the in-flight workflow."""
        body = {"steps": [{"$type": "videoGen", "input": video_input}], **workflow_fields}
        return self._request("POST", "/v2/consumer/workflows", params={"wait": 0}, json=body).json()

    def wait(self, workflow_id: str, timeout: float = 6 * 3600) -> dict[str, Any]:
        """Poll on the documented cadence until the workflow is terminal."""
        waited, polls = 0.0, 0
        while True:
            delay = POLL_CADENCE[min(polls, len(POLL_CADENCE) - 1)]
            self.sleep(delay)
            waited += delay
            polls += 1
            workflow = self._request("GET", f"/v2/consumer/workflows/{workflow_id}").json()
            if workflow["status"] in TERMINAL or waited >= timeout:
                return workflow

    def download(self, workflow: dict[str, Any], step: str | None = None) -> bytes | None:
        """The video bytes of step ``step`` (by name; the first step when None); a 403 (expired URL) is
        answered with a fresh URL, never a repeat."""
        steps = workflow.get("steps") or [{}]
        chosen = next((s for s in steps if s.get("name") == step), {}) if step else steps[0]
        video = (chosen.get("output") or {}).get("video")
        if not video:
            return None
        url = video.get("url")
        for _ in range(MAX_TRIES):
            if url:
                response = self.http.get(url, headers={"Authorization": ""})
                if response.status_code == 200:
                    return response.content
                if response.status_code != 403:
                    raise ApiError(response)
            url = self._request("POST", f"/v2/consumer/blobs/{video['id']}/refresh").json().get("url")
        return None

    def generate(self, video_input: dict[str, Any], **workflow_fields: Any) -> Result:
        """Submit, wait, download: the whole job as the client reports it."""
        workflow = self.wait(self.submit(video_input, **workflow_fields)["id"])
        job = ((workflow["steps"][0].get("jobs") or [{}]) or [{}])[-1]
        video = self.download(workflow) if workflow["status"] == "succeeded" else None
        return Result(workflow["id"], workflow["status"], job.get("reason"), job.get("blockedReason"), video)

    def on_webhook(self, event: dict[str, Any]) -> bool:
        """Handle a webhook payload once: False for a duplicate (same workflowId, status, timestamp)."""
        key = (event.get("workflowId", ""), event.get("status", ""), event.get("timestamp", ""))
        if event.get("status") == "processing":
            return True  # progress: idempotent by nature, always "latest"
        if key in self._seen_events:
            return False
        self._seen_events.add(key)
        return True
