"""Reliability on loopback: kill -9 and restart on the same database, 32 concurrent clients, a webhook
receiver that is down and comes back. Bounded in time; every server is stopped by its test."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from civitai_mock import civitai_fake
from civitai_mock.contracts.workflow import TERMINAL_STATUSES
from civitai_mock.kit.live import LiveServer, ThreadServer, free_port
from tests.waiting import wait_until

SUBMIT = "/v2/consumer/workflows"
ORDER = ["unassigned", "preparing", "scheduled", "processing", "succeeded", "failed", "expired", "canceled"]


class Recorder(ThreadServer):
    """A webhook receiver on a real socket that records every payload."""

    def __init__(self, port: int | None = None):
        self.events: list[dict[str, Any]] = []
        super().__init__(Starlette(routes=[Route("/hook", self.hook, methods=["POST"])]), port, log_level="error")
        self.hook_url = f"{self.url}/hook"

    async def hook(self, request: Request) -> Response:
        self.events.append(await request.json())
        return Response(status_code=204)


def assert_in_lifecycle_order(events: list[dict[str, Any]], workflow_ids: list[str]) -> None:
    """Each workflow's events never go backwards and end terminal (a resent event may repeat)."""
    for workflow_id in workflow_ids:
        statuses = [e["status"] for e in events if e["workflowId"] == workflow_id]
        ranks = [ORDER.index(s) for s in statuses]
        assert ranks == sorted(ranks) and statuses and statuses[-1] in TERMINAL_STATUSES, (workflow_id, statuses)


