"""The webhook inbox under ``/_mock/webhooks``: every delivery attempt, readable and clearable per tenant."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from civitai_mock.mock_server.engine.requestlog import masked
from civitai_mock.mock_server.server.http_io import (
    JSONResponse,
    count_of,
    fake_of,
    json_body,
    json_object,
    query_bool,
    token_of,
)
from civitai_mock.mock_server.server.routes import resource


async def webhooks(request: Request) -> Response:
    """GET: attempts (``token`` filters by tenant, ``delivered=true`` keeps acknowledged ones); DELETE clears them."""
    book = fake_of(request).engine.webhooks
    token = request.query_params.get("token")
    if request.method == "DELETE":
        book.clear_inbox(token)
        return Response(status_code=204)
    items = book.deliveries(token) if query_bool(request, "delivered") else book.inbox(token)
    for item in items:  # tokens never leave the fake: tenants are named as in the request log
        item["tenant"] = masked(item["tenant"])
    return JSONResponse({"items": items, "pending": book.pending(token)})


async def duplicate_next(request: Request) -> Response:
    """Each of the next ``count`` acknowledged events of ``token`` (or anyone's) is delivered a second time."""
    body = json_object(await json_body(request))
    count, token = count_of(body), token_of(body)
    fake_of(request).engine.webhooks.duplicate_next(count, token)
    return JSONResponse({"duplicateNext": count, "token": masked(token)})


routes = [
    resource("/_mock/webhooks", GET=webhooks, DELETE=webhooks),
    resource("/_mock/webhooks/duplicate-next", POST=duplicate_next),
]
