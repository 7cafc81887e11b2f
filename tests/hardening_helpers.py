"""Helpers for tests/test_hardening.py: served fakes as subprocesses, webhook receivers on real sockets.

Nothing here imports the product: the fake is driven through its console script and over HTTP only,
so these helpers survive a restructuring of the package (module names, fixtures).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

SUBMIT = "/v2/consumer/workflows"
#: The console script of the venv running the tests (``.venv/bin/civitai-mock``).
CLI = str(Path(sys.executable).with_name("civitai-mock"))
STATUS_ORDER = ["unassigned", "preparing", "scheduled", "processing", "succeeded", "failed", "expired", "canceled"]
TERMINAL = {"succeeded", "failed", "expired", "canceled"}


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def video_body(prompt: str = "a fox", callbacks: list[dict[str, Any]] | None = None,
               **extra: Any) -> dict[str, Any]:
    """A minimal valid SubmitWorkflow body (one kling-v3 step, 5 s standard)."""
    body: dict[str, Any] = {"steps": [{"$type": "videoGen", "input": {"engine": "kling-v3", "prompt": prompt,
                                                                      "duration": 5}}], **extra}
    if callbacks is not None:
        body["callbacks"] = callbacks
    return body


def nested(depth: int, leaf: Any = 1) -> Any:
    """``{"a": {"a": ... leaf}}`` ``depth`` levels deep."""
    value = leaf
    for _ in range(depth):
        value = {"a": value}
    return value


def nested_text(depth: int) -> str:
    """The JSON text of ``nested(depth)`` (built as text: no recursion in the test itself)."""
    return '{"a":' * depth + "1" + "}" * depth


class Served:
    """``civitai-mock serve`` in a subprocess on a free 127.0.0.1 port; stop() always kills it."""

    def __init__(self, *args: str, port: int | None = None, memory: bool = True, db: Path | None = None,
                 control_token: str | None = None, ready_timeout: float = 20.0):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.control_token = control_token
        self.args = list(args)
        self.memory, self.db, self.ready_timeout = memory, db, ready_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self._out = self._err = None
        self._final_out: str | None = None
        self._final_err: str | None = None
        self._folder: Path | None = None
        self._own_folder = False

    @property
    def command(self) -> list[str]:
        """The full command line."""
        store = ["--db", str(self.db)] if self.db is not None else (["--memory"] if self.memory else [])
        return [CLI, "serve", "--host", "127.0.0.1", "--port", str(self.port), *store, "--log-level", "warning",
                *self.args]

    def start(self, tmp: Path | None = None) -> "Served":
        """Start and wait until the port answers HTTP (any status); raise RuntimeError if it exits."""
        import tempfile

        self._folder = Path(tmp) if tmp is not None else Path(tempfile.mkdtemp(prefix="civitai-mock-hardening-"))
        self._own_folder = tmp is None
        self._out = open(self._folder / f"serve-{self.port}.out", "w+b")
        self._err = open(self._folder / f"serve-{self.port}.err", "w+b")
        self.process = subprocess.Popen(self.command, stdout=self._out, stderr=self._err,
                                        env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.stop()
                raise RuntimeError(f"serve exited with {self.process.returncode}: {self.stderr()[-2000:]}")
            try:
                httpx.get(f"{self.url}/openapi.json", timeout=1)
                return self
            except httpx.HTTPError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"serve did not start on {self.url}: {self.stderr()[-2000:]}")

    def _read(self, handle: Any, final: str | None) -> str:
        if final is not None:
            return final
        if handle is None:
            return ""
        handle.flush()
        return Path(handle.name).read_text(errors="replace")

    def stdout(self) -> str:
        """Everything printed to stdout so far."""
        return self._read(self._out, self._final_out)

    def stderr(self) -> str:
        """Everything printed to stderr so far."""
        return self._read(self._err, self._final_err)

    def control_headers(self) -> dict[str, str]:
        """Headers for /_mock when a control token is set (sent as a bearer token)."""
        return {"Authorization": f"Bearer {self.control_token}"} if self.control_token else {}

    def control(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A /_mock request with the control token (if any)."""
        headers = {**self.control_headers(), **kwargs.pop("headers", {})}
        return httpx.request(method, f"{self.url}{path}", headers=headers, timeout=kwargs.pop("timeout", 10), **kwargs)

    def client(self, token: str, timeout: float = 10) -> httpx.Client:
        """A consumer client for one tenant."""
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout)

    def rss_kib(self) -> int:
        """Resident set size of the served process, KiB (Linux /proc)."""
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def stop(self) -> None:
        """Terminate (then kill) the process; keep its output in memory and remove its temp files."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self._out is not None and self._final_out is None:
            self._final_out, self._final_err = self.stdout(), self.stderr()
            for handle in (self._out, self._err):
                handle.close()
            if self._own_folder:
                shutil.rmtree(self._folder, ignore_errors=True)

    def __enter__(self) -> "Served":
        return self.start() if self.process is None else self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def run_serve(*args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    """Run ``civitai-mock serve ARGS`` expecting it to exit by itself (e.g. refusing to start)."""
    return subprocess.run([CLI, "serve", "--host", "127.0.0.1", "--log-level", "warning", *args],
                          capture_output=True, text=True, timeout=timeout)


class Receiver:
    """A webhook receiver on a real socket (uvicorn in a thread) recording every payload in order."""

    def __init__(self, delay: float = 0.0):
        self.events: list[dict[str, Any]] = []
        self.received_at: list[float] = []
        self.delay = delay
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self._lock = threading.Lock()
        app = Starlette(routes=[Route("/hook", self._hook, methods=["POST"]),
                                Route("/redirect", self._redirect, methods=["POST"])])
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="critical",
                                                    access_log=False, lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.redirect_to: str | None = None

    async def _hook(self, request: Request) -> Response:
        try:
            event = json.loads(await request.body())
        except ClientDisconnect:  # the sender gave up on this attempt; it will retry
            return Response(status_code=499)
        with self._lock:
            self.events.append(event)
            self.received_at.append(time.monotonic())
        if self.delay:
            import asyncio

            await asyncio.sleep(self.delay)
        return Response(status_code=204)

    async def _redirect(self, request: Request) -> Response:
        await request.body()
        with self._lock:
            self.events.append({"$redirected": True})
        return Response(status_code=307, headers={"Location": self.redirect_to or "/hook"})

    def snapshot(self) -> list[dict[str, Any]]:
        """A copy of the events so far."""
        with self._lock:
            return list(self.events)

    def __enter__(self) -> "Receiver":
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("receiver did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)


class HangingReceiver:
    """Accepts connections and reads requests but never answers (a receiver that hangs forever)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1024)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.connections: list[socket.socket] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections.append(conn)  # held open, never answered

    def __enter__(self) -> "HangingReceiver":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self.thread.join(timeout=5)
        for conn in self.connections:
            conn.close()
        self.sock.close()


