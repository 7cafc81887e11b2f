"""The baseline server: a bare Starlette app answering the fake's own bodies with no logic at all.

The benchmark compares the fake with an app that returns the same JSON: ``http_load`` submits once to the
served fake, reads that workflow back, and hands both answers to this app through the file named by
``CIVITAI_MOCK_BARE_ANSWERS`` (``{"get": ..., "post": ...}``). Started without it (by hand), the app answers
the canonical succeeded workflow from ``fixtures/`` to both.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

#: The environment variable naming the file of answers to give (written by ``http_load``).
ANSWERS_VARIABLE = "CIVITAI_MOCK_BARE_ANSWERS"
SAMPLE_PATH = Path(__file__).resolve().parents[1] / "fixtures" / "responses" / "workflow-succeeded.json"


def read_answers(path: str | None) -> dict[str, Any]:
    """The GET and POST answers kept in ``path``; the canonical succeeded workflow for both when None."""
    if path is None:
        sample = json.loads(SAMPLE_PATH.read_text())
        return {"get": sample, "post": sample}
    return json.loads(Path(path).read_text())


def create(answers: dict[str, Any]) -> Starlette:
    """A Starlette app returning ``answers["get"]`` to a GET of a workflow and ``answers["post"]`` to a submit."""

    async def get_workflow(request: Request) -> Response:
        return JSONResponse(answers["get"])

    async def submit(request: Request) -> Response:
        await request.json()  # the body is parsed, as any submit must
        return JSONResponse(answers["post"], status_code=202)

    return Starlette(routes=[Route("/v2/consumer/workflows/{workflowId}", get_workflow),
                             Route("/v2/consumer/workflows", submit, methods=["POST"])])


app = create(read_answers(os.environ.get(ANSWERS_VARIABLE)))
