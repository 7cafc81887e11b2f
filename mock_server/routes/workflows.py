"""Workflow endpoints: submit, get, query, update, patch, delete, tags and steps. Parse → engine → JSON."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from contracts.workflow import DEFAULT_QUERY_TAKE, MAX_WAIT_SECONDS, TERMINAL_STATUSES, WAIT_UNTIL
from mock_server.engine import updates
from mock_server.http_io import (
    SEEN, JSONResponse,
    fake_of, json_body, query_bool, query_choice, query_date, query_int, query_list, tenant,
)
from mock_server.routes import resource
from mock_server.waiting import hold

BASE = "/v2/consumer/workflows"


def base_url(request: Request) -> str:
    """Scheme and host the client used, for signed blob URLs it can follow."""
    scope = request.scope
    host = request.headers.get("host") or "{}:{}".format(*scope.get("server") or ("localhost", 80))
    return f"{scope.get('scheme', 'http')}://{host}{scope.get('root_path', '')}"


def workflow_response(request: Request, view: dict, status: int = 200) -> Response:
    """The workflow JSON; the middleware notes what the client saw (for the linter)."""
    request.scope[SEEN] = {"id": view.get("id"), "status": view["status"]}
    return JSONResponse(view, status_code=status)


async def submit_workflow(request: Request) -> Response:
    """SubmitWorkflow: 200 when terminal within ``wait``, 202 while running; ``whatif`` creates nothing."""
    token = tenant(request)
    wait = query_int(request, "wait", 0, low=0)
    whatif = query_bool(request, "whatif")
    hide = query_bool(request, "hideMatureContent")
    body = await json_body(request)
    fake = fake_of(request)
    result, _created = fake.engine.submit(token, body, whatif=whatif, wait=wait)
    if whatif:
        return JSONResponse(result)
    await hold(fake, result, min(wait, MAX_WAIT_SECONDS))
    view = fake.engine.view(result, base_url(request), hide)
    return workflow_response(request, view, 200 if view["status"] in TERMINAL_STATUSES else 202)


async def get_workflow(request: Request) -> Response:
    """GetWorkflow, optionally held with ``wait`` until completion or a change."""
    token = tenant(request)
    wait = query_int(request, "wait", 0, low=0)
    until = query_choice(request, "until", WAIT_UNTIL, "completion")
    hide = query_bool(request, "hideMatureContent")
    fake = fake_of(request)
    record = fake.engine.get(token, request.path_params["workflowId"])
    await hold(fake, record, wait, until)
    view = fake.engine.view(record, base_url(request), hide)
    held_in_vain = wait > 0 and until == "completion" and view["status"] not in TERMINAL_STATUSES
    return workflow_response(request, view, 202 if held_in_vain else 200)


async def query_workflows(request: Request) -> Response:
    """QueryWorkflows: a cursor page of the tenant's workflows, newest first unless ``ascending``."""
    token = tenant(request)
    fake = fake_of(request)
    records, cursor = fake.engine.query(
        token, cursor=request.query_params.get("cursor"),
        take=query_int(request, "take", DEFAULT_QUERY_TAKE, low=1, high=1000),
        tags=query_list(request, "tags"), exclude_tags=query_list(request, "excludeTags"),
        ascending=query_bool(request, "ascending"), from_date=query_date(request, "fromDate"),
        to_date=query_date(request, "toDate"), exclude_failed=query_bool(request, "excludeFailed"),
        text=request.query_params.get("query"),
    )
    hide = query_bool(request, "hideMatureContent", default=True)
    items = [fake.engine.view(r, base_url(request), hide) for r in records]
    return JSONResponse({"next": cursor, "items": items})


async def update_workflow(request: Request) -> Response:
    """UpdateWorkflow (PUT): metadata, tags, allowMatureContent, or cancel."""
    token = tenant(request)
    fake = fake_of(request)
    body = await json_body(request)
    record = updates.update_workflow(fake.engine, token, request.path_params["workflowId"], body)
    return workflow_response(request, fake.engine.view(record, base_url(request)))


async def patch_workflow(request: Request) -> Response:
    """PatchWorkflow: a JSON Patch document; 204."""
    token = tenant(request)
    operations = await json_body(request, patch=True)
    updates.patch_workflow(fake_of(request).engine, token, request.path_params["workflowId"], operations)
    return Response(status_code=204)


async def delete_workflow(request: Request) -> Response:
    """DeleteWorkflow: cancels a running workflow (refunded), hides a finished one; 204."""
    fake_of(request).engine.delete(tenant(request), request.path_params["workflowId"])
    return Response(status_code=204)


async def add_tag(request: Request) -> Response:
    """AddWorkflowTag: the body is the tag as a JSON string; 204."""
    token = tenant(request)
    tag = await json_body(request)
    updates.add_tag(fake_of(request).engine, token, request.path_params["workflowId"], tag)
    return Response(status_code=204)


async def remove_all_tags(request: Request) -> Response:
    """RemoveAllWorkflowTags; 204."""
    updates.remove_tag(fake_of(request).engine, tenant(request), request.path_params["workflowId"], None)
    return Response(status_code=204)


async def remove_tag(request: Request) -> Response:
    """RemoveWorkflowTag; 204."""
    updates.remove_tag(fake_of(request).engine, tenant(request), request.path_params["workflowId"],
                       request.path_params["tag"])
    return Response(status_code=204)


async def get_step(request: Request) -> Response:
    """GetWorkflowStep (``0`` is accepted for ``$0``)."""
    token = tenant(request)
    engine = fake_of(request).engine
    record, index = updates.find_step(engine, token, request.path_params["workflowId"], request.path_params["stepName"])
    return JSONResponse(engine.render.step(record, index, engine.now(), base_url(request)))


async def update_step(request: Request) -> Response:
    """UpdateWorkflowStep: new metadata; 409 once the step started; 204."""
    token = tenant(request)
    body = await json_body(request)
    updates.update_step(fake_of(request).engine, token, request.path_params["workflowId"],
                        request.path_params["stepName"], body)
    return Response(status_code=204)


async def patch_step(request: Request) -> Response:
    """PatchWorkflowStep: JSON Patch over metadata / input; 409 once the step started; 204."""
    token = tenant(request)
    operations = await json_body(request, patch=True)
    updates.patch_step(fake_of(request).engine, token, request.path_params["workflowId"],
                       request.path_params["stepName"], operations)
    return Response(status_code=204)


routes = [
    resource(BASE, POST=submit_workflow, GET=query_workflows),
    resource(BASE + "/{workflowId}", GET=get_workflow, PUT=update_workflow, PATCH=patch_workflow,
             DELETE=delete_workflow),
    resource(BASE + "/{workflowId}/tags", POST=add_tag, DELETE=remove_all_tags),
    resource(BASE + "/{workflowId}/tags/{tag}", DELETE=remove_tag),
    resource(BASE + "/{workflowId}/steps/{stepName}", GET=get_step, PUT=update_step, PATCH=patch_step),
]
