"""The in-process sync transport: the calling thread's own loop where it runs none, the portal where it
does, and the same answers either way as ``httpx.ASGITransport`` gives (bodies, errors, webhooks, respx)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from civitai_mock import civitai_fake
from civitai_mock.kit.handle import REAL_BASE_URL, CivitaiMock
from civitai_mock.kit.transport import SyncASGITransport, thread_loop

SUBMIT = "/v2/consumer/workflows"
BODY = {"steps": [{"$type": "videoGen", "input": {"engine": "kling-v3", "prompt": "[mock:runtime=30] a fox"}}]}
#: Deadlock guard for calls that must return: generous, and only ever reached by a hang.
HANG = 60.0


def finished_workflow(mock: CivitaiMock, body: dict[str, Any] = BODY) -> dict[str, Any]:
    """Submit ``body``, let it finish, return the finished workflow."""
    workflow = mock.client.post(SUBMIT, params={"wait": 0}, json=body).json()
    mock.advance(3600)
    return mock.client.get(f"{SUBMIT}/{workflow['id']}").json()


def via_asgi(mock: CivitaiMock, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """The same request through httpx's own ``ASGITransport`` (the reference behaviour)."""
    async def go() -> httpx.Response:
        async with mock.async_client() as client:
            response = await client.request(method, url, **kwargs)
            await response.aread()
            return response

    return asyncio.run(go())


def same(left: httpx.Response, right: httpx.Response) -> None:
    """Status, headers and body are identical."""
    assert (left.status_code, list(left.headers.multi_items()), left.content) == \
           (right.status_code, list(right.headers.multi_items()), right.content)


def echo_app() -> Starlette:
    """An app that echoes bodies, streams chunks and crashes on demand."""
    async def echo(request: Request) -> Response:
        return Response(await request.body(), media_type="application/octet-stream")

    async def stream(request: Request) -> StreamingResponse:
        async def chunks() -> Any:
            for index in range(64):
                yield bytes([index]) * 65_536
        return StreamingResponse(chunks(), media_type="application/octet-stream")

    async def crash(request: Request) -> Response:
        raise ValueError("boom")

    return Starlette(routes=[Route("/echo", echo, methods=["POST", "HEAD", "GET"]), Route("/stream", stream),
                             Route("/crash", crash)])


# --- the same answers as httpx.ASGITransport ------------------------------------------------------

def test_answers_match_httpx_asgi_transport_for_reads_errors_and_media() -> None:
    with civitai_fake(balances={"blue": 10**9}) as mock:
        done = finished_workflow(mock)
        video_url = done["steps"][0]["output"]["video"]["url"]
        for method, url, kwargs in [
            ("GET", f"{SUBMIT}/{done['id']}", {}),
            ("GET", f"{SUBMIT}/nope", {}),  # 404 problem+json
            ("POST", SUBMIT, {"json": {"steps": [{"$type": "videoGen", "input": {"engine": "kling-v3"}}]}}),  # 400
            ("DELETE", "/no/such/endpoint", {}),
            ("GET", video_url, {}),  # the MP4 bytes
            ("GET", "/openapi.json", {}),
        ]:
            same(mock.client.request(method, url, **kwargs), via_asgi(mock, method, url, **kwargs))
        problem = mock.client.get(f"{SUBMIT}/nope")
        assert problem.headers["content-type"].startswith("application/problem+json")


def test_large_bodies_both_ways_streamed_responses_and_head() -> None:
    transport = SyncASGITransport(echo_app())
    with httpx.Client(transport=transport, base_url="https://app.test") as client:
        big = bytes(range(256)) * 40_000  # 10 MB
        assert client.post("/echo", content=big).content == big
        streamed = client.get("/stream")
        assert streamed.content == b"".join(bytes([i]) * 65_536 for i in range(64))
        with client.stream("GET", "/stream") as response:  # the client's streaming API reads the buffered body
            assert sum(len(chunk) for chunk in response.iter_bytes()) == 64 * 65_536
        head = client.head("/echo")
        assert head.status_code == 200 and head.content == b""
    transport.shutdown()


