"""The two requests clients make most, GetWorkflow and SubmitWorkflow, answered without Starlette's routing layers.

The same handlers answer them (``routes/workflows.py``) with the same exception handlers; only the
router's route scan, the per-route wrappers and the exception middleware are skipped, which is most
of the per-request cost of a served fake. Anything else (another method, a trailing slash, a
``root_path``) goes through the app as usual; so does every error a handler has no handler for
(it reaches the server-error handler, as it would have).
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope

from civitai_mock.contracts.paths import WORKFLOWS

Endpoint = Callable[[Request], Awaitable[Response]]
_ONE_WORKFLOW = WORKFLOWS + "/"
#: Keys of the handlers Starlette gives to its server-error middleware rather than its exception middleware.
_SERVER_ERROR_KEYS = (500, Exception)


class HotRoutes:
    """Finds the handler of a GetWorkflow or SubmitWorkflow request, and runs it with the app's exception handlers."""

    def __init__(self, get_workflow: Endpoint, submit_workflow: Endpoint):
        self.get_workflow = get_workflow
        self.submit_workflow = submit_workflow

    def find(self, scope: Scope) -> tuple[Endpoint, dict[str, str]] | None:
        """(handler, path parameters) when the request is one of the two, exactly as the router would match it."""
        if scope.get("root_path"):
            return None
        method, path = scope["method"], scope["path"]
        if method == "POST" and path == WORKFLOWS:
            return self.submit_workflow, {}
        if method == "GET" and path.startswith(_ONE_WORKFLOW):
            workflow_id = path[len(_ONE_WORKFLOW):]
            if workflow_id and "/" not in workflow_id:
                return self.get_workflow, {"workflowId": workflow_id}
        return None

    async def respond(self, found: tuple[Endpoint, dict[str, str]], scope: Scope, receive: Receive) -> Response:
        """The handler's response (the caller sends it); an exception the app has a handler for is
        answered by that handler."""
        endpoint, params = found
        scope["path_params"] = params
        request = Request(scope, receive)
        try:
            return await endpoint(request)
        except Exception as exc:
            handler = _handler_for(scope["app"].exception_handlers, exc)
            if handler is None:
                raise
            return await handler(request, exc)


def _handler_for(handlers: dict[Any, Any], exc: Exception) -> Any:
    """The app's handler for ``exc`` (the nearest class that has one), leaving out the server-error handler."""
    for cls in type(exc).__mro__:
        if cls in handlers and cls not in _SERVER_ERROR_KEYS:
            return handlers[cls]
    return None
