"""The webhook inbox under ``/_mock/webhooks``: every delivery attempt, readable and clearable."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from mock_server.http_io import JSONResponse, fake_of, query_bool
from mock_server.routes import resource


async def webhooks(request: Request) -> Response:
    """GET: attempts (``token`` filters by tenant, ``delivered=true`` keeps acknowledged ones); DELETE clears."""
    dispatcher = fake_of(request).webhooks
    if request.method == "DELETE":
        dispatcher.clear()
        return Response(status_code=204)
    token = request.query_params.get("token")
    items = dispatcher.deliveries(token) if query_bool(request, "delivered") else dispatcher.inbox(token)
    return JSONResponse({"items": items, "pending": dispatcher.pending(token)})


routes = [resource("/_mock/webhooks", GET=webhooks, DELETE=webhooks)]
