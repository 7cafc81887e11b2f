"""The fake's own OpenAPI 3.1 document, generated from the contract models (nothing restated by hand).

Every status the fake can answer is documented on the operation that answers it: validation (400),
auth (401), not found (404), the payment 403, conflicts (409), body limits (413/415), and the 429 /
5xx answers the control API can inject. The control API (``/_mock``) is described beside it.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from civitai_mock.contracts import events, image, kling, paths, template, workflow
from civitai_mock.mock_server import __version__
from civitai_mock.mock_server.engine.faults import FAULT_STATUSES
from civitai_mock.mock_server.server.openapi_control import control_paths

REF = "#/components/schemas/{model}"
_JSON = "application/json"
_PROBLEM = {"description": "Problem", "content": {"application/problem+json": {"schema": {"$ref": REF.format(model="ProblemDetails")}}}}
_VALIDATION = {"description": "Validation problem",
               "content": {"application/problem+json": {"schema": {"$ref": REF.format(model="ValidationProblemDetails")}}}}
_PAYMENT = {"description": "Insufficient Buzz (a string, as the official schema says)",
            "content": {_JSON: {"schema": {"type": "string"}}}}
_NO_CONTENT = {"204": {"description": "No Content"}}
_WORKFLOW_ID = {"name": "workflowId", "in": "path", "required": True, "schema": {"type": "string"}}
_STEP_NAME = {"name": "stepName", "in": "path", "required": True, "schema": {"type": "string"}}
_BLOB_ID = {"name": "blobId", "in": "path", "required": True, "schema": {"type": "string"}}


def _query(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema}


def _ok(model: str, code: str = "200") -> dict[str, Any]:
    return {code: {"description": "OK", "content": {_JSON: {"schema": {"$ref": REF.format(model=model)}}}}}


def _body(schema: dict[str, Any], media: str = _JSON) -> dict[str, Any]:
    return {"required": True, "content": {media: {"schema": schema}}}


def _operation(op_id: str, responses: dict[str, Any], params: list[dict] | None = None,
               body: dict | None = None) -> dict[str, Any]:
    """A consumer operation with every error the fake can answer on it."""
    errors = {"400": _VALIDATION, "401": _PROBLEM, "404": _PROBLEM,
              **{str(status): _PROBLEM for status in FAULT_STATUSES}}  # throttles and injected faults
    if body:
        errors |= {"413": _PROBLEM, "415": _PROBLEM}
    operation: dict[str, Any] = {"operationId": op_id, "parameters": params or [], "responses": {**errors, **responses},
                                 "security": [{"bearer": []}]}
    if body:
        operation["requestBody"] = body
    return operation


MODELS: tuple[type[BaseModel], ...] = (
    workflow.Workflow, workflow.WorkflowPage, workflow.WorkflowStep, workflow.VideoBlob, workflow.VideoGenOutput,
    workflow.ProblemDetails, workflow.ValidationProblemDetails, workflow.UpdateWorkflowRequest,
    workflow.UpdateWorkflowStepRequest, events.WorkflowEvent, events.WorkflowStepEvent,
    events.WorkflowStepJobEvent, template.WorkflowTemplate, template.StepTemplate,
    kling.KlingInput, kling.KlingV3Input, image.Imagen4Input, image.ImageBlob,
)


def _consumer_paths() -> dict[str, Any]:
    wait = _query("wait", {"type": "integer", "minimum": 0, "default": 0})
    flags = [_query(n, {"type": "boolean"}) for n in ("whatif", "hideMatureContent")]
    video_input = _VIDEO_INPUT
    patch = _body(_PATCH_OPERATIONS, "application/json-patch+json")
    date = {"type": "string", "format": "date-time", "minLength": 1}
    return {
        paths.WORKFLOWS: {
            "post": _operation("SubmitWorkflow", {**_ok("Workflow"), **_ok("Workflow", "202"), "403": _PAYMENT},
                               [wait, *flags], _body({"$ref": REF.format(model="WorkflowTemplate")})),
            "get": _operation("QueryWorkflows", _ok("WorkflowPage"), [
                _query("cursor", {"type": "string", "pattern": "^[0-9]*$"}),
                _query("take", {"type": "integer", "minimum": 1, "maximum": 1000}),
                _query("tags", {"type": "array", "items": {"type": "string"}}),
                _query("ascending", {"type": "boolean"}), _query("excludeFailed", {"type": "boolean"}),
                _query("fromDate", date), _query("toDate", date)]),
        },
        paths.WORKFLOW: {
            "get": _operation("GetWorkflow", {**_ok("Workflow"), **_ok("Workflow", "202")},
                              [_WORKFLOW_ID, wait, _query("until", {"enum": list(workflow.WAIT_UNTIL)})]),
            "put": _operation("UpdateWorkflow", {**_ok("Workflow"), "403": _PAYMENT}, [_WORKFLOW_ID],
                              _body({"$ref": REF.format(model="UpdateWorkflowRequest")})),
            "patch": _operation("PatchWorkflow", {**_NO_CONTENT, "403": _PAYMENT}, [_WORKFLOW_ID], patch),
            "delete": _operation("DeleteWorkflow", _NO_CONTENT, [_WORKFLOW_ID]),
        },
        paths.WORKFLOW_TAGS: {
            "post": _operation("AddWorkflowTag", _NO_CONTENT, [_WORKFLOW_ID],
                               _body({"type": "string", "minLength": 1, "maxLength": workflow.MAX_TAG_LENGTH})),
            "delete": _operation("RemoveAllWorkflowTags", _NO_CONTENT, [_WORKFLOW_ID]),
        },
        paths.WORKFLOW_TAG: {"delete": _operation("RemoveWorkflowTag", _NO_CONTENT, [
            _WORKFLOW_ID, {"name": "tag", "in": "path", "required": True, "schema": {"type": "string"}}])},
        paths.WORKFLOW_STEP: {
            "get": _operation("GetWorkflowStep", _ok("WorkflowStep"), [_WORKFLOW_ID, _STEP_NAME]),
            "put": _operation("UpdateWorkflowStep", {**_NO_CONTENT, "409": _PROBLEM},
                              [_WORKFLOW_ID, _STEP_NAME], _body({"$ref": REF.format(model="UpdateWorkflowStepRequest")})),
            "patch": _operation("PatchWorkflowStep", {**_NO_CONTENT, "403": _PAYMENT, "409": _PROBLEM},
                                [_WORKFLOW_ID, _STEP_NAME], patch),
        },
        paths.VIDEO_GEN_RECIPE: {"post": _operation(
            "InvokeVideoGenStepTemplate", {**_ok("VideoGenOutput"), **_ok("VideoGenOutput", "202"), "403": _PAYMENT},
            [_query(n, {"type": "boolean"}) for n in ("whatif", "experimental", "allowMatureContent", "ephemeral")],
            _body(video_input))},
        paths.BLOB: {
            "get": _operation("GetBlob", {"308": {"description": "Redirect to a signed URL"}, "403": _PROBLEM}, [
                _BLOB_ID, _query("filename", {"type": "string"}), _query("download", {"type": "boolean"}),
                _query("nsfwLevel", {"enum": list(workflow.NSFW_LEVELS)}), _query("workflowId", {"type": "string"})]),
            "head": _operation("HeadBlob", {**_NO_CONTENT, "403": _PROBLEM}, [_BLOB_ID]),
        },
        paths.BLOB_REFRESH: {"post": _operation("RefreshBlob", {"200": {"description": "OK", "content": {_JSON: {
            "schema": {"anyOf": [{"$ref": REF.format(model=m)} for m in ("VideoBlob", "ImageBlob")]}}}},
            "403": _PROBLEM}, [_BLOB_ID])},
    }


_VIDEO_INPUT = {"oneOf": [{"$ref": REF.format(model="KlingInput")}, {"$ref": REF.format(model="KlingV3Input")}]}
#: RFC 6902 operations over what PatchWorkflow / PatchWorkflowStep may change.
_PATCH_OPERATIONS = {"type": "array", "items": {
    "type": "object", "required": ["op", "path"],
    "properties": {"op": {"enum": ["add", "remove", "replace", "move", "copy", "test"]},
                   "path": {"type": "string", "pattern": "^/"}, "from": {"type": "string"}, "value": {}}}}


def _operation_requirements() -> list[dict[str, Any]]:
    """kling-v3: what each operation needs, as JSON Schema ``if``/``then`` (from REQUIRED_BY_OPERATION)."""
    conditions = []
    for operation, needed in kling.REQUIRED_BY_OPERATION.items():
        if needed:
            conditions.append({
                "if": {"required": ["operation"], "properties": {"operation": {"const": operation}}},
                "then": {"required": list(needed), "properties": {
                    name: {"minItems": 1} if name == "images" else {"minLength": 1} for name in needed}}})
    return conditions


def _refined(schemas: dict[str, Any]) -> dict[str, Any]:
    """Where the models are looser than what the fake enforces, say what it enforces."""
    steps = schemas["Workflow"]["properties"]["steps"]
    if "oneOf" in steps.get("items", {}):  # a videoGen step is also a WorkflowStep: any of, not one of
        steps["items"] = {"anyOf": steps["items"]["oneOf"]}
    schemas["WorkflowTemplate"]["properties"]["steps"]["items"] = {"$ref": REF.format(model="StepTemplate")}
    schemas["StepTemplate"]["properties"]["input"] = {"oneOf": [*_VIDEO_INPUT["oneOf"],
                                                                {"$ref": REF.format(model="Imagen4Input")}]}
    schemas["KlingV3Input"]["allOf"] = _operation_requirements()
    return schemas


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document describing the fake: its consumer surface and its control API."""
    _, schemas = models_json_schema([(m, "validation") for m in MODELS], ref_template=REF)
    return {
        "openapi": "3.1.0",
        "info": {"title": "civitai-mock: Civitai orchestration API (videoGen / Kling) fake", "version": __version__},
        "paths": {**_consumer_paths(), **control_paths(_PROBLEM, _VALIDATION)},
        "components": {"schemas": _refined(schemas.get("$defs", {})),
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"},
                                           "controlToken": {"type": "apiKey", "in": "header",
                                                            "name": "X-Control-Token"}}},
    }
