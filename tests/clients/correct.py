"""Correct clients in different styles; each must report every timeline's outcome with zero violations.

Each ``drive_*`` function plays the part of a user's test: it builds the client on a prepared fake
(``play`` already ran) and returns what the client reports (an object with ``status``, ``reason``,
``video``).
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable
from typing import Any

import httpx

from civitai_mock import CivitaiMock, Timeline
from examples.reference_client import MAX_TRIES, NO_RETRY, POLL_CADENCE, TERMINAL, ApiError, KlingClient, Result

BODY = {"engine": "kling-v3", "operation": "text-to-video", "prompt": "a lighthouse in a storm", "duration": 5}
WORKFLOW = "/v2/consumer/workflows/{}"
HOOKS = "https://hooks.example.test/"
TERMINAL_EVENTS = [f"workflow:{status}" for status in sorted(TERMINAL)]


def video_of(workflow: dict[str, Any]) -> dict[str, Any] | None:
    """The first step's output video (id and signed url), if any."""
    return ((workflow.get("steps") or [{}])[0].get("output") or {}).get("video")


def job_reason(workflow: dict[str, Any]) -> tuple[str | None, str | None]:
    """(reason, blockedReason) of the first step's last job."""
    job = ((workflow.get("steps") or [{}])[0].get("jobs") or [{}])[-1]
    return job.get("reason"), job.get("blockedReason")


class RereadingClient(KlingClient):
    """Refreshes an expired URL by reading the workflow again (the docs' first suggestion)."""

    def download(self, workflow: dict[str, Any]) -> bytes | None:
        """Fetch the video; on 403 read the workflow again for a fresh URL."""
        for _ in range(MAX_TRIES):
            video = video_of(workflow)
            if not video:
                return None
            response = self.http.get(video["url"], headers={"Authorization": ""})
            if response.status_code == 200:
                return response.content
            if response.status_code != 403:
                raise ApiError(response)
            workflow = self._request("GET", WORKFLOW.format(workflow["id"])).json()
        return None


class GetBlobClient(KlingClient):
    """Never keeps a URL: asks GetBlob (308 to a freshly signed URL) right before each download."""

    def download(self, workflow: dict[str, Any]) -> bytes | None:
        """GetBlob, follow the 308 by hand, fetch; on 403 ask GetBlob again."""
        video = video_of(workflow)
        if not video:
            return None
        for _ in range(MAX_TRIES):
            redirect = self._request("GET", f"/v2/consumer/blobs/{video['id']}")
            response = self.http.get(redirect.headers["location"], headers={"Authorization": ""})
            if response.status_code == 200:
                return response.content
            if response.status_code != 403:
                raise ApiError(response)
        return None


class HeldReadClient(KlingClient):
    """Long-polls: GetWorkflow with ``wait=60`` (the server holds each read up to a minute)."""

    def wait(self, workflow_id: str, timeout: float = 6 * 3600) -> dict[str, Any]:
        """Held reads back to back until the workflow is terminal."""
        held = 0.0
        while True:
            workflow = self._request("GET", WORKFLOW.format(workflow_id), params={"wait": 60}).json()
            held += 60
            if workflow["status"] in TERMINAL or held >= timeout:
                return workflow


class WebhookClient(KlingClient):
    """Driven by detailed webhooks: no polling; deduplicates deliveries; one GetWorkflow for a failure's reason."""

    def __init__(self, http: httpx.Client, sleep: Callable[[float], Any], seed: int = 0, *, dedupe: bool = True,
                 detailed: bool = True, receiver_status: Callable[[bool], int] = lambda duplicate: 204):
        super().__init__(http, sleep, seed)
        self.dedupe, self.detailed, self.receiver_status = dedupe, detailed, receiver_status
        self.events: list[dict[str, Any]] = []

    async def receiver(self, scope: Any, receive: Any, send: Any) -> None:
        """The ASGI webhook endpoint: queue each new terminal event, answer 2xx at once."""
        event = json.loads((await receive())["body"])
        fresh = self.on_webhook(event)
        if fresh or not self.dedupe:
            self.events.append(event)
        await send({"type": "http.response.start", "status": self.receiver_status(not fresh), "headers": []})
        await send({"type": "http.response.body", "body": b""})

    def generate(self, video_input: dict[str, Any], **workflow_fields: Any) -> Result:
        """Submit with callbacks, sleep until a terminal event arrives, handle each queued event."""
        callbacks = [{"url": HOOKS + "civitai", "type": TERMINAL_EVENTS, "detailed": self.detailed}]
        workflow_id = self.submit(video_input, callbacks=callbacks, **workflow_fields)["id"]
        slept = 0.0
        while not self.events and slept < 6 * 3600:
            self.sleep(30)
            slept += 30
        result = Result(workflow_id, "unknown")
        for event in list(self.events):
            result = self.handle(workflow_id, event)
        return result

    def handle(self, workflow_id: str, event: dict[str, Any]) -> Result:
        """One terminal event: the video from the detailed payload, or the workflow read once."""
        details = event.get("details")
        workflow = {"id": workflow_id, "status": event["status"], **(details or {})}
        if not details or event["status"] != "succeeded":
            workflow = self._request("GET", WORKFLOW.format(workflow_id)).json()
        reason, blocked = job_reason(workflow)
        video = self.download(workflow) if workflow["status"] == "succeeded" else None
        return Result(workflow_id, workflow["status"], reason, blocked, video)


