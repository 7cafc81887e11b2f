"""The videoGen recipe: the body is the step input itself; answers VideoGenOutput as the path item says."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from contracts.validation import validate_video_input
from contracts.workflow import MAX_WAIT_SECONDS, TERMINAL_STATUSES
from mock_server.http_io import JSONResponse, fake_of, json_body, query_bool, tenant
from mock_server.routes import resource
from mock_server.routes.workflows import BASE, base_url
from mock_server.waiting import hold


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
    fake = fake_of(request)
    result, _ = fake.engine.submit(token, workflow, whatif=whatif, wait=MAX_WAIT_SECONDS)
    if whatif:
        return JSONResponse({}, headers={"X-Workflow-Cost": str(result["cost"]["total"])})
    await hold(fake, result, MAX_WAIT_SECONDS)
    view = fake.engine.view(result, base_url(request))
    terminal = view["status"] in TERMINAL_STATUSES
    output = view["steps"][0].get("output", {})
    headers = {"Location": f"{BASE}/{result.id}", "X-Workflow-Id": result.id, "X-Workflow-Status": view["status"]}
    return JSONResponse(output, status_code=200 if terminal else 202, headers=headers)


routes = [resource("/v2/consumer/recipes/videoGen", POST=invoke_video_gen)]