def start_serve(db: Path, port: int) -> subprocess.Popen:
    command = [sys.executable, "-m", "civitai_mock.mock_server.server.cli", "serve", "--port", str(port), "--db", str(db),
               "--speed", "30", "--seed", "3", "--log-level", "warning"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/_mock/clock", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"serve did not start: {process.stderr.read().decode() if process.stderr else ''}")


@pytest.mark.slow
def test_kill_dash_nine_and_restart_keeps_every_accepted_workflow(tmp_path: Path) -> None:
    db, port = tmp_path / "state.db", free_port()
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": "Bearer crash-test"}
    with Recorder() as receiver:
        server = start_serve(db, port)
        try:
            accepted = []
            for i in range(30):
                body = {"steps": [{"$type": "videoGen", "input": {"engine": "kling-v3",
                                                                  "prompt": f"[mock:runtime={30 + 5 * i}] clip {i}"}}],
                        "callbacks": [{"url": receiver.hook_url, "type": ["workflow:*"]}]}
                answer = httpx.post(f"{base}{SUBMIT}?wait=0", json=body, headers=headers)
                assert answer.status_code == 202
                accepted.append(answer.json()["id"])
            httpx.put(f"{base}/_mock/accounts/crash-test", json={"yellow": 4242})
            def statuses() -> dict[str, str]:
                return {w: httpx.get(f"{base}{SUBMIT}/{w}", headers=headers).json()["status"] for w in accepted}

            # kill it while some have finished (30x speed) and some are still running
            wait_until(lambda: any(s in TERMINAL_STATUSES for s in statuses().values()), 30, "a first finished workflow")
            before = statuses()
            assert any(s not in TERMINAL_STATUSES for s in before.values())
        finally:
            os.kill(server.pid, signal.SIGKILL)
            server.wait(timeout=10)
        server = start_serve(db, port)
        try:
            after = {w: httpx.get(f"{base}{SUBMIT}/{w}", headers=headers).json()["status"] for w in accepted}
            for workflow_id, status in before.items():
                assert ORDER.index(after[workflow_id]) >= ORDER.index(status), (workflow_id, status, after[workflow_id])
                if status in TERMINAL_STATUSES:
                    assert after[workflow_id] == status
            assert httpx.get(f"{base}/_mock/accounts/crash-test").json()["yellow"] == 4242

            def all_done() -> bool:
                finished = all(s in TERMINAL_STATUSES for s in statuses().values())
                terminal_events = {e["workflowId"] for e in receiver.events if e["status"] in TERMINAL_STATUSES}
                return finished and terminal_events >= set(accepted)

            wait_until(all_done, 60, "every workflow to end and its terminal webhook to arrive", every=0.5)
            listed = httpx.get(f"{base}{SUBMIT}", params={"take": 100}, headers=headers).json()["items"]
            assert sorted(w["id"] for w in listed) == sorted(accepted)
        finally:
            server.terminate()
            server.wait(timeout=10)
    assert_in_lifecycle_order(receiver.events, accepted)


@pytest.mark.slow
def test_32_concurrent_clients_lose_and_duplicate_nothing() -> None:
    with civitai_fake(balances={"blue": 10**9}) as mock, Recorder() as receiver:
        server = LiveServer(mock).start()
        try:
            async def client(number: int) -> list[str]:
                ids = []
                async with httpx.AsyncClient(base_url=server.url, timeout=30,
                                             headers={"Authorization": f"Bearer client-{number % 4}"}) as http:
                    for i in range(100):
                        body = {"steps": [{"$type": "videoGen", "input": {
                            "engine": "kling-v3", "prompt": f"[mock:runtime={10 + (number * 7 + i) % 300}] c{number}"}}],
                            "callbacks": [{"url": receiver.hook_url, "type": ["workflow:*"]}]} if i % 10 == 0 else {
                            "steps": [{"$type": "videoGen", "input": {"engine": "kling", "model": "v2", "prompt": "x"}}]}
                        answer = await http.post(f"{SUBMIT}?wait=0", json=body)
                        assert answer.status_code == 202, answer.text
                        ids.append(answer.json()["id"])
                return ids

            async def everyone() -> list[list[str]]:
                return await asyncio.gather(*(client(n) for n in range(32)))

            results = asyncio.run(everyone())
            all_ids = [i for ids in results for i in ids]
            assert len(all_ids) == 3200 and len(set(all_ids)) == 3200
            first_seen = {w: f"client-{n % 4}" for n, ids in enumerate(results) for w in ids[:3]}
            httpx.post(f"{server.url}/_mock/clock/advance", json={"seconds": 4 * 3600}, timeout=120)
            for tenant in range(4):
                seen, cursor = [], ""
                with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer client-{tenant}"}) as http:
                    while True:
                        page = http.get(SUBMIT, params={"take": 500, **({"cursor": cursor} if cursor else {})}).json()
                        seen += [(w["id"], w["status"]) for w in page["items"]]
                        cursor = page["next"]
                        if not cursor:
                            break
                assert len(seen) == 800 and len({s[0] for s in seen}) == 800
                assert all(status == "succeeded" for _, status in seen)
            assert all(mock.engine.view(tenant, w)["status"] == "succeeded" for w, tenant in first_seen.items())
        finally:
            server.stop()
        with_callbacks = [ids[i] for ids in results for i in range(0, 100, 10)]
        assert_in_lifecycle_order(receiver.events, with_callbacks)
        assert sum(1 for e in receiver.events if e["status"] == "succeeded") == len(with_callbacks)


def test_receiver_down_for_a_while_then_back_loses_and_reorders_nothing() -> None:
    port = free_port()
    with civitai_fake(webhook_timeout=1.0) as mock:
        ids = []
        for i in range(5):
            body = {"steps": [{"$type": "videoGen", "input": {"engine": "kling-v3", "prompt": f"[mock:runtime=30] {i}"}}],
                    "callbacks": [{"url": f"http://127.0.0.1:{port}/hook", "type": ["workflow:*", "job:*"]}]}
            ids.append(mock.client.post(SUBMIT, json=body).json()["id"])
        mock.advance(20)  # nobody listens yet: attempts fail with connection errors
        refused = [a for a in mock.webhooks.inbox() if a["error"]]
        assert refused and all(a["statusCode"] is None for a in refused)
        with Recorder(port) as receiver:
            mock.advance(3600)
            assert mock.webhooks.pending() == 0
        assert_in_lifecycle_order([e for e in receiver.events if e["$type"] == "workflow"], ids)
        assert {e["workflowId"] for e in receiver.events if e["status"] == "succeeded"} == set(ids)


@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_cli_help_and_version(flag: str) -> None:
    run = subprocess.run([sys.executable, "-m", "civitai_mock.mock_server.server.cli", flag], capture_output=True, text=True, timeout=30)
    assert run.returncode == 0 and ("civitai-mock" in run.stdout)
    serve_help = subprocess.run([sys.executable, "-m", "civitai_mock.mock_server.server.cli", "serve", "--help"], capture_output=True,
                                text=True, timeout=30).stdout
    for option in ("--host", "--port", "--speed", "--seed", "--db", "--memory", "--url-ttl", "--tokens", "--log-level"):
        assert option in serve_help
