"""The videoGen recipe: the body is the step input itself; answers VideoGenOutput as the path item says."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from civitai_mock.contracts import paths
from civitai_mock.contracts.validation import validate_video_input
from civitai_mock.contracts.workflow import MAX_WAIT_SECONDS, TERMINAL_STATUSES
from civitai_mock.mock_server.server.http_io import (
    JSONResponse,
    base_url,
    fake_of,
    json_body,
    query_bool,
    tenant,
)
from civitai_mock.mock_server.server.routes import resource
from civitai_mock.mock_server.server.waiting import hold


async def invoke_video_gen(request: Request) -> Response:
    """InvokeVideoGenStepTemplate: run a one-step workflow, waiting up to the request timeout.

    200 with ``{"video": …}`` when it succeeded in time, ``{}`` when it ended otherwise; 202 with
    ``{}`` while still running. ``Location`` / ``X-Workflow-Id`` name the workflow to keep polling.
    """
    token = tenant(request)
    whatif = query_bool(request, "whatif")
    flags = {name: query_bool(request, name) for name in ("experimental", "allowMatureContent", "ephemeral")}
    body = await json_body(request)
    validate_video_input(body)  # errors at the input's own paths (``duration``, not ``steps[0].input.duration``)
    workflow = {"steps": [{"$type": "videoGen", "input": body}], **{k: v for k, v in flags.items() if v}}
    engine = fake_of(request).engine
    if whatif:
        preview = engine.preview(token, workflow, wait=MAX_WAIT_SECONDS)
        return JSONResponse({}, headers={"X-Workflow-Cost": str(preview["cost"]["total"])})
    workflow_id = engine.submit(token, workflow, wait=MAX_WAIT_SECONDS)
    await hold(fake_of(request), token, workflow_id, MAX_WAIT_SECONDS)
    view = engine.view(token, workflow_id, base_url(request), gone_too=True)
    terminal = view["status"] in TERMINAL_STATUSES
    output = view["steps"][0].get("output", {})
    headers = {"Location": f"{paths.WORKFLOWS}/{workflow_id}", "X-Workflow-Id": workflow_id,
               "X-Workflow-Status": view["status"]}
    return JSONResponse(output, status_code=200 if terminal else 202, headers=headers)


routes = [resource(paths.VIDEO_GEN_RECIPE, POST=invoke_video_gen)]
