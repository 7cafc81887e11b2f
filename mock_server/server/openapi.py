"""The fake's own OpenAPI 3.1 document, generated from the contract models (nothing restated by hand)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from civitai_mock.contracts import kling, template, workflow
from civitai_mock.mock_server import __version__
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

REF = "#/components/schemas/{model}"
_JSON = "application/json"
_PROBLEM = {"description": "Problem", "content": {"application/problem+json": {"schema": {"$ref": REF.format(model="ProblemDetails")}}}}
_VALIDATION = {"description": "Validation problem",
               "content": {"application/problem+json": {"schema": {"$ref": REF.format(model="ValidationProblemDetails")}}}}
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
               body: dict | None = None, auth: bool = True) -> dict[str, Any]:
    operation: dict[str, Any] = {"operationId": op_id, "parameters": params or [],
                                 "responses": {**responses, "400": _VALIDATION, "401": _PROBLEM, "404": _PROBLEM}}
    if body:
        operation["requestBody"] = body
    if auth:
        operation["security"] = [{"bearer": []}]
    return operation


MODELS: tuple[type[BaseModel], ...] = (
    workflow.Workflow, workflow.WorkflowPage, workflow.WorkflowStep, workflow.VideoBlob, workflow.VideoGenOutput,
    workflow.ProblemDetails, workflow.ValidationProblemDetails, workflow.UpdateWorkflowRequest,
    workflow.UpdateWorkflowStepRequest, workflow.WorkflowEvent, workflow.WorkflowStepEvent,
    workflow.WorkflowStepJobEvent, template.WorkflowTemplate, template.StepTemplate,
    kling.KlingInput, kling.KlingV3Input,
)


def _paths() -> dict[str, Any]:
    wait = _query("wait", {"type": "integer", "minimum": 0, "default": 0})
    flags = [_query(n, {"type": "boolean"}) for n in ("whatif", "hideMatureContent")]
    video_input = {"oneOf": [{"$ref": REF.format(model="KlingInput")}, {"$ref": REF.format(model="KlingV3Input")}]}
    patch = _body({"type": "array", "items": {"type": "object"}}, "application/json-patch+json")
    wf = "/v2/consumer/workflows/{workflowId}"
    return {
        "/v2/consumer/workflows": {
            "post": _operation("SubmitWorkflow", {**_ok("Workflow"), **_ok("Workflow", "202"), "429": _PROBLEM},
                               [wait, *flags], _body({"$ref": REF.format(model="WorkflowTemplate")})),
            "get": _operation("QueryWorkflows", _ok("WorkflowPage"), [
                _query("cursor", {"type": "string"}), _query("take", {"type": "integer", "minimum": 1}),
                _query("tags", {"type": "array", "items": {"type": "string"}}),
                _query("ascending", {"type": "boolean"}), _query("excludeFailed", {"type": "boolean"}),
                _query("fromDate", {"type": "string", "format": "date-time"}),
                _query("toDate", {"type": "string", "format": "date-time"})]),
        },
        wf: {
            "get": _operation("GetWorkflow", {**_ok("Workflow"), **_ok("Workflow", "202")},
                              [_WORKFLOW_ID, wait, _query("until", {"enum": list(workflow.WAIT_UNTIL)})]),
            "put": _operation("UpdateWorkflow", _ok("Workflow"), [_WORKFLOW_ID],
                              _body({"$ref": REF.format(model="UpdateWorkflowRequest")})),
            "patch": _operation("PatchWorkflow", {"204": {"description": "No Content"}}, [_WORKFLOW_ID], patch),
            "delete": _operation("DeleteWorkflow", {"204": {"description": "No Content"}}, [_WORKFLOW_ID]),
        },
        wf + "/tags": {
            "post": _operation("AddWorkflowTag", {"204": {"description": "No Content"}}, [_WORKFLOW_ID],
                               _body({"type": "string", "maxLength": workflow.MAX_TAG_LENGTH})),
            "delete": _operation("RemoveAllWorkflowTags", {"204": {"description": "No Content"}}, [_WORKFLOW_ID]),
        },
        wf + "/tags/{tag}": {"delete": _operation("RemoveWorkflowTag", {"204": {"description": "No Content"}}, [
            _WORKFLOW_ID, {"name": "tag", "in": "path", "required": True, "schema": {"type": "string"}}])},
        wf + "/steps/{stepName}": {
            "get": _operation("GetWorkflowStep", _ok("WorkflowStep"), [_WORKFLOW_ID, _STEP_NAME]),
            "put": _operation("UpdateWorkflowStep", {"204": {"description": "No Content"}, "409": _PROBLEM},
                              [_WORKFLOW_ID, _STEP_NAME], _body({"$ref": REF.format(model="UpdateWorkflowStepRequest")})),
            "patch": _operation("PatchWorkflowStep", {"204": {"description": "No Content"}, "409": _PROBLEM},
                                [_WORKFLOW_ID, _STEP_NAME], patch),
        },
        "/v2/consumer/recipes/videoGen": {"post": _operation(
            "InvokeVideoGenStepTemplate", {**_ok("VideoGenOutput"), **_ok("VideoGenOutput", "202")},
            [_query(n, {"type": "boolean"}) for n in ("whatif", "experimental", "allowMatureContent", "ephemeral")],
            _body(video_input))},
        "/v2/consumer/blobs/{blobId}": {
            "get": _operation("GetBlob", {"308": {"description": "Redirect to a signed URL"}, "403": _PROBLEM},
                              [_BLOB_ID, _query("filename", {"type": "string"}), _query("download", {"type": "boolean"})]),
            "head": _operation("HeadBlob", {"204": {"description": "No Content"}}, [_BLOB_ID]),
        },
        "/v2/consumer/blobs/{blobId}/refresh": {"post": _operation("RefreshBlob", _ok("VideoBlob"), [_BLOB_ID])},
    }


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document describing the fake's consumer surface."""
    _, schemas = models_json_schema([(m, "validation") for m in MODELS], ref_template=REF)
    return {
        "openapi": "3.1.0",
        "info": {"title": "civitai-mock: Civitai orchestration API (videoGen / Kling) fake", "version": __version__},
        "paths": _paths(),
        "components": {"schemas": schemas.get("$defs", {}),
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }
