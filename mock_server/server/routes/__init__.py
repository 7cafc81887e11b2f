"""One module per resource: workflows, recipes, blobs, control (/_mock), webhooks inbox."""

from __future__ import annotations

from typing import Awaitable, Callable

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import Receive, Scope, Send

Endpoint = Callable[[Request], Awaitable[Response]]


class Resource(Route):
    """A route that hands every method on its path to its dispatcher (which answers 405 itself)."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        """A full match for any method once the path matches."""
        match, child = super().matches(scope)
        return (Match.FULL if match is Match.PARTIAL else match), child

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the dispatcher, whatever the method."""
        await self.app(scope, receive, send)


def resource(path: str, **handlers: Endpoint) -> Route:
    """One route for ``path`` dispatching on the method (``GET=…, POST=…``; HEAD answers as GET); a 405
    lists every allowed method, sorted, in its ``Allow`` header."""
    by_method = {method.upper(): handler for method, handler in handlers.items()}
    allow = ", ".join(sorted({*by_method, *(("HEAD",) if "GET" in by_method else ())}))

    async def dispatch(request: Request) -> Response:
        handler = by_method.get(request.method)
        if handler is None and request.method == "HEAD":
            handler = by_method.get("GET")
        if handler is None:
            raise HTTPException(405, headers={"Allow": allow})
        return await handler(request)

    return Resource(path, dispatch, methods=list(by_method))
