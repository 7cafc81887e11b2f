"""Webhooks: filters, payload shapes, per-workflow order, retries, isolation of slow receivers, inbox."""

from __future__ import annotations

import random
import socket
import threading
import time
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from civitai_mock import civitai_fake
from civitai_mock.kit.handle import CivitaiMock
from civitai_mock.kit.live import ThreadServer
from civitai_mock.mock_server.server.fake import Fake, FakeConfig

SUBMIT = "/v2/consumer/workflows"
LIFECYCLE = ["unassigned", "preparing", "scheduled", "processing", "succeeded", "failed", "expired", "canceled"]


class Receiver:
    """An in-process webhook receiver that records payloads and answers programmable statuses."""

    def __init__(self, failures_per_event: int = 0, delay: float = 0.0):
        self.received: list[dict[str, Any]] = []
        self.failures_per_event, self.delay = failures_per_event, delay
        self._attempts: dict[str, int] = {}
        self.app = Starlette(routes=[Route("/{path:path}", self.handle, methods=["POST"])])

    async def handle(self, request: Request) -> Response:
        payload = await request.json()
        key = repr(sorted(payload.items(), key=str))
        self._attempts[key] = self._attempts.get(key, 0) + 1
        if self.delay:
            import asyncio

            await asyncio.sleep(self.delay)
        if self._attempts[key] <= self.failures_per_event:
            return Response(status_code=500)
        self.received.append({**payload, "_path": request.url.path, "_wall": time.monotonic(),
                              "_content_type": request.headers.get("content-type")})
        return Response(status_code=200)


def submit(mock: CivitaiMock, types: list[str], prompt: str = "[mock:runtime=30] a fox", url: str = "https://hooks.test/a",
           detailed: bool = False) -> str:
    body = {"steps": [{"$type": "videoGen", "input": {"engine": "kling-v3", "prompt": prompt}}],
            "callbacks": [{"url": url, "type": types, "detailed": detailed}]}
    answer = mock.client.post(SUBMIT, params={"wait": 0}, json=body)
    assert answer.status_code == 202, answer.text
    return answer.json()["id"]


@pytest.fixture
def hooked(civitai_mock: CivitaiMock) -> tuple[CivitaiMock, Receiver]:
    receiver = Receiver()
    civitai_mock.webhooks.route("https://hooks.test/", receiver.app)
    return civitai_mock, receiver


def test_workflow_succeeded_filter_gets_exactly_one_event_on_success_none_on_failure(hooked: Any) -> None:
    mock, receiver = hooked
    ok = submit(mock, ["workflow:succeeded"])
    bad = submit(mock, ["workflow:succeeded"], prompt="[mock:fail=no_provider_available] x")
    mock.advance(3600)
    assert [(e["workflowId"], e["status"]) for e in receiver.received] == [(ok, "succeeded")]
    assert bad not in {e["workflowId"] for e in receiver.received}


def test_done_pass_or_fail_gets_one_event_either_way(hooked: Any) -> None:
    mock, receiver = hooked
    types = ["workflow:succeeded", "workflow:failed", "workflow:expired", "workflow:canceled"]
    ids = [submit(mock, types, prompt=p) for p in ("[mock:runtime=30] x", "[mock:block=gore] x", "[mock:expire] x")]
    mock.advance(7200)
    assert sorted((e["workflowId"], e["status"]) for e in receiver.received) == sorted(
        zip(ids, ["succeeded", "failed", "expired"]))


def test_workflow_star_gets_the_whole_lifecycle_in_order(hooked: Any) -> None:
    mock, receiver = hooked
    submit(mock, ["workflow:*"])
    mock.advance(3600)
    assert [e["status"] for e in receiver.received] == ["unassigned", "preparing", "scheduled", "processing",
                                                        "succeeded"]
    assert all(e["$type"] == "workflow" and "details" not in e and e["timestamp"] for e in receiver.received)


def test_step_and_job_events(hooked: Any) -> None:
    mock, receiver = hooked
    submit(mock, ["step:*", "job:*"], prompt="[mock:block=nudity] x")
    mock.advance(3600)
    steps = [e for e in receiver.received if e["$type"] == "step"]
    jobs = [e for e in receiver.received if e["$type"] == "job"]
    assert [e["status"] for e in steps].count("processing") > 1  # processing repeats as progress moves
    assert steps[-1]["status"] == "failed" and steps[0]["name"] == "$0"
    assert all(e["stepName"] == "$0" and e["jobId"] for e in jobs)
    assert jobs[-1]["reason"] == "blocked" and jobs[-1]["blockedReason"] == "nudity"
    progress = [e["progress"] for e in jobs if e["status"] == "processing"]
    assert progress == sorted(progress) and progress[0] == 0.0


def test_detailed_payloads_carry_timings_and_the_output_blob(hooked: Any) -> None:
    mock, receiver = hooked
    submit(mock, ["workflow:succeeded"], detailed=True)
    mock.advance(200)
    details = receiver.received[0]["details"]
    assert details["createdAt"] and details["completedAt"]
    video = details["steps"][0]["output"]["video"]
    assert mock.client.get(video["url"]).status_code == 200
    mock.advance(3600)  # the URL in a delivered payload expires like any other
    assert mock.client.get(video["url"]).status_code == 403


def test_several_callbacks_each_with_its_own_filter(hooked: Any) -> None:
    mock, receiver = hooked
    body = {"steps": [{"$type": "videoGen", "input": {"engine": "kling-v3", "prompt": "[mock:runtime=30] x"}}],
            "callbacks": [{"url": "https://hooks.test/one", "type": ["workflow:succeeded"]},
                          {"url": "https://hooks.test/two", "type": ["job:processing"]}]}
    mock.client.post(SUBMIT, params={"wait": 0}, json=body)
    mock.advance(3600)
    by_path: dict[str, list[str]] = {}
    for event in receiver.received:
        by_path.setdefault(event["_path"], []).append(f"{event['$type']}:{event['status']}")
    assert by_path["/one"] == ["workflow:succeeded"]
    assert set(by_path["/two"]) == {"job:processing"} and len(by_path["/two"]) == 4


