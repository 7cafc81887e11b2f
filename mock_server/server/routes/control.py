"""The control API under ``/_mock``: reset, clock, request log, outcomes, faults, rate limits, accounts.

No token is needed: it is for the developer running the fake, not for the client under test.
"""

from __future__ import annotations

from typing import Any, Callable

import anyio
from civitai_mock.contracts.outcomes import DIRECTIVES, Outcome, OutcomeError
from civitai_mock.contracts.validation import ContractViolation
from civitai_mock.mock_server.engine.faults import Fault, FaultError, RateLimit
from civitai_mock.mock_server.engine.views import iso
from civitai_mock.mock_server.server.http_io import (
    HttpProblem,
    JSONResponse,
    fake_of,
    json_body,
)
from civitai_mock.mock_server.server.routes import resource
from starlette.requests import Request
from starlette.responses import Response

INDEX = {
    "POST /_mock/reset": "forget every workflow, balance, outcome, fault, logged request and webhook",
    "GET /_mock/clock": "current time; whether it is virtual",
    "POST /_mock/clock/advance": '{"seconds": N} — advance a virtual clock, running every due transition and webhook',
    "GET /_mock/requests?token=T": "the request log (optionally one tenant's); DELETE clears it",
    "POST /_mock/outcomes": '{"token": T, "outcomes": [{"kind": "fail", "reason": "no_provider_available"}, …]}',
    "GET /_mock/outcomes?token=T": "outcomes still queued for a tenant",
    "POST /_mock/faults": '{"token": T or "*", "faults": [{"status": 429, "count": 2, "target": "submit", "retryAfter": 3}]}',
    "PUT /_mock/ratelimit/{token}": '{"limit": 10, "window": 60} — or {"limit": null} to switch it off',
    "GET|PUT /_mock/accounts/{token}": 'Buzz balances, e.g. {"blue": 0, "green": 500, "yellow": 10000}',
    "GET /_mock/webhooks?token=T": "every webhook delivery attempt; DELETE clears",
    "prompt directives": DIRECTIVES,
}


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ContractViolation({"$": ["A JSON object is required."]})
    return body


async def _queued_items(request: Request, key: str, build: Callable[[dict[str, Any]], Any],
                        error: type[Exception], example: str) -> tuple[str, list[Any]]:
    """Parse ``{"token": T, key: [item, ...]}`` into the token and the built items; 400 otherwise."""
    body = _object(await json_body(request))
    token, items = body.get("token"), body.get(key)
    if not isinstance(token, str) or not token or not isinstance(items, list) or not items:
        raise ContractViolation({"$": [f'Send {{"token": "..." or "*", "{key}": [{example}]}}']})
    try:
        return token, [build(_object(item)) for item in items]
    except error as exc:
        raise ContractViolation({key: [str(exc)]}) from None


async def index(request: Request) -> Response:
    """What the control API offers."""
    return JSONResponse(INDEX)


async def reset(request: Request) -> Response:
    """Forget all state."""
    await anyio.to_thread.run_sync(fake_of(request).reset)
    return Response(status_code=204)


async def clock(request: Request) -> Response:
    """Current clock time."""
    fake = fake_of(request)
    return JSONResponse({"now": iso(fake.clock.now()), "virtual": fake.virtual,
                         "speed": None if fake.virtual else fake.config.speed})


async def advance(request: Request) -> Response:
    """Advance a virtual clock by ``seconds``."""
    fake = fake_of(request)
    body = _object(await json_body(request))
    seconds = body.get("seconds")
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or seconds < 0:
        raise ContractViolation({"seconds": ["seconds must be a non-negative number"]})
    if not fake.virtual:
        raise HttpProblem(409, "This fake runs on a system clock (--speed); only a virtual clock can be advanced.")
    now = await anyio.to_thread.run_sync(fake.advance, float(seconds))
    return JSONResponse({"now": iso(now)})


async def requests_log(request: Request) -> Response:
    """The request log; DELETE clears it."""
    fake = fake_of(request)
    if request.method == "DELETE":
        fake.engine.requests.clear(request.query_params.get("token"))
        return Response(status_code=204)
    entries = fake.engine.requests.entries(request.query_params.get("token"))
    return JSONResponse({"items": [e.to_json() for e in entries]})


async def outcomes(request: Request) -> Response:
    """Queue outcomes for a tenant's next steps (POST) or list them (GET)."""
    fake = fake_of(request)
    if request.method == "GET":
        token = request.query_params.get("token", "")
        return JSONResponse({"token": token, "pending": fake.engine.outcomes.pending(token)})
    token, parsed = await _queued_items(request, "outcomes", Outcome.from_json, OutcomeError, '{"kind": "fail", ...}')
    return JSONResponse({"token": token, "pending": fake.engine.outcomes.push(token, parsed)})


async def faults(request: Request) -> Response:
    """Queue faults: the next matching requests answer 429 / 5xx as problem+json."""
    token, parsed = await _queued_items(request, "faults", Fault.from_json, FaultError, '{"status": 429, ...}')
    for fault in parsed:
        fake_of(request).engine.faults.add(token, fault)
    return JSONResponse({"token": token, "queued": len(parsed)})


async def rate_limit(request: Request) -> Response:
    """Switch a tenant's rate limit on or off."""
    body = _object(await json_body(request))
    limit, window = body.get("limit"), body.get("window", 60)
    token = request.path_params["token"]
    if limit is None:
        fake_of(request).engine.faults.limit(token, None)
        return JSONResponse({"token": token, "limit": None})
    if not isinstance(limit, int) or limit < 1 or not isinstance(window, (int, float)) or window <= 0:
        raise ContractViolation({"$": ["limit must be a positive integer and window a positive number of seconds"]})
    fake_of(request).engine.faults.limit(token, RateLimit(limit, float(window)))
    return JSONResponse({"token": token, "limit": limit, "window": window})


async def accounts(request: Request) -> Response:
    """Read (GET) or set (PUT) a tenant's Buzz balances."""
    engine = fake_of(request).engine
    token = request.path_params["token"]
    if request.method == "GET":
        return JSONResponse(engine.accounts.balances(token))
    body = _object(await json_body(request))
    try:
        return JSONResponse(engine.accounts.set_balances(token, body))
    except ValueError as exc:
        raise ContractViolation({"$": [str(exc)]}) from None


routes = [
    resource("/_mock", GET=index),
    resource("/_mock/reset", POST=reset),
    resource("/_mock/clock", GET=clock),
    resource("/_mock/clock/advance", POST=advance),
    resource("/_mock/requests", GET=requests_log, DELETE=requests_log),
    resource("/_mock/outcomes", GET=outcomes, POST=outcomes),
    resource("/_mock/faults", POST=faults),
    resource("/_mock/ratelimit/{token}", PUT=rate_limit),
    resource("/_mock/accounts/{token}", GET=accounts, PUT=accounts),
]
