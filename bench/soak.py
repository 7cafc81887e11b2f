"""``make soak``: a served fake at high speed, N workflows with callbacks, every event delivered in order.

    python -m bench.soak [--workflows 10000] [--speed 1000] [--hanging 300]

Starts ``civitai-mock serve`` (a subprocess) and two receivers on 127.0.0.1: a healthy one, and one
that never answers for ``--hanging`` workflows of another tenant. Prints how long the healthy
receiver took to get every workflow's events, checks their order, and the delivery rate.
Exits 1 when an event is missing or out of order.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import uvicorn

ORDER = ["unassigned", "preparing", "scheduled", "processing", "succeeded", "failed", "expired", "canceled"]
SUBMIT = "/v2/consumer/workflows"


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Receiver:
    """A raw ASGI webhook receiver on a real socket (healthy, or hanging forever)."""

    def __init__(self, hang: bool = False):
        self.hang, self.port = hang, free_port()
        self.events: dict[str, list[str]] = {}
        self.count = 0
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="error",
                                                    lifespan="off", access_log=False, interface="asgi3"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    async def app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Record ``workflowId`` → statuses; answer 204 (or never)."""
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if self.hang:
            await asyncio.sleep(3600)
        event = orjson.loads(body)
        self.events.setdefault(event["workflowId"], []).append(event["status"])
        self.count += 1
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    def __enter__(self) -> "Receiver":
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)


def serve(speed: float) -> tuple[subprocess.Popen[bytes], str]:
    """``civitai-mock serve`` on a free port, in memory; returns (process, base URL) once it answers."""
    port = free_port()
    cli = str(Path(sys.executable).with_name("civitai-mock"))
    process = subprocess.Popen([cli, "serve", "--memory", "--port", str(port), "--speed", str(speed),
                                "--log-level", "error"], stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/_mock/clock", timeout=1)
            return process, url
        except httpx.HTTPError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit("serve did not start")


async def submit_all(url: str, tenant: str, hook: str, count: int) -> list[str]:
    """Submit ``count`` workflows with a ``workflow:*`` callback, 32 at a time."""
    ids: list[str] = []
    body = {"steps": [{"$type": "videoGen", "input": {"engine": "kling-v3", "prompt": "[mock:runtime=60] soak"}}],
            "callbacks": [{"url": hook, "type": ["workflow:*"]}]}
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {tenant}"}, timeout=60) as http:
        async def one() -> None:
            answer = await http.post(SUBMIT, params={"wait": 0}, json=body)
            answer.raise_for_status()
            ids.append(answer.json()["id"])

        for start in range(0, count, 32):
            await asyncio.gather(*(one() for _ in range(min(32, count - start))))
    return ids


def main(argv: list[str] | None = None) -> int:
    """Run the soak and print its figures."""
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workflows", type=int, default=10_000)
    parser.add_argument("--speed", type=float, default=1000)
    parser.add_argument("--hanging", type=int, default=300, help="workflows of another tenant calling a dead receiver")
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args(argv)
    process, url = serve(args.speed)
    try:
        with Receiver() as healthy, Receiver(hang=True) as hanging:
            for tenant in ("soak", "stuck"):
                httpx.put(f"{url}/_mock/accounts/{tenant}", json={"blue": 10**12})
            started = time.monotonic()
            if args.hanging:
                asyncio.run(submit_all(url, "stuck", f"http://127.0.0.1:{hanging.port}/hook", args.hanging))
            ids = asyncio.run(submit_all(url, "soak", f"http://127.0.0.1:{healthy.port}/hook", args.workflows))
            submitted = time.monotonic() - started
            print(f"submitted {args.workflows} workflows (+{args.hanging} to a hanging receiver) in {submitted:.1f} s",
                  flush=True)
            deadline = started + args.timeout
            while time.monotonic() < deadline:
                done = sum(1 for i in ids if healthy.events.get(i, [""])[-1] in ("succeeded", "failed"))
                print(f"\r{done}/{len(ids)} workflows fully delivered, {healthy.count} events", end="", flush=True)
                if done == len(ids):
                    break
                time.sleep(0.5)
            took = time.monotonic() - started
            print()
    finally:
        process.terminate()
        process.wait(timeout=10)
    missing = [i for i in ids if healthy.events.get(i, [""])[-1] not in ("succeeded", "failed")]
    disordered = [i for i in ids if [ORDER.index(s) for s in healthy.events.get(i, [])] !=
                  sorted(ORDER.index(s) for s in healthy.events.get(i, []))]
    print(f"every event of {len(ids) - len(missing)}/{len(ids)} workflows in {took:.1f} s "
          f"({healthy.count / took:,.0f} deliveries/s) beside {args.hanging} workflows calling a hanging receiver; "
          f"out of order: {len(disordered)}")
    return 1 if missing or disordered else 0


if __name__ == "__main__":
    sys.exit(main())
