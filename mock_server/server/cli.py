"""``civitai-mock``: serve the fake, check a client's traffic, or check a server for drift.

Every ``serve`` flag has an environment variable (``CIVITAI_MOCK_PORT=8400``, …) for CI service
containers; a flag given on the command line wins. Errors end in one clear line and a non-zero
exit, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Callable, Sequence

from civitai_mock.mock_server import __version__
from civitai_mock.mock_server.engine.blobs import DEFAULT_URL_TTL

DEFAULT_HOST, DEFAULT_PORT, DEFAULT_SPEED, DEFAULT_DB = "127.0.0.1", 8400, 10.0, "civitai-mock.db"
DEFAULT_HEADER_TIMEOUT = 30.0
ENV_PREFIX = "CIVITAI_MOCK_"
CLOCKS = ("system", "virtual")
LOG_LEVELS = ("debug", "info", "warning", "error")


class UsageProblem(Exception):
    """A command that cannot run as asked; its message is printed as one line."""


class Parser(argparse.ArgumentParser):
    """argparse with errors in one line (the usage is one ``--help`` away)."""

    def error(self, message: str) -> Any:  # type: ignore[override]
        """Print ``prog: error: message (see --help)`` and exit 2."""
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def port_number(text: str) -> int:
    """A TCP port, 1–65535 (0 asks for any free port)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port: use 1-65535 (0 picks a free one)")
    return port


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None


def speed_factor(text: str) -> float:
    """A speed factor: positive, or 0 for a clock that moves only when advanced."""
    value = _number(text)
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError("must be 0 (virtual clock) or a positive number")
    return value


def positive(text: str) -> float:
    """A positive number."""
    value = _number(text)
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError("must be a positive number")
    return value


def one_of(choices: Sequence[str]) -> Callable[[str], str]:
    """A converter accepting only ``choices`` (what argparse's ``choices`` checks on the command line)."""

    def convert(text: str) -> str:
        if text not in choices:
            raise argparse.ArgumentTypeError(f"must be one of {', '.join(choices)}")
        return text

    return convert


def _env(name: str, default: Any, convert: Callable[[str], Any] = str) -> Any:
    """The default of a flag: ``CIVITAI_MOCK_<NAME>`` when set, else ``default``."""
    raw = os.environ.get(ENV_PREFIX + name)
    if raw is None or raw == "":
        return default
    try:
        return convert(raw)
    except (argparse.ArgumentTypeError, ValueError) as exc:
        raise UsageProblem(f"{ENV_PREFIX}{name}={raw!r}: {exc}") from None


def _flag(name: str) -> bool:
    return _env(name, False, lambda raw: raw.strip().lower() in ("1", "true", "yes", "on"))


