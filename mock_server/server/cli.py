"""``civitai-mock``: serve the fake, check a client's traffic, or check a server for drift."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Sequence

from civitai_mock.mock_server import __version__
from civitai_mock.mock_server.engine.blobs import DEFAULT_URL_TTL

DEFAULT_HOST, DEFAULT_PORT, DEFAULT_SPEED, DEFAULT_DB = "127.0.0.1", 8400, 10.0, "civitai-mock.db"


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive number")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(prog="civitai-mock", description=(
        "Offline fake of Civitai's orchestration API (videoGen step, Kling engines) and a kit that tests "
        "clients against the documented contract."))
    parser.add_argument("--version", action="version", version=f"civitai-mock {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the fake HTTP server", description=(
        "Run the fake on HOST:PORT. Point your client's base URL at it (e.g. http://127.0.0.1:8400) and use any "
        "bearer token: each token is its own tenant. The control API is under /_mock."))
    serve.add_argument("--host", default=DEFAULT_HOST, help=f"interface to bind (default {DEFAULT_HOST})")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to bind (default {DEFAULT_PORT})")
    serve.add_argument("--speed", type=_positive, default=DEFAULT_SPEED, help=(
        f"time acceleration: a 3-minute Kling job takes 3/SPEED minutes of wall time (default {DEFAULT_SPEED:g})"))
    serve.add_argument("--seed", type=int, default=0, help="seed for ids, timings and outcomes (default 0)")
    store = serve.add_mutually_exclusive_group()
    store.add_argument("--db", default=DEFAULT_DB, metavar="PATH",
                       help=f"SQLite file keeping workflows across restarts (default ./{DEFAULT_DB})")
    store.add_argument("--memory", action="store_true", help="keep state in memory only (lost on exit)")
    serve.add_argument("--url-ttl", type=_positive, default=DEFAULT_URL_TTL, metavar="SECONDS",
                       help=f"lifetime of signed blob URLs in clock seconds (default {DEFAULT_URL_TTL:g})")
    serve.add_argument("--tokens", metavar="T1,T2", help="accept only these bearer tokens (default: any non-empty token)")
    serve.add_argument("--no-http-callbacks", action="store_true",
                       help="refuse plain-http callback URLs even on loopback (the real service accepts https only)")
    serve.add_argument("--public-url", metavar="URL", help="base URL used in webhook payloads (default http://HOST:PORT)")
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"],
                       help="log verbosity; info logs one line per request and per webhook attempt (default info)")

    verify = commands.add_parser("verify", help="check a server against the contract (whatif only, spends no Buzz)",
                                 description=(
        "Probe a server with every documented validation error and every price-table cell, using whatif=true "
        "only, and print a conformance table; exits 1 on drift. Against the real API: "
        "civitai-mock verify --base-url https://orchestration.civitai.com --token $CIVITAI_TOKEN"))
    verify.add_argument("--base-url", default=f"http://{DEFAULT_HOST}:{DEFAULT_PORT}", help="server to check")
    verify.add_argument("--token", default="verify", help="bearer token (any token for the fake)")
    verify.add_argument("--all", action="store_true", help="list passing probes too")

    lint = commands.add_parser("lint", help="judge a client's traffic recorded by a running fake", description=(
        "Read the request log and webhook inbox of a running fake (/_mock/requests, /_mock/webhooks) and "
        "report every broken client rule; exits 1 on violations."))
    lint.add_argument("--base-url", default=f"http://{DEFAULT_HOST}:{DEFAULT_PORT}", help="the running fake")
    lint.add_argument("--token", help="only this tenant's traffic (default: everyone's)")
    return parser


def verify(args: argparse.Namespace) -> int:
    """Run the drift probes and print the conformance table."""
    import httpx
    from civitai_mock.contracts.drift import table
    from civitai_mock.contracts.drift import verify as run

    def progress(done: int, total: int) -> None:
        if sys.stderr.isatty() or done == total or done % 50 == 0:
            print(f"\r{done}/{total} probes", end="" if done < total else "\n", file=sys.stderr, flush=True)

    with httpx.Client(base_url=args.base_url, headers={"Authorization": f"Bearer {args.token}"}, timeout=30) as http:
        results = run(http, progress)
    print(table(results, args.all))
    return 1 if any(r.drift for r in results) else 0


def lint(args: argparse.Namespace) -> int:
    """Fetch a running fake's logs and print the linter's report."""
    import httpx
    from civitai_mock.contracts.rules import lint as judge
    from civitai_mock.contracts.rules import report

    params = {"token": args.token} if args.token else {}
    with httpx.Client(base_url=args.base_url, timeout=30) as http:
        log = http.get("/_mock/requests", params=params).raise_for_status().json()["items"]
        inbox = http.get("/_mock/webhooks", params=params).raise_for_status().json()["items"]
    violations = judge(log, inbox)
    print(report(violations))
    return 1 if violations else 0


def serve(args: argparse.Namespace) -> int:
    """Run uvicorn with the fake until interrupted."""
    import uvicorn
    from civitai_mock.mock_server.server.app import create_app
    from civitai_mock.mock_server.server.fake import Fake, FakeConfig

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    tokens = frozenset(t.strip() for t in args.tokens.split(",") if t.strip()) if args.tokens else None
    public_url = args.public_url or f"http://{args.host}:{args.port}"
    fake = Fake(FakeConfig(seed=args.seed, speed=args.speed, url_ttl=args.url_ttl, tokens=tokens,
                           allow_http_callbacks=not args.no_http_callbacks, public_url=public_url,
                           db_path=None if args.memory else args.db))
    where = "memory" if args.memory else args.db
    print(f"civitai-mock {__version__} on {public_url} (speed x{args.speed:g}, seed {args.seed}, state in {where})",
          flush=True)
    uvicorn.run(create_app(fake), host=args.host, port=args.port, log_level=args.log_level, access_log=False)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``civitai-mock`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in ("serve", "verify", "lint"):
        return {"serve": serve, "verify": verify, "lint": lint}[args.command](args)
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
