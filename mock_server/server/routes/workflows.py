"""Workflow endpoints: submit, get, query, update, patch, delete, tags and steps. Parse → engine → JSON."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from civitai_mock.contracts import paths
from civitai_mock.contracts.workflow import (
    DEFAULT_QUERY_TAKE,
    MAX_WAIT_SECONDS,
    TERMINAL_STATUSES,
    WAIT_UNTIL,
)
from civitai_mock.mock_server.server.http_io import (
    SEEN,
    JSONResponse,
    base_url,
    fake_of,
    json_body,
    query_bool,
    query_choice,
    query_date,
    query_int,
    query_list,
    tenant,
)
from civitai_mock.mock_server.server.routes import resource
from civitai_mock.mock_server.server.waiting import hold


def workflow_response(request: Request, view: dict, status: int = 200) -> Response:
    """The workflow JSON; the middleware notes what the client saw (for the linter), and which step waited on which."""
    seen: tuple[Any, ...] = (view.get("id"), view["status"])  # the log's ``seen`` (requestlog.SEEN_FIELDS)
    if len(view.get("steps") or ()) > 1 and view.get("id"):
        waits = fake_of(request).engine.dependencies(tenant(request), view["id"])
        if waits:
            seen += (waits,)
    request.scope[SEEN] = seen
    return JSONResponse(view, status_code=status)


async def submit_workflow(request: Request) -> Response:
    """SubmitWorkflow: 200 when terminal within ``wait``, 202 while running; ``whatif`` creates nothing."""
    token = tenant(request)
    wait = query_int(request, "wait", 0, low=0)
    whatif = query_bool(request, "whatif")
    hide = query_bool(request, "hideMatureContent")
    body = await json_body(request)
    fake = fake_of(request)
    engine = fake.engine
    if whatif:
        return JSONResponse(engine.preview(token, body, wait=wait))
    if wait > 0:
        workflow_id = engine.submit(token, body, wait=wait)
        await hold(fake, token, workflow_id, min(wait, MAX_WAIT_SECONDS))
        view = engine.view(token, workflow_id, base_url(request), hide, gone_too=True)
    else:  # answered as it stands the moment it is stored
        view = engine.submit_and_view(token, body, base_url(request), hide)
    return workflow_response(request, view, 200 if view["status"] in TERMINAL_STATUSES else 202)


async def get_workflow(request: Request) -> Response:
    """GetWorkflow, optionally held with ``wait`` until completion or a change."""
    token = tenant(request)
    wait = query_int(request, "wait", 0, low=0)
    until = query_choice(request, "until", WAIT_UNTIL, "completion")
    hide = query_bool(request, "hideMatureContent")
    engine = fake_of(request).engine
    workflow_id = request.path_params["workflowId"]
    if wait > 0:  # an unknown (or another tenant's) workflow ends the hold at once, then answers 404 below
        await hold(fake_of(request), token, workflow_id, wait, until)
    view = engine.view(token, workflow_id, base_url(request), hide)
    held_in_vain = wait > 0 and until == "completion" and view["status"] not in TERMINAL_STATUSES
    return workflow_response(request, view, 202 if held_in_vain else 200)


async def query_workflows(request: Request) -> Response:
    """QueryWorkflows: a cursor page of the tenant's workflows, newest first unless ``ascending``."""
    token = tenant(request)
    items, cursor = fake_of(request).engine.query(
        token, cursor=request.query_params.get("cursor"),
        take=query_int(request, "take", DEFAULT_QUERY_TAKE, low=1, high=1000),
        tags=query_list(request, "tags"), exclude_tags=query_list(request, "excludeTags"),
        ascending=query_bool(request, "ascending"), from_date=query_date(request, "fromDate"),
        to_date=query_date(request, "toDate"), exclude_failed=query_bool(request, "excludeFailed"),
        text=request.query_params.get("query"), base_url=base_url(request),
        hide_mature=query_bool(request, "hideMatureContent", default=True),
    )
    return JSONResponse({"next": cursor, "items": items})


async def update_workflow(request: Request) -> Response:
    """UpdateWorkflow (PUT): metadata, tags, allowMatureContent, or cancel."""
    token = tenant(request)
    body = await json_body(request)
    engine = fake_of(request).engine
    workflow_id = request.path_params["workflowId"]
    engine.update_workflow(token, workflow_id, body)
    return workflow_response(request, engine.view(token, workflow_id, base_url(request)))


async def patch_workflow(request: Request) -> Response:
    """PatchWorkflow: a JSON Patch document; 204."""
    token = tenant(request)
    operations = await json_body(request, patch=True)
    fake_of(request).engine.patch_workflow(token, request.path_params["workflowId"], operations)
    return Response(status_code=204)


async def delete_workflow(request: Request) -> Response:
    """DeleteWorkflow: cancels a running workflow (refunded), hides a finished one; 204."""
    fake_of(request).engine.delete(tenant(request), request.path_params["workflowId"])
    return Response(status_code=204)


async def add_tag(request: Request) -> Response:
    """AddWorkflowTag: the body is the tag as a JSON string; 204."""
    token = tenant(request)
    tag = await json_body(request)
    fake_of(request).engine.add_tag(token, request.path_params["workflowId"], tag)
    return Response(status_code=204)


async def remove_all_tags(request: Request) -> Response:
    """RemoveAllWorkflowTags; 204."""
    fake_of(request).engine.remove_tag(tenant(request), request.path_params["workflowId"], None)
    return Response(status_code=204)


async def remove_tag(request: Request) -> Response:
    """RemoveWorkflowTag; 204."""
    fake_of(request).engine.remove_tag(tenant(request), request.path_params["workflowId"], request.path_params["tag"])
    return Response(status_code=204)


async def get_step(request: Request) -> Response:
    """GetWorkflowStep (``0`` is accepted for ``$0``)."""
    token = tenant(request)
    params = request.path_params
    view = fake_of(request).engine.step_view(token, params["workflowId"], params["stepName"], base_url(request))
    return JSONResponse(view)


async def update_step(request: Request) -> Response:
    """UpdateWorkflowStep: new metadata; 409 once the step started; 204."""
    token = tenant(request)
    body = await json_body(request)
    params = request.path_params
    fake_of(request).engine.update_step(token, params["workflowId"], params["stepName"], body)
    return Response(status_code=204)


async def patch_step(request: Request) -> Response:
    """PatchWorkflowStep: JSON Patch over metadata / input (re-planned, re-priced); 409 once started; 204."""
    token = tenant(request)
    operations = await json_body(request, patch=True)
    params = request.path_params
    fake_of(request).engine.patch_step(token, params["workflowId"], params["stepName"], operations)
    return Response(status_code=204)


routes = [
    resource(paths.WORKFLOWS, POST=submit_workflow, GET=query_workflows),
    resource(paths.WORKFLOW, GET=get_workflow, PUT=update_workflow, PATCH=patch_workflow, DELETE=delete_workflow),
    resource(paths.WORKFLOW_TAGS, POST=add_tag, DELETE=remove_all_tags),
    resource(paths.WORKFLOW_TAG, DELETE=remove_tag),
    resource(paths.WORKFLOW_STEP, GET=get_step, PUT=update_step, PATCH=patch_step),
]