def _serve_parser(commands: Any) -> None:
    serve = commands.add_parser("serve", help="run the fake HTTP server", description=(
        "Run the fake on HOST:PORT. Point your client's base URL at it and send any bearer token: each token "
        "is its own tenant. The control API is under /_mock (see GET /_mock). Every flag can also be set with "
        f"an environment variable {ENV_PREFIX}<FLAG> (e.g. {ENV_PREFIX}PORT=8400, {ENV_PREFIX}CLOCK=virtual)."),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    serve.add_argument("--host", default=_env("HOST", DEFAULT_HOST),
                       help="interface to bind; any address other than loopback turns the control token on")
    serve.add_argument("--port", type=port_number, default=_env("PORT", DEFAULT_PORT, port_number),
                       help="port to bind (1-65535; 0 picks a free port, printed in the banner)")
    serve.add_argument("--clock", choices=CLOCKS, default=_env("CLOCK", "system", one_of(CLOCKS)),
                       help="system: wall-clock timestamps, durations shortened by --speed; virtual: time moves "
                            "only through POST /_mock/clock/advance")
    serve.add_argument("--speed", type=speed_factor, default=_env("SPEED", DEFAULT_SPEED, speed_factor),
                       help="system clock: durations (run times, URL lifetimes, webhook backoff) run SPEED times "
                            "shorter, so a 3-minute Kling job takes 3/SPEED minutes; 0 means --clock virtual")
    serve.add_argument("--seed", type=int, default=_env("SEED", 0, int), help="seed for ids, timings and outcomes")
    store = serve.add_mutually_exclusive_group()
    store.add_argument("--db", default=_env("DB", DEFAULT_DB), metavar="PATH",
                       help="SQLite file keeping workflows, balances, pending webhooks and the clock across restarts "
                            "(one fake per file)")
    store.add_argument("--memory", action="store_true", default=_flag("MEMORY"),
                       help="keep state in memory only (lost on exit)")
    serve.add_argument("--url-ttl", type=positive, default=_env("URL_TTL", DEFAULT_URL_TTL, positive),
                       metavar="SECONDS", help="lifetime of signed blob URLs (shortened by --speed like every duration)")
    serve.add_argument("--tokens", metavar="T1,T2", default=_env("TOKENS", None),
                       help="accept only these bearer tokens (default: any non-empty token)")
    serve.add_argument("--control-token", metavar="TOKEN", default=_env("CONTROL_TOKEN", None),
                       help="require this token for /_mock (as 'Authorization: Bearer' or 'X-Control-Token'); "
                            "set to a random one, printed in the banner, when --host is not loopback")
    serve.add_argument("--no-http-callbacks", action="store_true", default=_flag("NO_HTTP_CALLBACKS"),
                       help="refuse plain-http callback URLs even on loopback (the real service takes https only)")
    serve.add_argument("--public-url", metavar="URL", default=_env("PUBLIC_URL", None),
                       help="base URL used in webhook payloads (default: http://HOST:PORT)")
    serve.add_argument("--scenario", metavar="FILE", default=_env("SCENARIO", None),
                       help="JSON or YAML file preloading tenants, balances, outcomes and faults "
                            "(see examples/scenarios/)")
    serve.add_argument("--header-timeout", type=positive, metavar="SECONDS",
                       default=_env("HEADER_TIMEOUT", DEFAULT_HEADER_TIMEOUT, positive),
                       help="close connections that do not finish sending request headers in time")
    serve.add_argument("--log-level", default=_env("LOG_LEVEL", "info", one_of(LOG_LEVELS)), choices=LOG_LEVELS,
                       help="info logs one line per request and per webhook attempt (secrets redacted)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = Parser(prog="civitai-mock", description=(
        "Offline fake of Civitai's orchestration API (videoGen step, Kling engines) and a kit that tests "
        "clients against the documented contract."))
    parser.add_argument("--version", action="version", version=f"civitai-mock {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    _serve_parser(commands)
    base = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"
    verify = commands.add_parser("verify", help="check a server against the contract (whatif only, spends no Buzz)",
                                 description=(
        "Probe a server with every documented validation error and every price-table cell, using whatif=true "
        "only, and print a conformance table; exits 1 on drift, 2 when the server cannot be reached. Against the "
        "real API: civitai-mock verify --base-url https://orchestration.civitai.com --token $CIVITAI_TOKEN"))
    verify.add_argument("--base-url", default=base, help=f"server to check (default {base})")
    verify.add_argument("--token", default="verify", help="bearer token (any token for the fake)")
    verify.add_argument("--all", action="store_true", help="list passing probes too")
    lint = commands.add_parser("lint", help="judge a client's traffic recorded by a running fake", description=(
        "Ask a running fake to judge the request log and webhook inbox it recorded (GET /_mock/lint) and print "
        "every broken client rule; exits 1 on violations or when --token sent nothing (advisories do not fail "
        "unless --strict), 2 when the fake cannot be reached."))
    lint.add_argument("--base-url", default=base, help=f"the running fake (default {base})")
    lint.add_argument("--token", help="only this tenant's traffic (default: everyone's)")
    lint.add_argument("--ignore", action="append", default=[], metavar="RULE",
                      help="skip a rule by id (repeatable, or comma-separated)")
    lint.add_argument("--strict", action="store_true", help="advisories fail too")
    lint.add_argument("--json", action="store_true", help="print the report as JSON")
    lint.add_argument("--control-token", metavar="TOKEN", default=_env("CONTROL_TOKEN", None),
                      help="the fake's control token, if it has one")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``civitai-mock`` console script."""
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command == "serve":
            from civitai_mock.mock_server.server.serving import serve

            return serve(args)
        if args.command in ("verify", "lint"):
            from civitai_mock.mock_server.server import commands

            return commands.verify(args) if args.command == "verify" else commands.lint(args)
        parser.print_help()
        return 2
    except UsageProblem as problem:
        print(f"civitai-mock: error: {problem}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `civitai-mock lint | head`: the reader left; that is not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
