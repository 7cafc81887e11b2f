"""The control API under ``/_mock``: reset, scenarios, clock, tenants, balances, outcomes, faults, URLs.

For the developer running the fake, not for the client under test: open on loopback, behind the
control token (``serve --control-token``) anywhere else. Described once in ``openapi_control.py``.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import anyio
from starlette.requests import Request
from starlette.responses import Response

from civitai_mock.contracts.outcomes import DIRECTIVES, Outcome, OutcomeError
from civitai_mock.contracts.validation import ContractViolation
from civitai_mock.mock_server.engine.faults import Fault, FaultError
from civitai_mock.mock_server.engine.requestlog import masked
from civitai_mock.mock_server.server.http_io import JSONResponse, count_of, fake_of, json_body, json_object, token_of
from civitai_mock.mock_server.server.openapi_control import index as control_index
from civitai_mock.mock_server.server.routes import resource
from civitai_mock.mock_server.server.scenarios import apply_scenario, parse_rate_limit

#: The longest single jump of the clock (a year): enough for any test, small enough to stay a date.
MAX_ADVANCE_SECONDS = 366 * 86400


async def _queued_items(request: Request, key: str, build: Callable[[dict[str, Any]], Any],
                        error: type[Exception], example: str) -> tuple[str, list[Any]]:
    """Parse ``{"token": T, key: [item, ...]}`` into the token and the built items; 400 otherwise."""
    body = json_object(await json_body(request))
    token, items = body.get("token"), body.get(key)
    if not isinstance(token, str) or not token or not isinstance(items, list) or not items:
        raise ContractViolation({"$": [f'Send {{"token": "..." or "*", "{key}": [{example}]}}']})
    try:
        return token, [build(json_object(item)) for item in items]
    except error as exc:
        raise ContractViolation({key: [str(exc)]}) from None


async def index(request: Request) -> Response:
    """What the control API offers, and the prompt directives."""
    return JSONResponse({**control_index(), "prompt directives": DIRECTIVES})


async def reset(request: Request) -> Response:
    """Forget all state, the request log and the webhook inbox."""
    await anyio.to_thread.run_sync(fake_of(request).reset)
    return Response(status_code=204)


async def scenario(request: Request) -> Response:
    """Load a scenario (JSON): tenants, balances, outcomes, faults — checked whole before anything changes."""
    body = await json_body(request)
    try:
        summary = await anyio.to_thread.run_sync(apply_scenario, fake_of(request), body)
    except ValueError as exc:
        raise ContractViolation({"$": [str(exc)]}) from None
    return JSONResponse(summary)


async def clock(request: Request) -> Response:
    """The current time and which clock runs."""
    fake = fake_of(request)
    return JSONResponse({**fake.clock_json(), "virtual": fake.virtual})


async def advance(request: Request) -> Response:
    """Move the clock forward by ``seconds``: a virtual clock runs everything due, in order, first."""
    fake = fake_of(request)
    seconds = json_object(await json_body(request)).get("seconds")
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not math.isfinite(seconds) \
            or not 0 <= seconds <= MAX_ADVANCE_SECONDS:
        raise ContractViolation({"seconds": [f"seconds must be a number from 0 to {MAX_ADVANCE_SECONDS}"]})
    now = await anyio.to_thread.run_sync(fake.advance, float(seconds))
    return JSONResponse(fake.clock_json(now))


async def tenants(request: Request) -> Response:
    """Every tenant the fake knows, with balances and how many workflows each has."""
    return JSONResponse({"items": fake_of(request).tenants()})


async def accounts(request: Request) -> Response:
    """Read (GET) or set (PUT) a tenant's Buzz balances."""
    engine = fake_of(request).engine
    token = request.path_params["token"]
    if request.method == "GET":
        return JSONResponse(engine.accounts.balances(token))
    body = json_object(await json_body(request))
    try:
        return JSONResponse(engine.accounts.set_balances(token, body))
    except ValueError as exc:
        raise ContractViolation({"$": [str(exc)]}) from None


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
    body = json_object(await json_body(request))
    token = request.path_params["token"]
    if body.get("limit") is None:
        fake_of(request).engine.faults.limit(token, None)
        return JSONResponse({"token": token, "limit": None})
    try:
        rate = parse_rate_limit(body, "$")
    except ValueError as exc:
        raise ContractViolation({"$": [str(exc)]}) from None
    fake_of(request).engine.faults.limit(token, rate)
    return JSONResponse({"token": token, "limit": rate.limit, "window": rate.window})


async def expire_next_urls(request: Request) -> Response:
    """The next ``count`` signed blob URLs handed to ``token`` (or to anyone) are already expired."""
    body = json_object(await json_body(request))
    count, token = count_of(body), token_of(body)
    fake_of(request).engine.expire_next_urls(count, token)
    return JSONResponse({"expireNext": count, "token": masked(token)})


routes = [
    resource("/_mock", GET=index),
    resource("/_mock/reset", POST=reset),
    resource("/_mock/scenario", POST=scenario),
    resource("/_mock/clock", GET=clock),
    resource("/_mock/clock/advance", POST=advance),
    resource("/_mock/tenants", GET=tenants),
    resource("/_mock/accounts/{token}", GET=accounts, PUT=accounts),
    resource("/_mock/outcomes", GET=outcomes, POST=outcomes),
    resource("/_mock/faults", POST=faults),
    resource("/_mock/ratelimit/{token}", PUT=rate_limit),
    resource("/_mock/urls/expire-next", POST=expire_next_urls),
]