def test_each_workflow_sees_its_events_in_lifecycle_order_across_100_workflows(hooked: Any) -> None:
    mock, receiver = hooked
    rng = random.Random(7)
    ids = [submit(mock, ["workflow:*", "step:*"], prompt=f"[mock:runtime={rng.randint(10, 900)}] x")
           for _ in range(100)]
    mock.advance(4 * 3600)
    for workflow_id in ids:
        for scope in ("workflow", "step"):
            statuses = [e["status"] for e in receiver.received if e["workflowId"] == workflow_id and e["$type"] == scope]
            ranks = [LIFECYCLE.index(s) for s in statuses]
            assert ranks == sorted(ranks) and statuses[-1] == "succeeded", (workflow_id, scope, statuses)


def test_a_receiver_failing_its_first_three_attempts_still_gets_everything_in_order(civitai_mock: CivitaiMock) -> None:
    receiver = Receiver(failures_per_event=3)
    civitai_mock.webhooks.route("https://hooks.test/", receiver.app)
    submit(civitai_mock, ["workflow:*"])
    civitai_mock.advance(3600)
    assert [e["status"] for e in receiver.received] == ["unassigned", "preparing", "scheduled", "processing",
                                                        "succeeded"]
    attempts = [(a["eventType"], a["attempt"], a["statusCode"]) for a in civitai_mock.webhooks.inbox()]
    assert attempts[:4] == [("workflow:unassigned", 1, 500), ("workflow:unassigned", 2, 500),
                            ("workflow:unassigned", 3, 500), ("workflow:unassigned", 4, 200)]


def test_a_dead_receiver_is_given_up_after_bounded_attempts(civitai_mock: CivitaiMock) -> None:
    receiver = Receiver(failures_per_event=100)
    civitai_mock.webhooks.route("https://hooks.test/", receiver.app)
    submit(civitai_mock, ["workflow:succeeded"])
    civitai_mock.advance(3600)
    attempts = civitai_mock.webhooks.inbox()
    assert len(attempts) == civitai_mock.webhooks.max_attempts and attempts[-1]["gaveUp"] is True


def _silent_server() -> tuple[socket.socket, int]:
    """A TCP server that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    threading.Thread(target=lambda: [server.accept() for _ in range(16)], daemon=True).start()
    return server, server.getsockname()[1]


def test_a_receiver_that_never_answers_delays_no_other_workflow() -> None:
    server, port = _silent_server()
    try:
        with civitai_fake(webhook_timeout=0.5, webhook_attempts=2) as mock:
            fast = Receiver()
            mock.webhooks.route("https://hooks.test/", fast.app)
            submit(mock, ["workflow:succeeded"], url=f"http://127.0.0.1:{port}/never")
            submit(mock, ["workflow:succeeded"], url="https://hooks.test/fast")
            started = time.monotonic()
            mock.advance(3600)
            assert fast.received and fast.received[0]["_wall"] - started < 0.5
            assert any(a["error"] and "timeout" in a["error"] for a in mock.webhooks.inbox())
    finally:
        server.close()


def test_https_only_except_loopback_when_local() -> None:
    body = {"steps": [{"$type": "videoGen", "input": {"engine": "kling-v3", "prompt": "x"}}],
            "callbacks": [{"url": "http://example.com/hook", "type": ["workflow:*"]}]}
    with civitai_fake() as mock:
        assert mock.client.post(SUBMIT, json=body).status_code == 400
        body["callbacks"][0]["url"] = "http://127.0.0.1:9/hook"
        assert mock.client.post(SUBMIT, json=body).status_code == 202
    with civitai_fake(allow_http_callbacks=False) as strict:
        assert strict.client.post(SUBMIT, json=body).status_code == 400


def test_the_inbox_over_http(hooked: Any) -> None:
    mock, receiver = hooked
    submit(mock, ["workflow:succeeded"])
    mock.advance(3600)
    listed = mock.client.get("/_mock/webhooks", params={"token": mock.token}).json()
    assert [i["eventType"] for i in listed["items"]] == ["workflow:succeeded"] and listed["pending"] == 0
    item = listed["items"][0]
    assert {"url", "attempt", "statusCode", "latencyMs", "error", "event", "at"} <= set(item)
    assert mock.client.get("/_mock/webhooks", params={"token": "other"}).json()["items"] == []
    assert mock.client.delete("/_mock/webhooks").status_code == 204
    assert mock.client.get("/_mock/webhooks").json()["items"] == []


def test_a_real_socket_receiver_with_a_system_clock() -> None:
    receiver = Receiver()
    fake = Fake(FakeConfig(speed=600))
    mock = CivitaiMock(fake)
    try:
        with ThreadServer(receiver.app) as server:
            fake.start()
            submit(mock, ["workflow:succeeded"], url=f"{server.url}/hook")
            deadline = time.monotonic() + 10
            while not receiver.received and time.monotonic() < deadline:
                time.sleep(0.05)
            assert receiver.received and receiver.received[0]["status"] == "succeeded"
    finally:
        mock.close()


def test_receivers_get_json_bodies_with_a_json_content_type(hooked: Any) -> None:
    mock, receiver = hooked
    submit(mock, ["job:succeeded"])
    mock.advance(3600)
    event = receiver.received[0]
    assert event["_content_type"] == "application/json"
    assert event["$type"] == "job" and event["status"] == "succeeded" and event["jobId"] and event["stepName"] == "$0"