def test_an_app_exception_reaches_the_caller_as_with_httpx_asgi_transport() -> None:
    transport = SyncASGITransport(echo_app())
    with (httpx.Client(transport=transport, base_url="https://app.test") as client,
          pytest.raises(ValueError, match="boom")):
        client.get("/crash")
    transport.shutdown()


# --- which loop runs the call ----------------------------------------------------------------------

def test_a_plain_sync_caller_runs_on_its_own_thread_loop_without_the_portal() -> None:
    with civitai_fake() as mock:
        transport = SyncASGITransport(mock.app)
        with httpx.Client(transport=transport, base_url=REAL_BASE_URL, headers=mock.headers) as client:
            assert client.get(f"{SUBMIT}/nope").status_code == 404
            assert client.post(SUBMIT, params={"wait": 0}, json=BODY).status_code == 202
        assert not transport.uses_portal
        assert thread_loop() is thread_loop() and not thread_loop().is_running()
        transport.shutdown()


def test_the_sync_client_called_from_async_code_goes_through_the_portal() -> None:
    with civitai_fake(balances={"blue": 10**9}) as mock:
        transport = SyncASGITransport(mock.app)
        client = httpx.Client(transport=transport, base_url=REAL_BASE_URL, headers=mock.headers)

        async def from_async_code() -> tuple[int, str]:
            created = client.post(SUBMIT, params={"wait": 0}, json=BODY).json()
            held = client.get(f"{SUBMIT}/{created['id']}", params={"wait": 100})  # wait=N under the virtual clock
            return held.status_code, held.json()["status"]

        assert asyncio.run(from_async_code()) == (200, "succeeded")
        assert transport.uses_portal
        client.close()
        transport.shutdown()


def test_an_app_calling_its_own_sync_client_works_on_the_thread_loop_and_fails_clearly_on_the_portal() -> None:
    clients: list[httpx.Client] = []

    async def reenter(request: Request) -> Response:
        return Response(str(clients[0].post("/echo", content=b"x").status_code))

    app = echo_app()
    app.router.routes.append(Route("/reenter", reenter))
    transport = SyncASGITransport(app)
    clients.append(httpx.Client(transport=transport, base_url="https://app.test"))
    assert clients[0].get("/reenter").text == "200"  # the inner call goes to the portal: no deadlock

    async def from_async_code() -> httpx.Response:  # the outer call runs on the portal: the inner would wait on it
        return clients[0].get("/reenter")

    with pytest.raises(RuntimeError, match="called its own sync client"):
        asyncio.run(from_async_code())
    clients[0].close()
    transport.shutdown()


def test_a_thread_running_another_async_library_goes_through_the_portal() -> None:
    sniffio = pytest.importorskip("sniffio")
    transport = SyncASGITransport(echo_app())
    answers: list[int] = []

    def trio_like_thread() -> None:
        sniffio.thread_local.name = "trio"  # what trio sets while its loop runs in this thread
        with httpx.Client(transport=transport, base_url="https://app.test") as client:
            answers.append(client.post("/echo", content=b"x").status_code)

    thread = threading.Thread(target=trio_like_thread)
    thread.start()
    thread.join(HANG)
    assert answers == [200] and transport.uses_portal
    transport.shutdown()


def test_wait_holds_on_the_thread_loop_advance_the_virtual_clock_and_leave_no_worker_behind() -> None:
    def workers() -> set[threading.Thread]:
        return {thread for thread in threading.enumerate() if thread.name == "AnyIO worker thread"}

    before = workers()
    with civitai_fake(balances={"blue": 10**9}) as mock:
        created = mock.client.post(SUBMIT, params={"wait": 100}, json=BODY)  # held via anyio.to_thread
        assert created.status_code == 200 and created.json()["status"] == "succeeded"
    for worker in workers() - before:  # a non-daemon worker left running would hold up interpreter exit
        worker.join(HANG)
        assert not worker.is_alive()