class AsyncKlingClient:
    """The reference client's rules on ``httpx.AsyncClient``, sleeping with ``asyncio.sleep``."""

    def __init__(self, http: httpx.AsyncClient, seed: int = 0):
        self.http = http
        self._jitter = random.Random(seed)

    async def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        for attempt in range(1, MAX_TRIES + 1):
            response = await self.http.request(method, url, **kwargs)
            if response.status_code < 400:
                return response
            if response.status_code in NO_RETRY or attempt == MAX_TRIES or (
                    response.status_code != 429 and response.status_code < 500):
                raise ApiError(response)
            delay = min(30.0, 2 ** (attempt - 1)) * (1 + self._jitter.random() / 2)
            await asyncio.sleep(max(delay, float(response.headers.get("retry-after", 0))))
        raise AssertionError("unreachable")

    async def generate(self, video_input: dict[str, Any]) -> Result:
        """Submit (wait=0), poll on the cadence, download with RefreshBlob on 403."""
        body = {"steps": [{"$type": "videoGen", "input": video_input}]}
        workflow = (await self._request("POST", "/v2/consumer/workflows", params={"wait": 0}, json=body)).json()
        polls = 0
        while workflow["status"] not in TERMINAL:
            await asyncio.sleep(POLL_CADENCE[min(polls, len(POLL_CADENCE) - 1)])
            polls += 1
            workflow = (await self._request("GET", WORKFLOW.format(workflow["id"]))).json()
        reason, blocked = job_reason(workflow)
        video = video_of(workflow) if workflow["status"] == "succeeded" else None
        content, url = None, video and video.get("url")
        for _ in range(MAX_TRIES if video else 0):
            response = await self.http.get(url, headers={"Authorization": ""})
            if response.status_code == 200:
                content = response.content
                break
            if response.status_code != 403:
                raise ApiError(response)
            url = (await self._request("POST", f"/v2/consumer/blobs/{video['id']}/refresh")).json()["url"]
        return Result(workflow["id"], workflow["status"], reason, blocked, content)


def drive_reference(mock: CivitaiMock, timeline: Timeline) -> Any:
    """examples/reference_client.py: RefreshBlob on 403."""
    return KlingClient(mock.client, sleep=mock.advance, seed=timeline.seed).generate(BODY)


def drive_rereading(mock: CivitaiMock, timeline: Timeline) -> Any:
    """Refresh by reading the workflow again."""
    return RereadingClient(mock.client, sleep=mock.advance, seed=timeline.seed).generate(BODY)


def drive_getblob(mock: CivitaiMock, timeline: Timeline) -> Any:
    """Download through GetBlob's 308 every time."""
    return GetBlobClient(mock.client, sleep=mock.advance, seed=timeline.seed).generate(BODY)


def drive_held(mock: CivitaiMock, timeline: Timeline) -> Any:
    """Long-poll with GetWorkflow ?wait=60."""
    return HeldReadClient(mock.client, sleep=mock.advance, seed=timeline.seed).generate(BODY)


def drive_webhooks(mock: CivitaiMock, timeline: Timeline) -> Any:
    """Detailed webhooks delivered in-process to the client's receiver."""
    client = WebhookClient(mock.client, sleep=mock.advance, seed=timeline.seed)
    mock.webhooks.route(HOOKS, client.receiver)
    return client.generate(BODY)


def drive_async(mock: CivitaiMock, timeline: Timeline) -> Any:
    """httpx.AsyncClient with plain asyncio.sleep, run inside mock.autojump()."""

    async def main() -> Result:
        async with mock.async_client() as http:
            return await AsyncKlingClient(http, seed=timeline.seed).generate(BODY)

    with mock.autojump():
        return asyncio.run(main())


CORRECT: dict[str, Callable[[CivitaiMock, Timeline], Any]] = {
    "reference (RefreshBlob)": drive_reference,
    "re-reads the workflow": drive_rereading,
    "GetBlob 308": drive_getblob,
    "held reads (wait=60)": drive_held,
    "webhook-driven": drive_webhooks,
    "async (autojump)": drive_async,
}
