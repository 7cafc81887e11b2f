"""Changing a submitted workflow: UpdateWorkflow, PatchWorkflow (JSON Patch), tags, steps, blobs."""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
from pydantic import ValidationError

from contracts.validation import ContractViolation, errors_of, validate_video_input
from contracts.workflow import MAX_TAG_LENGTH, MAX_TAGS, UpdateWorkflowRequest, UpdateWorkflowStepRequest
from mock_server.engine.records import StepRecord, WorkflowRecord
from mock_server.engine.service import Conflict, Engine, NotFound

#: Step statuses in which a step may still be changed.
CHANGEABLE_STEP_STATUSES = ("unassigned", "preparing", "scheduled")


def _check_tags(tags: list[str], path: str = "tags") -> None:
    if len(tags) > MAX_TAGS:
        raise ContractViolation({path: [f"A workflow can have at most {MAX_TAGS} tags"]})
    for tag in tags:
        if not isinstance(tag, str) or not tag or len(tag) > MAX_TAG_LENGTH:
            raise ContractViolation({path: [f"Each tag must be a string of 1 to {MAX_TAG_LENGTH} characters"]})


def update_workflow(engine: Engine, tenant: str, workflow_id: str, body: Any) -> WorkflowRecord:
    """UpdateWorkflow: replace metadata / tags, allow mature content, or cancel."""
    try:
        request = UpdateWorkflowRequest.model_validate(body)
    except ValidationError as exc:
        raise ContractViolation(errors_of(UpdateWorkflowRequest, exc, "")) from None
    with engine._lock:
        record = engine.get(tenant, workflow_id)
        if request.tags is not None:
            _check_tags(request.tags)
            record.tags = list(dict.fromkeys(request.tags))
        if request.metadata is not None:
            record.metadata = request.metadata
        if request.allow_mature_content is not None:
            record.allow_mature_content = request.allow_mature_content
        engine.save(record)
        if request.status == "canceled":
            engine.cancel(tenant, workflow_id)
        return record


def _apply_patch(document: dict[str, Any], operations: Any) -> dict[str, Any]:
    if not isinstance(operations, list):
        raise ContractViolation({"$": ["A JSON Patch document must be an array of operations"]})
    try:
        return jsonpatch.apply_patch(document, operations)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError, KeyError, ValueError) as exc:
        raise ContractViolation({"$": [f"The JSON Patch cannot be applied: {exc}"]}) from None


def patch_workflow(engine: Engine, tenant: str, workflow_id: str, operations: Any) -> WorkflowRecord:
    """PatchWorkflow: JSON Patch over ``metadata``, ``tags``, ``allowMatureContent`` and ``status``."""
    with engine._lock:
        record = engine.get(tenant, workflow_id)
        status = engine.status(record)
        document = {"metadata": copy.deepcopy(record.metadata), "tags": list(record.tags),
                    "allowMatureContent": bool(record.allow_mature_content), "status": status}
        patched = _apply_patch(document, operations)
        unknown = set(patched) - set(document)
        if unknown:
            raise ContractViolation({f"/{name}": ["This property cannot be patched"] for name in sorted(unknown)})
        change: dict[str, Any] = {}
        for name in ("metadata", "tags", "allowMatureContent"):
            if name in patched and patched[name] != document[name]:
                change[name] = patched[name]
        if patched.get("status") != status:
            if patched.get("status") != "canceled":
                raise ContractViolation({"/status": ["status can only be patched to 'canceled'"]})
            change["status"] = "canceled"
        return update_workflow(engine, tenant, workflow_id, change)


def add_tag(engine: Engine, tenant: str, workflow_id: str, tag: Any) -> None:
    """AddWorkflowTag: the body is a JSON string."""
    if not isinstance(tag, str):
        raise ContractViolation({"$": ["The body must be a JSON string: the tag to add"]})
    with engine._lock:
        record = engine.get(tenant, workflow_id)
        if tag not in record.tags:
            _check_tags([*record.tags, tag], "tag")
            record.tags.append(tag)
            engine.save(record)


def remove_tag(engine: Engine, tenant: str, workflow_id: str, tag: str | None) -> None:
    """RemoveWorkflowTag (one tag) or RemoveAllWorkflowTags (``tag`` None)."""
    with engine._lock:
        record = engine.get(tenant, workflow_id)
        record.tags = [] if tag is None else [t for t in record.tags if t != tag]
        engine.save(record)


def find_step(engine: Engine, tenant: str, workflow_id: str, step_name: str) -> tuple[WorkflowRecord, int]:
    """A workflow and the index of its step ``step_name`` (``0`` finds ``$0``), or NotFound."""
    record = engine.get(tenant, workflow_id)
    index = record.step_index(step_name)
    if index is None:
        raise NotFound(f"Workflow '{workflow_id}' has no step named '{step_name}'.")
    return record, index


def _changeable(engine: Engine, record: WorkflowRecord, step: StepRecord) -> None:
    status = engine.render.step_status(record, step, engine.now())
    if status not in CHANGEABLE_STEP_STATUSES:
        raise Conflict(f"Step '{step.name}' is {status}; a step can only be changed before it starts processing.")


def update_step(engine: Engine, tenant: str, workflow_id: str, step_name: str, body: Any) -> None:
    """UpdateWorkflowStep: replace the step's metadata (409 once the step started)."""
    try:
        request = UpdateWorkflowStepRequest.model_validate(body)
    except ValidationError as exc:
        raise ContractViolation(errors_of(UpdateWorkflowStepRequest, exc, "")) from None
    with engine._lock:
        record, index = find_step(engine, tenant, workflow_id, step_name)
        step = record.steps[index]
        _changeable(engine, record, step)
        step.metadata = request.metadata
        engine.save(record)


def patch_step(engine: Engine, tenant: str, workflow_id: str, step_name: str, operations: Any) -> None:
    """PatchWorkflowStep: JSON Patch over ``metadata`` and ``input`` (re-validated; price unchanged)."""
    with engine._lock:
        record, index = find_step(engine, tenant, workflow_id, step_name)
        step = record.steps[index]
        _changeable(engine, record, step)
        document = {"metadata": copy.deepcopy(step.metadata), "input": copy.deepcopy(step.input)}
        patched = _apply_patch(document, operations)
        if set(patched) != set(document) or not isinstance(patched["metadata"], dict):
            raise ContractViolation({"$": ["Only /metadata and /input of a step can be patched"]})
        if patched["input"] != document["input"]:
            new_input = validate_video_input(patched["input"], "input")
            if new_input.engine != document["input"]["engine"]:
                raise ContractViolation({"input.engine": ["The engine of a submitted step cannot change"]})
            step.input = new_input.to_json()
        step.metadata = patched["metadata"]
        engine.save(record)


def find_blob(engine: Engine, tenant: str, blob_id: str) -> tuple[WorkflowRecord, StepRecord]:
    """The available blob ``blob_id`` of this tenant (its step succeeded), or NotFound."""
    with engine._lock:
        engine.now()
        owner = engine.store.blob_owner(blob_id)
        if owner is None or owner[0] != tenant:
            raise NotFound(f"Blob '{blob_id}' was not found.")
        record = engine.get(owner[0], owner[1])
        for step in record.steps:
            if step.blob_id == blob_id and engine.render.step_status(record, step, engine.now()) == "succeeded":
                return record, step
        raise NotFound(f"Blob '{blob_id}' is not available (its step has not succeeded).")