def test_threads_sharing_one_client_each_use_their_own_loop() -> None:
    threads = 8
    with civitai_fake(balances={"blue": 10**12}) as mock, ThreadPoolExecutor(threads) as pool:
        all_started = threading.Barrier(threads)

        def worker() -> tuple[int, list[str]]:
            all_started.wait(HANG)  # one task per pool thread
            ids = []
            for _ in range(25):
                created = mock.client.post(SUBMIT, params={"wait": 0}, json=BODY)
                assert created.status_code == 202, created.text
                assert mock.client.get(f"{SUBMIT}/{created.json()['id']}").status_code == 200
                ids.append(created.json()["id"])
            return id(thread_loop()), ids

        results = [future.result(HANG) for future in [pool.submit(worker) for _ in range(threads)]]
        ids = {workflow_id for _, some in results for workflow_id in some}
        assert len(ids) == 25 * threads and len({loop for loop, _ in results}) == threads
        listed = mock.client.get(SUBMIT, params={"take": 1000}).json()
        assert {item["id"] for item in listed["items"]} >= ids


# --- webhooks and respx ----------------------------------------------------------------------------

def test_an_in_process_receiver_can_call_back_into_the_fake_without_deadlock() -> None:
    with civitai_fake(balances={"blue": 10**9}) as mock:
        seen: list[tuple[str, str]] = []

        async def receiver(request: Request) -> Response:
            event = await request.json()
            current = mock.client.get(f"{SUBMIT}/{event['workflowId']}")  # sync client on the sender's loop
            seen.append((event["status"], current.json()["status"]))
            return Response(status_code=200)

        mock.webhooks.route("https://hooks.test/", Starlette(routes=[Route("/h", receiver, methods=["POST"])]))
        body = {**BODY, "callbacks": [{"url": "https://hooks.test/h", "type": ["workflow:*"]}]}
        mock.client.post(SUBMIT, params={"wait": 0}, json=body)
        advancing = threading.Thread(target=mock.advance, args=(3600,), daemon=True)
        advancing.start()
        advancing.join(HANG)
        assert not advancing.is_alive(), "advance() deadlocked on a receiver calling back into the fake"
        assert seen and seen[-1] == ("succeeded", "succeeded")
        assert [attempt["statusCode"] for attempt in mock.webhooks.inbox()] == [200] * len(seen)


def test_respx_routes_plain_and_async_httpx_calls_to_the_fake() -> None:
    with civitai_fake() as mock, mock.respx():
        headers = mock.headers
        assert httpx.get(f"{REAL_BASE_URL}{SUBMIT}/nope", headers=headers).status_code == 404

        async def from_async() -> httpx.Response:
            async with httpx.AsyncClient() as client:
                return await client.get(f"{REAL_BASE_URL}{SUBMIT}/nope", headers=headers)

        answer = asyncio.run(from_async())
        assert answer.status_code == 404 and answer.json()["status"] == 404
        assert [entry.path for entry in mock.requests] == [f"{SUBMIT}/nope"] * 2


# --- fresh fakes share the immutable app stack -------------------------------------------------------

def tickers_during_lifespan(app: Any) -> int:
    """Run ``app``'s lifespan; how many ticker threads were running between startup and shutdown."""
    seen: list[int] = []

    async def receive() -> dict[str, str]:
        if not seen:
            seen.append(-1)
            return {"type": "lifespan.startup"}
        seen.append(sum(thread.name == "civitai-mock-ticker" for thread in threading.enumerate()))
        return {"type": "lifespan.shutdown"}

    async def send(message: dict[str, Any]) -> None:
        assert not message["type"].endswith(".failed"), message

    asyncio.run(app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send))
    return seen[-1]


def test_fakes_built_per_example_each_serve_and_start_their_own_fake() -> None:
    with civitai_fake(balances={"blue": 10**9}) as one, civitai_fake(speed=1000.0) as two:
        created = one.client.post(SUBMIT, params={"wait": 0}, json=BODY).json()
        assert one.client.get(f"{SUBMIT}/{created['id']}").status_code == 200
        assert two.client.get(f"{SUBMIT}/{created['id']}").status_code == 404
        assert [entry.path for entry in two.requests] == [f"{SUBMIT}/{created['id']}"]
        idle = tickers_during_lifespan(one.app)  # a virtual clock starts no ticker...
        assert tickers_during_lifespan(two.app) == idle + 1  # ...the system-clock fake's own lifespan does