def by_workflow(events: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Statuses received per workflow id, in arrival order."""
    seen: dict[str, list[str]] = {}
    for event in events:
        if "workflowId" in event:
            seen.setdefault(event["workflowId"], []).append(event["status"])
    return seen


def monotonic(statuses: list[str]) -> bool:
    """True when a status sequence never goes back in the lifecycle (repeats allowed)."""
    ranks = [STATUS_ORDER.index(s) if s in STATUS_ORDER else -1 for s in statuses]
    return ranks == sorted(ranks)


def is_problem(response: httpx.Response, low: int = 400, high: int = 499) -> bool:
    """A problem+json answer with a status in [low, high]."""
    media = response.headers.get("content-type", "").split(";")[0].strip()
    return low <= response.status_code <= high and media == "application/problem+json"


def describe(response: httpx.Response) -> str:
    """Short description of a response for assertion messages."""
    return f"{response.request.method} {response.request.url} -> {response.status_code} " \
           f"{response.headers.get('content-type')} {response.text[:300]!r}"


JSON = {"content-type": "application/json"}
#: The control token used by tests that set one. The issue does not name the header a control
#: request carries it in: we send it as ``Authorization: Bearer <token>`` (the obvious choice) and
#: also as ``X-Control-Token`` so that either implementation passes.
CONTROL = "ctl-hardening-7f3a9c1e5b"


def control_headers(token: str = CONTROL) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "X-Control-Token": token}


def call(client: httpx.Client, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """A request through the in-process client; an exception raised by the app is a 500 over HTTP."""
    try:
        return client.request(method, url, **kwargs)
    except httpx.HTTPError:
        raise
    except Exception as exc:  # the in-process transport re-raises what the app's 500 handler saw
        pytest.fail(f"{method} {url}: the fake crashed with {type(exc).__name__}: {str(exc)[:200]} "
                    f"(a 500 over HTTP)")


def balances(client: httpx.Client, token: str) -> dict[str, int]:
    """A tenant's Buzz balances through the control API."""
    r = call(client, "GET", f"/_mock/accounts/{token}")
    assert r.status_code == 200, describe(r)
    return r.json()


def assert_4xx_problem(r: httpx.Response) -> None:
    assert r.status_code != 500, f"500 where a 4xx problem+json belongs: {describe(r)}"
    assert is_problem(r), f"expected a 4xx application/problem+json: {describe(r)}"


def one_clear_line(stderr: str) -> list[str]:
    """The non-empty lines of stderr (a clear refusal is exactly one, with no traceback)."""
    return [line for line in stderr.splitlines() if line.strip()]
