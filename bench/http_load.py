"""HTTP throughput: the fake vs a bare Starlette app, same uvicorn settings, same load generator."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.bare_app import ANSWERS_VARIABLE
from bench.report import Figure
from civitai_mock.kit.live import free_port

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench"
BODY = {"steps": [{"$type": "videoGen", "input": {"engine": "kling-v3", "operation": "text-to-video",
                                                  "prompt": "a lighthouse in a storm", "duration": 5}}]}
UVICORN = ["--loop", "uvloop", "--http", "httptools", "--workers", "1", "--log-level", "warning", "--no-access-log"]
FAKE_APP = "bench.serve_fake:app"
#: The fake with its submit and view cut down to the least a fake must do (``bench/floor_fake.py``).
FLOOR_APP = "bench.floor_fake:app"


def _start(app: str, port: int, **environment: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **environment}
    process = subprocess.Popen([sys.executable, "-m", "uvicorn", app, "--port", str(port), *UVICORN], cwd=ROOT,
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/v2/consumer/workflows/warmup", timeout=1)
            return process
        except httpx.HTTPError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"{app} did not start")


def _wrk(url: str, seconds: int, body: dict | None) -> float:
    """Requests/s measured by wrk (one thread, 32 connections)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(f'wrk.headers["Authorization"] = "Bearer {TOKEN}"\n')
        if body is not None:
            script.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n')
            script.write(f"wrk.body = {json.dumps(json.dumps(body))}\n")
    out = subprocess.run(["wrk", "-t1", "-c32", f"-d{seconds}s", "-s", script.name, url], capture_output=True,
                         text=True, check=True).stdout
    os.unlink(script.name)
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


async def _python_load(url: str, seconds: int, body: dict | None) -> float:
    """Requests/s from 32 keep-alive asyncio connections (when wrk is absent)."""
    done = 0
    stop = time.monotonic() + seconds
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"},
                                 limits=httpx.Limits(max_connections=32)) as http:
        async def worker() -> None:
            nonlocal done
            while time.monotonic() < stop:
                await (http.post(url, json=body) if body is not None else http.get(url))
                done += 1
        await asyncio.gather(*(worker() for _ in range(32)))
    return done / seconds


def measure(url: str, seconds: int, body: dict | None = None) -> float:
    """Requests/s against ``url`` with the best available load generator."""
    if shutil.which("wrk"):
        return _wrk(url, seconds, body)
    return asyncio.run(_python_load(url, seconds, body))


def fake_answers(port: int) -> dict[str, Any]:
    """Submit the benchmark's body to the fake served on ``port`` and read that workflow back: the two
    answers (``{"post": ..., "get": ...}``) the bare app gives, and the workflow the GET load reads."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    posted = httpx.post(f"http://127.0.0.1:{port}/v2/consumer/workflows", json=BODY, headers=headers)
    posted.raise_for_status()
    got = httpx.get(f"http://127.0.0.1:{port}/v2/consumer/workflows/{posted.json()['id']}", headers=headers)
    got.raise_for_status()
    return {"post": posted.json(), "get": got.json()}


def run(seconds: int = 5, rounds: int = 3) -> list[Figure]:
    """GET and POST requests/s of the fake, each against the bare app in the same run; and the POST of
    the fake cut down to its floor (what any submit must do), to show how much of the gap to the bare
    app is the engine's.

    The machine's speed drifts from second to second, so the loads alternate: ``rounds`` rounds of
    ``seconds / rounds`` each (fake, bare, floor in turn), and every figure is the median of its rounds.
    Both fakes take the same GET load before their POST load, so their processes have the same history.
    """
    generator = "wrk" if shutil.which("wrk") else "python asyncio"
    each = max(1, round(seconds / rounds))
    fake_port, bare_port, floor_port = free_port(), free_port(), free_port()
    fake, floor = _start(FAKE_APP, fake_port), _start(FLOOR_APP, floor_port)
    bare = None
    found: dict[str, list[float]] = {name: [] for name in ("ours_get", "bare_get", "ours_post", "bare_post",
                                                          "floor_post")}
    try:
        answers = {port: fake_answers(port) for port in (fake_port, floor_port)}
        with tempfile.TemporaryDirectory() as scratch:  # the bare app gives the fake's own answers
            kept = Path(scratch) / "answers.json"
            kept.write_text(json.dumps(answers[fake_port]))
            bare = _start("bench.bare_app:app", bare_port, **{ANSWERS_VARIABLE: str(kept)})
        reads = {port: f"http://127.0.0.1:{port}/v2/consumer/workflows/{answers[port]['get']['id']}"
                 for port in (fake_port, floor_port)}
        for _ in range(rounds):
            found["ours_get"].append(measure(reads[fake_port], each))
            found["bare_get"].append(measure(f"http://127.0.0.1:{bare_port}/v2/consumer/workflows/any", each))
            measure(reads[floor_port], each)  # the floor's process gets the same history as the fake's
        for _ in range(rounds):
            found["ours_post"].append(measure(f"http://127.0.0.1:{fake_port}/v2/consumer/workflows?wait=0", each,
                                              BODY))
            found["bare_post"].append(measure(f"http://127.0.0.1:{bare_port}/v2/consumer/workflows", each, BODY))
            found["floor_post"].append(measure(f"http://127.0.0.1:{floor_port}/v2/consumer/workflows?wait=0", each,
                                               BODY))
    finally:
        for process in (fake, bare, floor):
            if process is None:
                continue
            process.terminate()
            process.wait(timeout=10)
    ours_get, bare_get, ours_post, bare_post, floor_post = (statistics.median(v) for v in found.values())
    return [
        Figure(f"GET workflow req/s ({generator})", ours_get, "req/s", bare_get, "bare Starlette GET", ">= 0.7x",
               ours_get / bare_get >= 0.7),
        Figure(f"POST submit req/s ({generator})", ours_post, "req/s", bare_post, "bare Starlette POST", ">= 0.5x",
               ours_post / bare_post >= 0.5),
        Figure(f"POST floor req/s ({generator})", floor_post, "req/s", bare_post, "bare Starlette POST"),
        Figure("POST submit vs its floor", ours_post, "req/s", floor_post, "floor_fake.py POST"),
    ]
