"""The Starlette app factory: routes table, middleware, and every exception mapped to problem+json."""

from __future__ import annotations

import contextlib
import logging
from typing import Any, AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from civitai_mock.contracts.validation import ContractViolation
from civitai_mock.mock_server.engine.accounts import InsufficientBuzz
from civitai_mock.mock_server.engine.service import BlobRefused, Conflict, NotFound, UpgradeRefused
from civitai_mock.mock_server.server.fake import Fake, FakeConfig
from civitai_mock.mock_server.server.hotpath import HotRoutes
from civitai_mock.mock_server.server.http_io import HttpProblem
from civitai_mock.mock_server.server.middleware import FakeMiddleware
from civitai_mock.mock_server.server.openapi import openapi_document
from civitai_mock.mock_server.server.problems import problem, validation_problem
from civitai_mock.mock_server.server.routes import (
    blobs,
    control,
    inbox,
    judging,
    recipes,
    ui,
    workflows,
)

log = logging.getLogger("civitai_mock")


async def _contract_violation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ContractViolation)
    return validation_problem(exc.errors, exc.title)


async def _http_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HttpProblem)
    return problem(exc.status, title=exc.title, detail=exc.detail, headers=exc.headers)


async def _not_found(request: Request, exc: Exception) -> Response:
    return problem(404, detail=str(exc))


async def _refused(request: Request, exc: Exception) -> Response:
    return problem(403, detail=str(exc))


async def _conflict(request: Request, exc: Exception) -> Response:
    return problem(409, detail=str(exc))


async def _insufficient(request: Request, exc: Exception) -> Response:
    # the schema's 403 for SubmitWorkflow is application/json with a string body (the web app maps
    # 403 to its "buy Buzz" path); an upgrade that yellow cannot cover is the guide's 400
    if isinstance(exc, UpgradeRefused):
        return validation_problem({"allowMatureContent": [str(exc)]})
    return JSONResponse(str(exc), status_code=403)


async def _starlette_http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    detail = {404: f"No endpoint at {request.url.path}.",
              405: f"{request.method} is not allowed on {request.url.path}."}.get(exc.status_code, exc.detail)
    return problem(exc.status_code, detail=detail, headers=dict(exc.headers or {}))


async def _internal(request: Request, exc: Exception) -> Response:
    log.exception("internal error on %s %s", request.method, request.url.path)
    return problem(500, detail=f"The fake hit an internal error ({type(exc).__name__}); this is a bug in civitai-mock.")


async def _openapi(request: Request) -> Response:
    return JSONResponse(openapi_document())


@contextlib.asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    """A served app's lifetime: the fake's background work (system clock) runs while it serves."""
    fake: Fake = app.state.fake
    fake.start()
    try:
        yield
    finally:
        fake.stop()


def _starlette(fake: Fake) -> Starlette:
    return Starlette(
        routes=[*workflows.routes, *recipes.routes, *blobs.routes, *control.routes, *inbox.routes, *judging.routes, *ui.routes,
                Route("/openapi.json", _openapi, methods=["GET"])],
        middleware=[Middleware(FakeMiddleware, fake=fake,
                               hot=HotRoutes(workflows.get_workflow, workflows.submit_workflow))],
        exception_handlers={
            ContractViolation: _contract_violation, HttpProblem: _http_problem, NotFound: _not_found,
            Conflict: _conflict, InsufficientBuzz: _insufficient, BlobRefused: _refused, HTTPException: _starlette_http,
            Exception: _internal,
        },
        lifespan=_lifespan,
    )


def create_app(fake: Fake | None = None, **config: Any) -> Starlette:
    """A Starlette app serving ``fake`` (or a new fake built from ``FakeConfig(**config)``)."""
    fake = fake or Fake(FakeConfig(**config))
    app = _starlette(fake)
    app.state.fake = fake
    return app
