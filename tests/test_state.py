"""One owner of state: patched steps re-plan, resets cancel deliveries, tenants keep their routes,
one bearer parser, and concurrent changes from threads and the HTTP loop keep Buzz exact."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from civitai_mock import civitai_fake
from civitai_mock.kit.handle import CivitaiMock
from tests.mp4info import read

SUBMIT = "/v2/consumer/workflows"


def v3(prompt: str = "[mock:runtime=60] a fox", **extra: Any) -> dict:
    return {"steps": [{"$type": "videoGen", "input": {"engine": "kling-v3", "prompt": prompt, **extra}}]}


def wait_for(condition: Any, timeout: float = 10.0, what: str = "condition") -> None:
    """Poll ``condition`` until true; fail the test when the deadline passes."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


class Recorder:
    """An in-process webhook receiver that can be told to hang."""

    def __init__(self, delay: float = 0.0):
        self.received: list[dict[str, Any]] = []
        self.started = 0
        self.delay = delay
        self.app = Starlette(routes=[Route("/{path:path}", self.handle, methods=["POST"])])

    async def handle(self, request: Request) -> Response:
        payload = await request.json()
        self.started += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        self.received.append(payload)
        return Response(status_code=200)


def test_patching_a_step_replans_its_video_and_reprices_it(civitai_mock: CivitaiMock) -> None:
    created = civitai_mock.client.post(SUBMIT, params={"wait": 0}, json=v3()).json()
    before = civitai_mock.client.get(f"/_mock/accounts/{civitai_mock.token}").json()
    patch = [{"op": "replace", "path": "/input/aspectRatio", "value": "9:16"},
             {"op": "replace", "path": "/input/duration", "value": 10}]
    answer = civitai_mock.client.patch(f"{SUBMIT}/{created['id']}/steps/$0", json=patch,
                                       headers={"Content-Type": "application/json-patch+json"})
    assert answer.status_code == 204, answer.text
    civitai_mock.advance(3600)
    done = civitai_mock.client.get(f"{SUBMIT}/{created['id']}").json()
    video = done["steps"][0]["output"]["video"]
    assert (video["width"], video["height"], video["duration"]) == (72, 128, 10.0)
    info = read(civitai_mock.client.get(video["url"]).content)
    assert abs(info.duration - 10) < 0.2 and info.tracks[0]["height"] > info.tracks[0]["width"]
    # 10 s costs twice 5 s: the difference is debited and shows on the workflow
    assert done["cost"]["total"] == 2 * created["cost"]["total"]
    after = civitai_mock.client.get(f"/_mock/accounts/{civitai_mock.token}").json()
    assert sum(before.values()) - sum(after.values()) == created["cost"]["total"]


