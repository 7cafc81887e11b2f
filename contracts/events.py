"""Webhook event models (workflow, step and job scope), named as the official schemas."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag

from civitai_mock.contracts.workflow import (
    ApiModel,
    Timestamp,
    WorkflowStatus,
)


class WorkflowEventStepDetails(ApiModel):
    """A step inside a detailed workflow event."""

    name: str
    status: WorkflowStatus
    started_at: Timestamp | None = None
    completed_at: Timestamp | None = None
    metadata: dict[str, Any] | None = None
    input: dict[str, Any] | None = None
    output: dict[str, Any] | None = None
    cost: float | None = None


class WorkflowEventDetails(ApiModel):
    """Workflow timings and steps, sent when a callback is ``detailed``."""

    created_at: Timestamp
    started_at: Timestamp | None = None
    completed_at: Timestamp | None = None
    metadata: dict[str, Any] | None = None
    arguments: dict[str, Any] | None = None
    steps: list[WorkflowEventStepDetails]


class WorkflowEvent(ApiModel):
    """A workflow-scoped webhook payload."""

    type_: Literal["workflow"] = Field("workflow", alias="$type")
    workflow_id: str
    status: WorkflowStatus
    timestamp: Timestamp
    details: WorkflowEventDetails | None = None


class WorkflowStepEventDetails(ApiModel):
    """Step timings and output, sent when a callback is ``detailed``."""

    started_at: Timestamp | None = None
    completed_at: Timestamp | None = None
    estimated_progress_rate: float | None = None
    retries: int = 0
    metadata: dict[str, Any] | None = None
    input: dict[str, Any] | None = None
    output: dict[str, Any] | None = None


class WorkflowStepEvent(ApiModel):
    """A step-scoped webhook payload."""

    type_: Literal["step"] = Field("step", alias="$type")
    workflow_id: str
    name: str
    status: WorkflowStatus
    details: WorkflowStepEventDetails | None = None


class WorkflowStepJobEvent(ApiModel):
    """A job-scoped webhook payload."""

    type_: Literal["job"] = Field("job", alias="$type")
    workflow_id: str
    step_name: str
    job_id: str
    status: WorkflowStatus
    progress: float | None = None
    reason: str | None = None
    blocked_reason: str | None = None


AnyEvent = Annotated[
    Annotated[WorkflowEvent, Tag("workflow")]
    | Annotated[WorkflowStepEvent, Tag("step")]
    | Annotated[WorkflowStepJobEvent, Tag("job")],
    Discriminator(lambda v: v.get("$type") if isinstance(v, dict) else getattr(v, "type_", None)),
]
