"""Render stored workflows as the JSON the service answers: workflows, steps, jobs, blobs, events."""

from __future__ import annotations

from typing import Any, Callable

from civitai_mock.contracts.image import ImageInput
from civitai_mock.contracts.template import IMAGE_GEN
from civitai_mock.contracts.workflow import (
    FAILED_STATUSES,
    FAILURE_MESSAGES,
    MATURE_NSFW_LEVELS,
    NSFW_ORDER,
    QUEUED_STATUSES,
    TERMINAL_STATUSES,
)
from civitai_mock.mock_server.engine import dependencies, lifecycle
from civitai_mock.mock_server.engine.blobs import BlobSigner
from civitai_mock.mock_server.engine.lifecycle import Transition
from civitai_mock.mock_server.engine.media import frame_size, image_size
from civitai_mock.mock_server.engine.records import StepRecord, WorkflowRecord, numbered_blob_id
from civitai_mock.mock_server.engine.timestamps import iso, iso_text

#: The base of URLs the fake hands out when no request names one (`serve` and the live server set the real one).
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8400"


def _compact(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None}


def _start_estimate(plan: lifecycle.StepPlan) -> float:
    """When a queued step is expected to start processing (when it ends, if it never will)."""
    return plan.processing if plan.processing is not None else plan.end