def test_a_fake_per_example_starts_no_thread_until_it_sends_a_webhook() -> None:
    def background() -> set[threading.Thread]:
        return {thread for thread in threading.enumerate() if thread.name.startswith("civitai-mock")}

    before = background()
    with civitai_fake(balances={"blue": 10**9}) as mock:
        finished_workflow(mock)
        mock.reset()  # play() resets every example: nothing in flight, so nothing to start or cancel
        assert background() == before
        mock.webhooks.route("https://hooks.test/", echo_app())
        mock.client.post(SUBMIT, params={"wait": 0}, json={**BODY, "callbacks": [
            {"url": "https://hooks.test/echo", "type": ["workflow:succeeded"]}]})
        mock.advance(3600)
        assert len(mock.webhooks.deliveries()) == 1 and len(background() - before) == 1  # the sender's loop
        mock.reset()
    assert background() == before


# --- closing -----------------------------------------------------------------------------------------

def test_closing_a_client_keeps_the_transport_and_closing_the_handle_ends_it() -> None:
    with civitai_fake() as mock:
        extra = mock.sync_client(token="other")
        assert extra.get(f"{SUBMIT}/nope").status_code == 404
        extra.close()
        again = mock.sync_client(token="other")
        assert again.get(f"{SUBMIT}/nope").status_code == 404 and mock.client.get(f"{SUBMIT}/nope").status_code == 404
    with pytest.raises(RuntimeError, match="shut down"):  # a client made after the handle closed
        mock.sync_client().get(f"{SUBMIT}/nope")


def test_shutdown_stops_the_portal_and_is_idempotent() -> None:
    with civitai_fake() as mock:
        transport = SyncASGITransport(mock.app)
        client = httpx.Client(transport=transport, base_url=REAL_BASE_URL, headers=mock.headers)

        async def call() -> int:
            return client.get(f"{SUBMIT}/nope").status_code

        assert asyncio.run(call()) == 404 and transport.uses_portal
        portals = [t for t in threading.enumerate() if t.name == "civitai-mock-portal"]
        transport.shutdown()
        transport.shutdown()
        assert not transport.uses_portal and not any(t.is_alive() for t in portals)


FORK_SCRIPT = """
import os, sys
from civitai_mock import civitai_fake
body = {"steps": [{"$type": "videoGen", "input": {"engine": "kling-v3", "prompt": "[mock:runtime=30] a fox"}}]}
with civitai_fake(balances={"blue": 10**9}) as mock:
    mock.client.get("/v2/consumer/workflows/nope")  # this thread's loop exists before the fork
    pid = os.fork()
    if pid == 0:  # the child holds a wait=N request, then exits normally (atexit runs)
        print("child", mock.client.post("/v2/consumer/workflows", params={"wait": 100}, json=body).json()["status"])
        sys.exit(0)
    os.waitpid(pid, 0)
    print("parent", mock.client.post("/v2/consumer/workflows", params={"wait": 100}, json=body).json()["status"])
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_uses_its_own_loop_and_leaves_the_parents_working() -> None:
    # the parent's loop shares its epoll set and wake-up pipe with a child; a child closing it (at exit)
    # would leave the parent's next held request (woken through that pipe) hanging
    done = subprocess.run([sys.executable, "-c", FORK_SCRIPT], capture_output=True, text=True, timeout=HANG,
                          check=False)
    assert done.stdout.split("\n")[:2] == ["child succeeded", "parent succeeded"], done.stderr[-2000:]


def test_loops_of_finished_threads_are_closed_when_another_thread_makes_one() -> None:
    made: list[asyncio.AbstractEventLoop] = []
    with civitai_fake() as mock:
        def call() -> None:
            mock.client.get(f"{SUBMIT}/nope")
            made.append(thread_loop())

        for _ in range(2):
            thread = threading.Thread(target=call)
            thread.start()
            thread.join(HANG)
    assert made[0].is_closed() and not made[1].is_running()
