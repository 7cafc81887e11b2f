"""The client-side commands: ``civitai-mock verify`` (drift) and ``civitai-mock lint`` (a client's traffic)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import httpx

from civitai_mock.contracts.drift import table
from civitai_mock.contracts.drift import verify as run_probes
from civitai_mock.mock_server.server.cli import UsageProblem


def _reachable(http: httpx.Client, base_url: str) -> None:
    """One clear line when nothing answers at ``base_url``."""
    try:
        http.get("/openapi.json")
    except httpx.HTTPError as exc:
        raise UsageProblem(f"cannot reach {base_url} ({type(exc).__name__}: {exc})") from None


def verify(args: argparse.Namespace) -> int:
    """Run the drift probes and print the conformance table."""
    interactive = sys.stderr.isatty()

    def progress(done: int, total: int) -> None:
        if interactive:
            print(f"\r{done}/{total} probes", end="" if done < total else "\n", file=sys.stderr, flush=True)
        elif done == total or done % 50 == 0:
            print(f"{done}/{total} probes", file=sys.stderr, flush=True)

    headers = {"Authorization": f"Bearer {args.token}"}
    with httpx.Client(base_url=args.base_url, headers=headers, timeout=30) as http:
        _reachable(http, args.base_url)
        results = run_probes(http, progress)
    unreachable = [r for r in results if r.status is None]
    if unreachable and len(unreachable) == len(results):
        raise UsageProblem(f"cannot reach {args.base_url}: every probe failed ({unreachable[0].drift[0]})")
    print(table(results, args.all))
    return 1 if any(r.drift for r in results) else 0


def _problem_text(response: httpx.Response) -> str:
    """The messages of a problem+json answer (its ``errors``, else its ``detail``), on one line."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:200]
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, dict) and errors:
        return "; ".join(str(message) for messages in errors.values() for message in messages)
    return str(body.get("detail") or body.get("title") or "") if isinstance(body, dict) else ""


def lint(args: argparse.Namespace) -> int:
    """Print a running fake's ``GET /_mock/lint`` report (grouped; JSON with ``--json``); 1 unless it conforms."""
    params: dict[str, Any] = {"ignore": list(args.ignore), "strict": str(bool(args.strict)).lower(),
                              "every": str(bool(args.json)).lower()}
    if args.token:
        params["token"] = args.token
    headers = {"X-Control-Token": args.control_token} if args.control_token else {}
    with httpx.Client(base_url=args.base_url, headers=headers, timeout=30) as http:
        _reachable(http, args.base_url)
        response = http.get("/_mock/lint", params=params)
    if response.status_code == 401:
        raise UsageProblem(f"{args.base_url} needs its control token for /_mock/lint: pass --control-token")
    if response.status_code == 400:
        raise UsageProblem(_problem_text(response))
    if response.status_code != 200:
        raise UsageProblem(f"{args.base_url}/_mock/lint answered {response.status_code}; is it a civitai-mock?")
    report = response.json()
    print(json.dumps(report, indent=2) if args.json else report["text"])
    return 0 if report["conforms"] else 1