class Renderer:
    """Turns records into response and event JSON at a given moment, signing blob URLs on the way.

    ``public_url`` gives the base of the URLs a step reference resolves to (the fake's own address).
    """

    def __init__(self, signer: BlobSigner, public_url: Callable[[], str] = lambda: DEFAULT_PUBLIC_URL):
        self.signer = signer
        self.public_url = public_url

    def output_at(self, record: WorkflowRecord, index: int, at: float) -> dict[str, Any] | None:
        """Step ``index``'s output as it reads at ``at`` (what a reference to it resolves to)."""
        return self.step(record, index, at, self.public_url(), quiet=True).get("output")

    def input_of(self, record: WorkflowRecord, index: int, now: float) -> dict[str, Any]:
        """The input as the step shows it: references as submitted until they resolve, their values after."""
        step = record.steps[index]
        if not step.depends_on or dependencies.waiting(record, step, now) or step.plan.after is None:
            return step.input
        return dependencies.resolve(record, index, step.plan.after, self.output_at)[0]

    def step_status(self, record: WorkflowRecord, step: StepRecord, now: float) -> str:
        """Status of one step at ``now``."""
        return lifecycle.step_status(step.plan, now, record.canceled_at)

    def workflow_status(self, record: WorkflowRecord, now: float) -> str:
        """Status of the whole workflow at ``now`` (rolled up from its steps)."""
        return lifecycle.workflow_status([s.plan for s in record.steps], now, record.canceled_at)

    def blob(self, record: WorkflowRecord, step: StepRecord, now: float, base_url: str,
             hide_mature: bool = False, number: int = 0, quiet: bool = False) -> dict[str, Any]:
        """A blob of a succeeded step (the VideoBlob, or ImageBlob ``number``) with a freshly signed URL
        (none while it is withheld or hidden)."""
        parsed = step.parsed_input()
        blob_id = numbered_blob_id(step.blob_id, number)
        hidden = record.withholds(step) or (hide_mature and step.nsfw_level in MATURE_NSFW_LEVELS)
        signed = None if hidden else self.signer.sign(base_url, blob_id, record.tenant, now, quiet)
        url, expires = (signed.url, iso(signed.expires)) if signed else (None, None)
        common = {"id": blob_id, "available": not hidden, "url": url, "urlExpiresAt": expires,
                  "jobId": step.job_id, "nsfwLevel": step.nsfw_level}
        if isinstance(parsed, ImageInput):
            width, height = image_size(parsed.aspect_ratio)
            return _compact({"type": "image", **common, "width": width, "height": height,
                             "previewUrl": url, "previewUrlExpiresAt": expires})
        width, height = frame_size(parsed.aspect_ratio)
        return _compact({"type": "video", **common, "width": width, "height": height,
                         "duration": float(parsed.seconds)})

    def output(self, record: WorkflowRecord, step: StepRecord, now: float, base_url: str,
               hide_mature: bool = False, quiet: bool = False) -> dict[str, Any]:
        """The output of a succeeded step: ``{"video": …}`` or ``{"images": […]}``."""
        if isinstance(step.parsed_input(), ImageInput):
            return {"images": [self.blob(record, step, now, base_url, hide_mature, n, quiet)
                               for n in range(step.outputs)]}
        return {"video": self.blob(record, step, now, base_url, hide_mature, 0, quiet)}

    def _job(self, step: StepRecord, at: lifecycle.StepNow, queue: tuple[int, str, str] | None) -> dict[str, Any]:
        """The single job of a step as it is ``at`` (``queue``: preceding jobs, estimated start and end,
        while it waits in a provider's queue)."""
        plan, status = step.plan, at.status
        job: dict[str, Any] = {"id": step.job_id, "status": status}
        if at.started is not None:
            job["startedAt"] = iso_text(at.started)
        if at.completed is not None:
            job["completedAt"] = iso_text(at.completed)
        if queue is not None:  # the official client's WorkflowStepJobQueuePosition
            job["queuePosition"] = {"support": "available", "precedingJobs": queue[0], "startAt": queue[1],
                                    "completeAt": queue[2]}
        job["cost"] = step.job_cost
        if at.progress is not None:
            job["estimatedProgressRate"] = at.progress
        if status == "canceled":
            job["reason"] = "canceled"
        elif status in FAILED_STATUSES and plan.reason is not None:
            job["reason"] = plan.reason
        if status == "failed" and plan.blocked_reason is not None:
            job["blockedReason"] = plan.blocked_reason
        return job

    def step(self, record: WorkflowRecord, index: int, now: float, base_url: str,
             hide_mature: bool = False, quiet: bool = False) -> dict[str, Any]:
        """One WorkflowStep (videoGen or imageGen) at ``now``."""
        at = lifecycle.step_now(record.steps[index].plan, now, record.canceled_at)
        return self._step(record, index, now, base_url, hide_mature, quiet, at)

    def _step(self, record: WorkflowRecord, index: int, now: float, base_url: str, hide_mature: bool, quiet: bool,
              at: lifecycle.StepNow) -> dict[str, Any]:
        """Step ``index`` as it is ``at`` (its status, times and progress at ``now``)."""
        step = record.steps[index]
        plan, status = step.plan, at.status
        data: dict[str, Any] = {"$type": step.type_, "name": step.name, "priority": step.priority,
                                "timeout": step.timeout}
        if step.retries is not None:
            data["retries"] = step.retries
        data["status"] = status
        if at.started is not None:
            data["startedAt"] = iso_text(at.started)
        if at.completed is not None:
            data["completedAt"] = iso_text(at.completed)
        if step.metadata is not None:
            data["metadata"] = step.metadata or {}  # a fresh one for none: the shared NOTHING never leaves
        if status not in TERMINAL_STATUSES and at.progress is not None:
            data["estimatedProgressRate"] = at.progress
        shown = self.input_of(record, index, now)
        if shown is not None:
            data["input"] = shown
        queue = None  # a step waiting on other steps is in no provider's queue
        if status in QUEUED_STATUSES and not dependencies.waiting(record, step, now):  # WorkflowStepQueuePosition
            queue = (0 if status == "scheduled" else 1, iso_text(_start_estimate(plan)), iso_text(plan.end))
            data["queuePosition"] = {"support": "available", "precedingJobs": queue[0], "estimatedStartAt": queue[1],
                                     "estimatedCompleteAt": queue[2]}
        if status == "succeeded":
            data["output"] = self.output(record, step, now, base_url, hide_mature, quiet)
        elif status in ("failed", "expired"):  # human-readable errors, as the real sample carries them
            key = plan.blocked_reason if plan.blocked_reason in FAILURE_MESSAGES else plan.reason or ""
            errors = step.errors if status == "failed" and step.errors else \
                [FAILURE_MESSAGES.get(key, FAILURE_MESSAGES[""])]
            data["output"] = {"images": [], "errors": errors} if step.type_ == IMAGE_GEN else {"errors": errors}
        data["jobs"] = [self._job(step, at, queue)]
        return data

    def workflow(self, record: WorkflowRecord, now: float, base_url: str,
                 hide_mature: bool = False, quiet: bool = False) -> dict[str, Any]:
        """The whole Workflow at ``now`` (``quiet``: for the fake's own pages, never an ``expire_next`` URL).

        Fields the service leaves out when unset are set only when they have a value, in the order the
        service writes them (the renderer runs on every read: no helper call per field).
        """
        moment = lifecycle.workflow_now([s.plan for s in record.steps], now, record.canceled_at)
        status = moment.status
        full = record.base_price
        base = record.kept_base_of(full)
        tips = record.tip_amounts(base)
        data: dict[str, Any] = {"id": record.id, "createdAt": iso_text(record.created),
                                "transactions": {"list": record.transactions}}
        # what the submission left out is held as shared objects (records.NOTHING, …): fresh ones go out
        if record.metadata is not None:
            data["metadata"] = record.metadata or {}
        data["status"] = status
        if moment.started is not None:
            data["startedAt"] = iso_text(moment.started)
        if moment.completed is not None:
            data["completedAt"] = iso_text(moment.completed)
        if record.tags is not None:
            data["tags"] = record.tags or []
        if record.arguments is not None:
            data["arguments"] = record.arguments or {}
        data["steps"] = [self._step(record, i, now, base_url, hide_mature, quiet, at)
                         for i, at in enumerate(moment.steps)]
        if record.callbacks is not None:
            data["callbacks"] = record.callbacks or []
        if record.tips is not None:
            data["tips"] = dict(record.tips)
        data["cost"] = {"base": base, "factors": {"base": float(full), "quantity": 1.0}, "fixed": {},
                        "tips": tips, "total": base + sum(tips.values())}
        if status == "succeeded":
            data["nsfwLevel"] = self._nsfw(record)
        if record.experimental is not None:
            data["experimental"] = record.experimental
        if record.allow_mature_content is not None:
            data["allowMatureContent"] = record.allow_mature_content
        data["upgradeMode"] = record.upgrade_mode
        if record.currencies is not None:
            data["currencies"] = list(record.currencies)
        data["forceRefunded"] = False
        if record.ephemeral is not None:
            data["ephemeral"] = record.ephemeral
        if record.external_id is not None:
            data["externalId"] = record.external_id
        return data

    @staticmethod
    def _nsfw(record: WorkflowRecord) -> str:
        levels = [s.nsfw_level for s in record.steps if s.nsfw_level in NSFW_ORDER]
        return max(levels, key=NSFW_ORDER.index, default="pg")

    # --- webhook payloads ------------------------------------------------------------------

    def event(self, record: WorkflowRecord, event: Transition, detailed: bool, base_url: str) -> dict[str, Any]:
        """The webhook payload for one lifecycle event (WorkflowEvent / WorkflowStepEvent / WorkflowStepJobEvent)."""
        now = event.at
        if event.scope == "workflow":
            payload: dict[str, Any] = {"$type": "workflow", "workflowId": record.id, "status": event.status,
                                       "timestamp": iso(now)}
            if detailed:
                payload["details"] = self._workflow_details(record, now, base_url)
            return payload
        step = record.steps[event.step]
        if event.scope == "step":
            payload = {"$type": "step", "workflowId": record.id, "name": step.name, "status": event.status}
            if detailed:
                rendered = self.step(record, event.step, now, base_url)
                payload["details"] = _compact({
                    "startedAt": rendered.get("startedAt"), "completedAt": rendered.get("completedAt"),
                    "estimatedProgressRate": rendered.get("estimatedProgressRate"), "retries": 0,
                    "metadata": rendered.get("metadata"), "input": rendered.get("input"),
                    "output": rendered.get("output"),
                })
            return payload
        return _compact({
            "$type": "job", "workflowId": record.id, "stepName": step.name, "jobId": step.job_id,
            "status": event.status, "progress": event.progress, "reason": event.reason,
            "blockedReason": event.blocked_reason,
        })

    def _workflow_details(self, record: WorkflowRecord, now: float, base_url: str) -> dict[str, Any]:
        rendered = self.workflow(record, now, base_url)
        steps = [
            _compact({
                "name": s["name"], "status": s["status"], "startedAt": s.get("startedAt"),
                "completedAt": s.get("completedAt"), "metadata": s.get("metadata"), "input": s.get("input"),
                "output": s.get("output"), "cost": float(record.steps[i].job_cost),
            })
            for i, s in enumerate(rendered["steps"])
        ]
        return _compact({
            "createdAt": rendered["createdAt"], "startedAt": rendered.get("startedAt"),
            "completedAt": rendered.get("completedAt"), "metadata": rendered.get("metadata"),
            "arguments": rendered.get("arguments"), "steps": steps,
        })
