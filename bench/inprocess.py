"""In-process figures: full lifecycle per workflow, a "5-minute" job under the virtual clock, scale
(latency and memory with 100 000 stored workflows), webhook delivery rate, plugin reset and start."""

from __future__ import annotations

import gc
import time
import tracemalloc
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bench.common import BODY, lifecycle_once, per_call
from bench.report import Figure
from civitai_mock.contracts.paths import WORKFLOWS
from civitai_mock.kit.handle import CivitaiMock, civitai_fake
from civitai_mock.kit.live import LiveServer, ThreadServer
from civitai_mock.kit.transport import SyncASGITransport
from civitai_mock.mock_server.clock import VirtualClock
from civitai_mock.mock_server.engine.service import Engine, EngineConfig
from civitai_mock.mock_server.server.fake import Fake

SUBMIT = WORKFLOWS


def lifecycle(repeat: int = 200) -> list[Figure]:
    """Submit → advance → succeeded → fetch MP4, against four requests to a bare app on the same transport."""
    with civitai_fake(balances={"blue": 10**12}) as mock:
        ours = per_call(lambda: lifecycle_once(mock), repeat)
        engine_only = Engine(VirtualClock(), config=EngineConfig(balances={"blue": 10**12}))

        def five_minutes() -> None:
            workflow_id = engine_only.submit("t", BODY)
            engine_only.clock.advance(400)  # type: ignore[attr-defined]
            assert engine_only.view("t", workflow_id)["status"] == "succeeded"

        def five_seconds() -> None:
            engine_only.submit("t", {"steps": [{"$type": "videoGen", "input": {
                "engine": "kling-v3", "prompt": "[mock:runtime=5] a fox"}}]})
            engine_only.clock.advance(400)  # type: ignore[attr-defined]

        long_job, short_job = per_call(five_minutes, repeat), per_call(five_seconds, repeat)

    async def bare(request: Any) -> Response:
        return JSONResponse({"status": "succeeded"})

    transport = SyncASGITransport(Starlette(routes=[Route("/{p:path}", bare, methods=["GET", "POST"])]))
    with httpx.Client(transport=transport, base_url="https://x") as http:
        baseline = per_call(lambda: [http.get("/a") for _ in range(4)], repeat)
    transport.shutdown()
    return [
        Figure("full lifecycle incl. MP4 fetch (in-process)", ours * 1000, "ms", baseline * 1000,
               "4 requests to a bare app, same transport", "<= 3 ms", ours * 1000 <= 3),
        Figure("'5-minute' job under the virtual clock", long_job * 1000, "ms", short_job * 1000,
               "a 5-second job, same engine", "< 5 ms", long_job * 1000 < 5),
    ]


def scale(big: int = 100_000, small: int = 100, repeat: int = 2000) -> list[Figure]:
    """GET latency and QueryWorkflows page time with ``big`` vs ``small`` stored workflows; memory each."""
    def filled(count: int) -> tuple[CivitaiMock, str, float, float]:
        mock = CivitaiMock(Fake())
        mock.set_balances(blue=10**12)
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(count):
            workflow_id = mock.engine.submit(mock.token, BODY)
        gc.collect()
        in_flight = (tracemalloc.get_traced_memory()[0] - before) / count
        mock.advance(3600)
        gc.collect()
        finished = (tracemalloc.get_traced_memory()[0] - before) / count
        tracemalloc.stop()
        return mock, workflow_id, finished, in_flight

    small_mock, small_id, _, _ = filled(small)
    big_mock, big_id, per_workflow, per_running = filled(big)
    figures = []
    timings = {}
    for label, mock, workflow_id in (("small", small_mock, small_id), ("big", big_mock, big_id)):
        def get(client: httpx.Client = mock.client, path: str = f"{SUBMIT}/{workflow_id}") -> Any:
            return client.get(path)

        def page(client: httpx.Client = mock.client) -> Any:
            return client.get(SUBMIT, params={"take": 20})

        timings[label] = (per_call(get, repeat), per_call(page, repeat // 4))
        response_size = len(mock.client.get(f"{SUBMIT}/{workflow_id}").content)
        mock.close()
    get_ratio = timings["big"][0] / timings["small"][0]
    page_ratio = timings["big"][1] / timings["small"][1]
    figures.append(Figure(f"GET latency, {big:,} workflows stored", timings["big"][0] * 1e6, "us",
                          timings["small"][0] * 1e6, f"GET latency, {small} stored", "ratio <= 1.2", get_ratio <= 1.2))
    figures.append(Figure(f"QueryWorkflows page (20), {big:,} stored", timings["big"][1] * 1e6, "us",
                          timings["small"][1] * 1e6, f"same page, {small} stored", "flat (~1.0)", page_ratio <= 1.2))
    figures.append(Figure("memory per stored workflow (finished)", per_workflow, "bytes", response_size,
                          "its JSON response size", "<= 4096 B", per_workflow <= 4096))
    figures.append(Figure("memory per workflow still in flight", per_running, "bytes", response_size,
                          "its JSON response size", "(no target)"))
    return figures


def webhooks(count: int = 2000) -> list[Figure]:
    """Webhook deliveries/s to a local receiver with order checked, against plain posts to the same receiver."""
    received: list[int] = []

    async def receiver(scope: Any, receive: Any, send: Any) -> None:
        message = await receive()
        received.append(len(message.get("body", b"")))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    with civitai_fake(balances={"blue": 10**12}) as mock:
        mock.webhooks.route("https://hooks.bench/", receiver)
        workflows = count // 5
        body = {**BODY, "callbacks": [{"url": "https://hooks.bench/h", "type": ["workflow:*"]}]}
        for _ in range(workflows):
            mock.client.post(SUBMIT, json=body)
        started = time.perf_counter()
        mock.advance(3600)
        elapsed = time.perf_counter() - started
        delivered = mock.webhooks.deliveries()
        for workflow_id in {d["workflowId"] for d in delivered}:
            statuses = [d["eventType"] for d in delivered if d["workflowId"] == workflow_id]
            assert statuses[-1] == "workflow:succeeded" and len(statuses) == 5
    rate = len(delivered) / elapsed

    async def post_all() -> float:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(receiver)) as http:
            begun = time.perf_counter()
            for _ in range(len(delivered)):
                await http.post("https://hooks.bench/h", json={"status": "succeeded"})
            return len(delivered) / (time.perf_counter() - begun)

    import asyncio

    baseline = asyncio.run(post_all())
    return [Figure("webhook deliveries/s, order checked", rate, "per s", baseline,
                   "sequential plain posts/s, same receiver", ">= 1000/s", rate >= 1000)]


def plugin(repeat: int = 200) -> list[Figure]:
    """Per-test reset and session server start, against building a new fake and starting a bare server."""
    mock = CivitaiMock(Fake())
    for _ in range(20):
        mock.client.post(SUBMIT, json=BODY)
    reset = per_call(mock.reset, repeat)
    fresh = per_call(lambda: Fake().stop(), 20)
    started = per_call(lambda: LiveServer(mock).start().stop(), 5)  # what the civitai_mock_server fixture does
    bare = per_call(lambda: ThreadServer(Starlette(), http="h11").start().stop(), 5)
    mock.close()
    return [
        Figure("per-test reset", reset * 1000, "ms", fresh * 1000, "building a new fake", "<= 5 ms", reset * 1000 <= 5),
        Figure("session server start (+stop)", started, "s", bare, "same for a bare Starlette app", "<= 0.5 s",
               started <= 0.5),
    ]

