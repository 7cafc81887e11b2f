"""The client-side commands: ``civitai-mock verify`` (drift) and ``civitai-mock lint`` (a client's traffic)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import httpx

from civitai_mock.contracts import rules
from civitai_mock.contracts.drift import table
from civitai_mock.contracts.drift import verify as run_probes
from civitai_mock.mock_server.engine.requestlog import masked
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


def _items(http: httpx.Client, path: str, params: dict[str, str], base_url: str) -> list[dict[str, Any]]:
    response = http.get(path, params=params)
    if response.status_code == 401:
        raise UsageProblem(f"{base_url} needs its control token for {path}: pass --control-token")
    if response.status_code != 200:
        raise UsageProblem(f"{base_url}{path} answered {response.status_code}; is it a civitai-mock?")
    return response.json()["items"]


def lint(args: argparse.Namespace) -> int:
    """Fetch a running fake's logs and print the linter's report (grouped; JSON with ``--json``)."""
    params = {"token": args.token} if args.token else {}
    headers = {"X-Control-Token": args.control_token} if args.control_token else {}
    try:
        ignore = rules.check_rule_ids(rule.strip() for value in args.ignore for rule in value.split(",")
                                      if rule.strip())
    except ValueError as exc:
        raise UsageProblem(str(exc)) from None
    with httpx.Client(base_url=args.base_url, headers=headers, timeout=30) as http:
        _reachable(http, args.base_url)
        log = _items(http, "/_mock/requests", params, args.base_url)
        inbox = _items(http, "/_mock/webhooks", params, args.base_url)
    if args.token and not log:
        raise UsageProblem(f"no request from token {masked(args.token)} was logged by {args.base_url}: "
                           "nothing to judge (is the token right?)")
    violations = rules.lint(log, inbox, ignore=ignore, by_tenant=not args.token)
    print(json.dumps(rules.report_json(violations, every=True), indent=2) if args.json else rules.report(violations))
    return 1 if rules.failing(violations, strict=args.strict) else 0