def test_patching_to_a_cheaper_input_credits_the_difference(civitai_mock: CivitaiMock) -> None:
    created = civitai_mock.client.post(SUBMIT, params={"wait": 0}, json=v3(duration=10)).json()
    patch = [{"op": "replace", "path": "/input/duration", "value": 5}]
    civitai_mock.client.patch(f"{SUBMIT}/{created['id']}/steps/$0", json=patch,
                              headers={"Content-Type": "application/json-patch+json"})
    done = civitai_mock.client.get(f"{SUBMIT}/{created['id']}").json()
    assert done["cost"]["total"] == created["cost"]["total"] // 2
    kinds = [(t["type"], t["amount"]) for t in done["transactions"]["list"]]
    assert ("credit", created["cost"]["total"] // 2) in kinds


def test_clearing_one_tenants_inbox_keeps_every_route() -> None:
    with civitai_fake() as mock:
        receiver = Recorder()
        mock.webhooks.route("https://hooks.test/", receiver.app)
        other = mock.sync_client(token="other")
        body = {**v3(), "callbacks": [{"url": "https://hooks.test/a", "type": ["workflow:succeeded"]}]}
        other.post(SUBMIT, params={"wait": 0}, json=body)
        mock.advance(3600)
        assert len(receiver.received) == 1
        assert mock.client.delete("/_mock/webhooks", params={"token": mock.token}).status_code == 204
        assert len(mock.webhooks.inbox("other")) == 1  # the other tenant's inbox is untouched
        other.post(SUBMIT, params={"wait": 0}, json=body)
        mock.advance(3600)
        assert len(receiver.received) == 2  # ...and its route still delivers in-process


def test_reset_cancels_deliveries_in_flight() -> None:
    with civitai_fake(speed=1000.0) as mock:
        mock.fake.start()
        slow = Recorder(delay=0.3)
        mock.webhooks.route("https://hooks.test/", slow.app)
        body = {**v3("[mock:runtime=5] x"), "callbacks": [{"url": "https://hooks.test/a", "type": ["job:*"]}]}
        for _ in range(5):
            mock.client.post(SUBMIT, params={"wait": 0}, json=body)
        wait_for(lambda: slow.started > 0, what="a delivery to be in flight")
        mock.reset()
        time.sleep(0.6)  # longer than one slow attempt: anything still in flight would have landed by now
        assert mock.webhooks.inbox() == []


def test_one_bearer_parser_for_faults_log_and_auth(civitai_mock: CivitaiMock) -> None:
    civitai_mock.fail_next(503, token="a b", target="any")
    answer = civitai_mock.client.get(SUBMIT, headers={"Authorization": "Bearer a b"})
    assert answer.status_code == 401  # a malformed header is no tenant: no injected fault, no tenant "a b"
    assert all(e.tenant != "a b" for e in civitai_mock.engine.requests.entries())


def test_concurrent_changes_keep_buzz_exact_and_statuses_monotonic() -> None:
    """Threads and the HTTP loop hammer balances, outcomes and faults under a fast system clock."""
    with civitai_fake(speed=200.0) as mock:
        mock.fake.start()
        token = "race"
        mock.set_balances(token, blue=0, green=0, yellow=10_000_000)
        errors: list[BaseException] = []
        seen: dict[str, list[str]] = {}  # what the one polling observer saw, in order (submitters only add ids)
        rank = {s: i for i, s in enumerate(["unassigned", "preparing", "scheduled", "processing"])}

        def submitter() -> None:
            try:
                client = mock.sync_client(token=token)
                for index in range(40):
                    prompt = "[mock:runtime=2] x" if index % 3 else "[mock:fail=no_provider_available] x"
                    answer = client.post(SUBMIT, params={"wait": 0}, json=v3(prompt))
                    if answer.status_code == 202:
                        seen.setdefault(answer.json()["id"], [])
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        def controller() -> None:
            try:
                for index in range(200):
                    mock.queue_outcome("fail", "no_provider_available", token="someone-else")
                    mock.fail_next(503, token="someone-else")
                    mock.set_balances("someone-else", blue=index)
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        async def poller() -> None:
            async with mock.async_client(token=token) as client:
                for _ in range(100):
                    page = (await client.get(SUBMIT, params={"take": 50})).json()["items"]
                    for item in page:
                        seen.setdefault(item["id"], []).append(item["status"])
                    await asyncio.sleep(0.005)

        threads = [threading.Thread(target=submitter) for _ in range(3)] + [threading.Thread(target=controller)]
        for thread in threads:
            thread.start()
        asyncio.run(poller())
        for thread in threads:
            thread.join(timeout=60)
        assert not errors, errors
        wait_for(lambda: all(mock.client.get(f"{SUBMIT}/{i}", headers={"Authorization": f"Bearer {token}"})
                             .json()["status"] in ("succeeded", "failed") for i in seen), 30, "workflows to end")
        client = mock.sync_client(token=token)
        workflows = [client.get(f"{SUBMIT}/{i}").json() for i in seen]
        charged = sum(w["cost"]["total"] for w in workflows)
        moved = sum(t["amount"] * (1 if t["type"] == "debit" else -1)
                    for w in workflows for t in w["transactions"]["list"])
        balances = client.get(f"/_mock/accounts/{token}").json()
        assert charged == moved == 10_000_000 - balances["yellow"]
        for statuses in seen.values():  # never backwards: ranks only grow until a terminal status
            live = [rank[s] for s in statuses if s in rank]
            assert live == sorted(live), statuses


def test_signed_blob_fetches_are_attributed_to_the_owning_tenant(civitai_mock: CivitaiMock) -> None:
    created = civitai_mock.client.post(SUBMIT, params={"wait": 0}, json=v3()).json()
    civitai_mock.advance(3600)
    url = civitai_mock.client.get(f"{SUBMIT}/{created['id']}").json()["steps"][0]["output"]["video"]["url"]
    with civitai_mock.sync_client() as anonymous:
        anonymous.headers.pop("Authorization")
        assert anonymous.get(url).status_code == 200  # no bearer token at all
    fetches = [e for e in civitai_mock.engine.requests.entries() if "sig" in e.query]
    assert [e.tenant for e in fetches] == [civitai_mock.token]
    assert any("sig" in e.query for e in civitai_mock.requests)  # the handle's own log view includes it
