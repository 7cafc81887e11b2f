"""One module per resource: workflows, recipes, blobs, control (/_mock), webhooks inbox."""

from __future__ import annotations

from typing import Awaitable, Callable

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

Endpoint = Callable[[Request], Awaitable[Response]]


def resource(path: str, **handlers: Endpoint) -> Route:
    """One route for ``path`` dispatching on the method (``GET=…, POST=…``); 405 lists every allowed method."""
    by_method = {method.upper(): handler for method, handler in handlers.items()}
    allow = ", ".join(sorted(by_method))

    async def dispatch(request: Request) -> Response:
        handler = by_method.get(request.method)
        if handler is None and request.method == "HEAD":
            handler = by_method.get("GET")
        if handler is None:
            raise HTTPException(405, headers={"Allow": allow})
        return await handler(request)

    return Route(path, dispatch, methods=list(by_method))
