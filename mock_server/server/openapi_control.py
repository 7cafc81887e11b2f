"""The control API (``/_mock``) described once: for ``GET /_mock``, for ``/openapi.json`` and for README's table.

Everything the Python handle can do has an HTTP form here, so a suite in any language gets the whole kit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

_TOKEN = {"name": "token", "in": "query", "required": False, "schema": {"type": "string"},
          "description": "one tenant (bearer token); omit for everyone"}
_PATH_TOKEN = {"name": "token", "in": "path", "required": True, "schema": {"type": "string"}}
_COUNT = {"type": "object", "required": ["count"], "properties": {
    "count": {"type": "integer", "minimum": 0},
    "token": {"type": "string", "minLength": 1, "description": "one tenant; omit for every tenant"}}}
_OBJECT = {"type": "object"}


@dataclass(frozen=True)
class ControlEndpoint:
    """One control operation: method, path, what it does, and its JSON body (if any)."""

    method: str
    path: str
    summary: str
    body: dict[str, Any] | None = None
    params: list[dict[str, Any]] = field(default_factory=list)
    answers: str = "200"


CONTROL_API: tuple[ControlEndpoint, ...] = (
    ControlEndpoint("GET", "/_mock", "this list, and the prompt directives"),
    ControlEndpoint("POST", "/_mock/reset", "forget every workflow, balance, outcome, fault, route, logged request "
                                            "and webhook attempt; time restarts", answers="204"),
    ControlEndpoint("POST", "/_mock/scenario", "load a scenario: tenants, balances, outcomes, faults, rate limits "
                                               "(checked whole before anything changes)", _OBJECT),
    ControlEndpoint("GET", "/_mock/clock", "the current time and which clock runs (virtual or system, speed)"),
    ControlEndpoint("POST", "/_mock/clock/advance", "move time forward by `seconds`; a virtual clock applies every "
                                                    "transition, refund and webhook due, in order, before answering",
                    {"type": "object", "required": ["seconds"], "properties": {"seconds": {"type": "number"}}}),
    ControlEndpoint("GET", "/_mock/tenants", "every tenant the fake knows, with balances and workflow counts"),
    ControlEndpoint("GET", "/_mock/accounts/{token}", "a tenant's Buzz balances", params=[_PATH_TOKEN]),
    ControlEndpoint("PUT", "/_mock/accounts/{token}", "set a tenant's Buzz balances "
                                                      "(`{\"blue\": 0, \"yellow\": 5000}`)", _OBJECT, [_PATH_TOKEN]),
    ControlEndpoint("GET", "/_mock/outcomes", "outcomes still queued for a tenant", params=[_TOKEN]),
    ControlEndpoint("POST", "/_mock/outcomes", "queue how the next steps end "
                                               "(`{\"token\": T, \"outcomes\": [{\"kind\": \"fail\"}]}`)", _OBJECT),
    ControlEndpoint("POST", "/_mock/faults", "the next matching requests answer 429 / 5xx "
                                             "(`{\"token\": T or \"*\", \"faults\": [{\"status\": 429}]}`)", _OBJECT),
    ControlEndpoint("PUT", "/_mock/ratelimit/{token}", "a tenant's rate limit (`{\"limit\": 10, \"window\": 60}`, "
                                                       "`{\"limit\": null}` switches it off)", _OBJECT, [_PATH_TOKEN]),
    ControlEndpoint("POST", "/_mock/urls/expire-next", "the next `count` signed blob URLs handed to `token` "
                                                       "(or to anyone) are already expired", _COUNT),
    ControlEndpoint("GET", "/_mock/requests", "the request log the linter judges (tokens masked)", params=[_TOKEN]),
    ControlEndpoint("DELETE", "/_mock/requests", "clear the request log (one tenant's, or everyone's)",
                    params=[_TOKEN], answers="204"),
    ControlEndpoint("GET", "/_mock/webhooks", "every webhook delivery attempt, and how many wait", params=[_TOKEN]),
    ControlEndpoint("DELETE", "/_mock/webhooks", "clear the webhook inbox (one tenant's, or everyone's); routes stay",
                    params=[_TOKEN], answers="204"),
    ControlEndpoint("POST", "/_mock/webhooks/duplicate-next", "each of the next `count` acknowledged webhook "
                                                              "events of `token` (or anyone's) is delivered twice",
                    _COUNT),
    ControlEndpoint("GET", "/_mock/lint", "the client linter's report on the log and inbox, as JSON "
                                          "(`ignore=rule-id`, `strict=true`)", params=[_TOKEN]),
)


def index() -> dict[str, str]:
    """``"METHOD /path": summary`` for ``GET /_mock``."""
    return {f"{e.method} {e.path}": e.summary for e in CONTROL_API}


def control_paths(problem: dict[str, Any], validation: dict[str, Any]) -> dict[str, Any]:
    """The ``paths`` entries of the control API for the OpenAPI document."""
    described: dict[str, Any] = {}
    for endpoint in CONTROL_API:
        answer = {"description": "No Content"} if endpoint.answers == "204" else {
            "description": "OK", "content": {"application/json": {"schema": {}}}}
        operation: dict[str, Any] = {
            "summary": endpoint.summary, "tags": ["control"], "parameters": endpoint.params,
            "security": [{}, {"controlToken": []}, {"bearer": []}],
            "responses": {endpoint.answers: answer, "400": validation, "401": problem, "413": problem, "415": problem},
        }
        if endpoint.body is not None:
            operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": endpoint.body}}}
        described.setdefault(endpoint.path, {})[endpoint.method.lower()] = operation
    return described
