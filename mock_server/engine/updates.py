"""What UpdateWorkflow, PatchWorkflow (JSON Patch), tags and step updates change, as pure functions.

The engine calls these under its lock and then re-plans, re-prices and persists as needed.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
from pydantic import ValidationError

from civitai_mock.contracts.validation import (
    ContractViolation,
    StepInput,
    errors_of,
    validate_step_input,
)
from civitai_mock.contracts.workflow import QUEUED_STATUSES, UpdateWorkflowRequest, UpdateWorkflowStepRequest
from civitai_mock.mock_server.engine.errors import Conflict
from civitai_mock.mock_server.engine.records import StepRecord, WorkflowRecord

#: Step statuses in which a step may still be changed: while it waits in a queue.
CHANGEABLE_STEP_STATUSES = QUEUED_STATUSES


def parse_update(body: Any) -> UpdateWorkflowRequest:
    """The UpdateWorkflow body as a model; 400 with paths otherwise."""
    try:
        return UpdateWorkflowRequest.model_validate(body)
    except ValidationError as exc:
        raise ContractViolation(errors_of(UpdateWorkflowRequest, exc, "")) from None


def apply_update(record: WorkflowRecord, request: UpdateWorkflowRequest) -> None:
    """Replace tags, metadata and ``allowMatureContent`` as the request says (cancel is the engine's)."""
    if request.tags is not None:  # the request model holds the tag rules (contracts.workflow.Tags)
        record.tags = list(request.tags)
    if request.metadata is not None:
        record.metadata = request.metadata
    if request.allow_mature_content is not None:
        record.allow_mature_content = request.allow_mature_content


def apply_patch(document: dict[str, Any], operations: Any) -> dict[str, Any]:
    """``document`` after a JSON Patch; 400 when the patch is not an array or cannot be applied."""
    if not isinstance(operations, list):
        raise ContractViolation({"$": ["A JSON Patch document must be an array of operations"]})
    try:
        patched = jsonpatch.apply_patch(document, operations)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError, KeyError, ValueError) as exc:
        raise ContractViolation({"$": [f"The JSON Patch cannot be applied: {exc}"]}) from None
    if not isinstance(patched, dict):  # e.g. a patch replacing the whole document ("path": "")
        raise ContractViolation({"$": ["A JSON Patch may change members of the document, not replace it"]})
    return patched


def workflow_patch(record: WorkflowRecord, status: str, operations: Any) -> dict[str, Any]:
    """The UpdateWorkflow body equivalent to a PatchWorkflow over metadata, tags, allowMatureContent, status."""
    document = {"metadata": copy.deepcopy(record.metadata), "tags": list(record.tags),
                "allowMatureContent": bool(record.allow_mature_content), "status": status}
    patched = apply_patch(document, operations)
    unknown = set(patched) - set(document)
    if unknown:
        raise ContractViolation({f"/{name}": ["This property cannot be patched"] for name in sorted(unknown)})
    change: dict[str, Any] = {name: patched[name] for name in ("metadata", "tags", "allowMatureContent")
                              if name in patched and patched[name] != document[name]}
    if patched.get("status") != status:
        if patched.get("status") != "canceled":
            raise ContractViolation({"/status": ["status can only be patched to 'canceled'"]})
        change["status"] = "canceled"
    return change


def add_tag(record: WorkflowRecord, tag: Any) -> None:
    """AddWorkflowTag: the body is a JSON string; adding a present tag changes nothing."""
    if not isinstance(tag, str):
        raise ContractViolation({"$": ["The body must be a JSON string: the tag to add"]})
    if tag not in record.tags:
        try:
            parse_update({"tags": [*record.tags, tag]})  # the same tag rules as UpdateWorkflow and submit
        except ContractViolation as violation:
            raise ContractViolation({"tag": [m for ms in violation.errors.values() for m in ms]}) from None
        record.tags = [*record.tags, tag]  # a new list: a record's containers are never changed in place


def remove_tag(record: WorkflowRecord, tag: str | None) -> None:
    """RemoveWorkflowTag (one tag) or RemoveAllWorkflowTags (``tag`` None)."""
    record.tags = [] if tag is None else [t for t in record.tags if t != tag]


def check_changeable(step: StepRecord, status: str) -> None:
    """409 once a step started processing."""
    if status not in CHANGEABLE_STEP_STATUSES:
        raise Conflict(f"Step '{step.name}' is {status}; a step can only be changed before it starts processing.")


def step_metadata(body: Any) -> dict[str, Any]:
    """The new metadata of an UpdateWorkflowStep body; 400 otherwise."""
    try:
        return UpdateWorkflowStepRequest.model_validate(body).metadata
    except ValidationError as exc:
        raise ContractViolation(errors_of(UpdateWorkflowStepRequest, exc, "")) from None


def step_patch(step: StepRecord, operations: Any) -> tuple[dict[str, Any], StepInput | None]:
    """PatchWorkflowStep over ``metadata`` and ``input``: the new metadata, and the new input if it changed."""
    document = {"metadata": copy.deepcopy(step.metadata), "input": copy.deepcopy(step.input)}
    patched = apply_patch(document, operations)
    if set(patched) != set(document) or not isinstance(patched["metadata"], dict):
        raise ContractViolation({"$": ["Only /metadata and /input of a step can be patched"]})
    if patched["input"] == document["input"]:
        return patched["metadata"], None
    new_input = validate_step_input(step.type_, patched["input"], "input")
    if new_input.engine != document["input"]["engine"]:
        raise ContractViolation({"input.engine": ["The engine of a submitted step cannot change"]})
    return patched["metadata"], new_input
