"""The webhook inbox under ``/_mock/webhooks``: every delivery attempt, readable and clearable."""

from __future__ import annotations

from civitai_mock.mock_server.server.http_io import JSONResponse, fake_of, query_bool
from civitai_mock.mock_server.server.routes import resource
from starlette.requests import Request
from starlette.responses import Response


async def webhooks(request: Request) -> Response:
    """GET: attempts (``token`` filters by tenant, ``delivered=true`` keeps acknowledged ones); DELETE clears them."""
    book = fake_of(request).engine.webhooks
    token = request.query_params.get("token")
    if request.method == "DELETE":
        book.clear_inbox(token)
        return Response(status_code=204)
    items = book.deliveries(token) if query_bool(request, "delivered") else book.inbox(token)
    return JSONResponse({"items": items, "pending": book.pending(token)})


routes = [resource("/_mock/webhooks", GET=webhooks, DELETE=webhooks)]
