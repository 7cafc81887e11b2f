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
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from civitai_mock.contracts.paths import WORKFLOWS
from civitai_mock.contracts.workflow import PROGRESSION, TERMINAL_STATUSES
from civitai_mock.kit.live import ThreadServer, free_port

def complete(statuses: list[str]) -> bool:
    """True when a workflow's events are every status it went through, in order, ending terminal."""
    return tuple(statuses[:-1]) == PROGRESSION and statuses[-1:] != [] and statuses[-1] in TERMINAL_STATUSES


class Receiver(ThreadServer):
    """A raw ASGI webhook receiver on a real socket (healthy, or hanging forever)."""

    def __init__(self, hang: bool = False):
        super().__init__(self.app, name="soak-receiver", log_level="error", interface="asgi3")
        self.hang = hang
        self.events: dict[str, list[str]] = {}
        self.count = 0

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


def serve(speed: float) -> tuple[subprocess.Popen[bytes], str]:
    """``civitai-mock serve`` on a free port, in memory; returns (process, base URL) once it answers."""
    port = free_port()
    cli = str(Path(sys.executable).with_name("civitai-mock"))
    process = subprocess.Popen([cli, "serve", "--memory", "--port", str(port), "--speed", str(speed),
                                "--log-level", "error"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and process.poll() is None:
        try:
            httpx.get(f"{url}/_mock/clock", timeout=1)
            return process, url
        except httpx.HTTPError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit(f"serve did not start: {process.communicate()[1].decode(errors='replace')[-2000:]}")


async def submit_all(url: str, tenant: str, hook: str, count: int) -> list[str]:
    """Submit ``count`` workflows with a ``workflow:*`` callback, 32 at a time."""
    ids: list[str] = []
    body = {"steps": [{"$type": "videoGen", "input": {"engine": "kling-v3", "prompt": "[mock:runtime=60] soak"}}],
            "callbacks": [{"url": hook, "type": ["workflow:*"]}]}
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {tenant}"}, timeout=60) as http:
        async def one() -> None:
            answer = await http.post(WORKFLOWS, params={"wait": 0}, json=body)
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
                done = sum(1 for i in ids if complete(healthy.events.get(i, [])))
                print(f"\r{done}/{len(ids)} workflows fully delivered, {healthy.count} events", end="", flush=True)
                if done == len(ids):
                    break
                time.sleep(0.5)
            took = time.monotonic() - started
            print()
    finally:
        process.terminate()
        process.wait(timeout=10)
    missing = [i for i in ids if not complete(healthy.events.get(i, []))]
    print(f"every event of {len(ids) - len(missing)}/{len(ids)} workflows in {took:.1f} s, in order "
          f"({healthy.count / took:,.0f} deliveries/s) beside {args.hanging} workflows calling a hanging receiver")
    if missing:
        print(f"missing or out of order, e.g. {missing[0]}: {healthy.events.get(missing[0], [])}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
