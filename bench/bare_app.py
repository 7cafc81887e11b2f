"""The baseline server: a bare Starlette app answering the same shapes with no logic at all."""

from __future__ import annotations

import json
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

SAMPLE = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "responses" / "workflow-succeeded.json")
                    .read_text())


async def get_workflow(request: Request) -> Response:
    """Return a canned workflow."""
    return JSONResponse(SAMPLE)


async def submit(request: Request) -> Response:
    """Parse the body and return a canned workflow."""
    await request.json()
    return JSONResponse(SAMPLE, status_code=202)


app = Starlette(routes=[Route("/v2/consumer/workflows/{workflowId}", get_workflow),
                        Route("/v2/consumer/workflows", submit, methods=["POST"])])
