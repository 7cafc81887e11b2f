"""Changing workflows: cancel, delete, update, patch, tags, step updates (re-planned and re-priced)."""

from __future__ import annotations

import random
from typing import Any

from civitai_mock.contracts.validation import validate_step_input
from civitai_mock.contracts.workflow import TERMINAL_STATUSES
from civitai_mock.mock_server.engine import dependencies, updates
from civitai_mock.mock_server.engine import submission as build
from civitai_mock.mock_server.engine.accounts import transactions
from civitai_mock.mock_server.engine.core import give_back
from civitai_mock.mock_server.engine.errors import Conflict
from civitai_mock.mock_server.engine.reading import WorkflowReads
from civitai_mock.mock_server.engine.records import WorkflowRecord


class WorkflowChanges(WorkflowReads):
    """UpdateWorkflow, PatchWorkflow, DeleteWorkflow, tags, UpdateWorkflowStep, PatchWorkflowStep."""

    def cancel(self, tenant: str, workflow_id: str) -> None:
        """Cancel a running workflow (refunding it); a finished one is left as it is."""
        with self.state.changing():
            now = self.now()
            record = self._record(tenant, workflow_id)
            if self.render.workflow_status(record, now) not in TERMINAL_STATUSES:
                record.cancel(now)
                self._schedule(record)
                self.settle(now)

    def delete(self, tenant: str, workflow_id: str) -> None:
        """DeleteWorkflow: the workflow is gone for every read and query from now on.

        Work not yet finished is stopped; it is refunded only when no step has started processing
        (the schema: "may trigger a refund if the work … has not yet started").
        """
        with self.state.changing():
            now = self.now()
            record = self._record(tenant, workflow_id)
            if self.render.workflow_status(record, now) not in TERMINAL_STATUSES:
                started = any(s.plan.processing is not None and s.plan.processing <= now for s in record.steps)
                record.keep_charges = started
                record.cancel(now)
                self._schedule(record)
                self.settle(now)
            record.deleted = True
            self.store.save(record)

    def update_workflow(self, tenant: str, workflow_id: str, body: Any) -> None:
        """UpdateWorkflow: replace metadata / tags, allow mature content, or cancel."""
        request = updates.parse_update(body)
        with self.state.changing():
            now = self.now()  # refunds already due are applied before the upgrade looks at the charges
            record = self._record(tenant, workflow_id)
            if request.allow_mature_content is True and record.allow_mature_content is not True:
                self._upgrade(record)  # the guide: refund blue/green, charge yellow; 400 when yellow is short
            updates.apply_update(record, request)
            if dependencies.compose(record, self.render.output_at, since=now):
                self._schedule(record)  # references still to resolve now read output that is no longer withheld
            self.store.save(record)
            if request.status == "canceled":
                self.cancel(tenant, workflow_id)

    def patch_workflow(self, tenant: str, workflow_id: str, operations: Any) -> None:
        """PatchWorkflow: JSON Patch over ``metadata``, ``tags``, ``allowMatureContent`` and ``status``."""
        with self.state.changing():
            now = self.now()
            record = self._record(tenant, workflow_id)
            change = updates.workflow_patch(record, self.render.workflow_status(record, now), operations)
            self.update_workflow(tenant, workflow_id, change)

    def add_tag(self, tenant: str, workflow_id: str, tag: Any) -> None:
        """AddWorkflowTag."""
        with self.state.changing():
            record = self._record(tenant, workflow_id)
            updates.add_tag(record, tag)
            self.store.save(record)

    def remove_tag(self, tenant: str, workflow_id: str, tag: str | None) -> None:
        """RemoveWorkflowTag (one tag) or RemoveAllWorkflowTags (``tag`` None)."""
        with self.state.changing():
            record = self._record(tenant, workflow_id)
            updates.remove_tag(record, tag)
            self.store.save(record)

    def update_step(self, tenant: str, workflow_id: str, step_name: str, body: Any) -> None:
        """UpdateWorkflowStep: replace the step's metadata (409 once the step started)."""
        metadata = updates.step_metadata(body)
        with self.state.changing():
            now = self.now()
            record, index = self._step(tenant, workflow_id, step_name)
            step = record.steps[index]
            updates.check_changeable(step, self.render.step_status(record, step, now))
            step.metadata = metadata
            self.store.save(record)

    def patch_step(self, tenant: str, workflow_id: str, step_name: str, operations: Any) -> None:
        """PatchWorkflowStep over metadata and input: a new input re-plans and re-prices the step."""
        with self.state.changing():
            now = self.now()
            record, index = self._step(tenant, workflow_id, step_name)
            step = record.steps[index]
            updates.check_changeable(step, self.render.step_status(record, step, now))
            if step.depends_on and _touches_input(operations):
                raise Conflict(f"Step '{step.name}' waits on {', '.join(step.depends_on)}: the input of a step "
                               "that references other steps cannot be patched (its metadata can).")
            metadata, new_input = updates.step_patch(step, operations)
            if new_input is not None:
                self._replace_input(record, index, new_input)
                dependencies.compose(record, self.render.output_at, since=now)  # its dependents move with it
            step.metadata = metadata
            self.store.save(record)
            self._schedule(record)

    def _replace_input(self, record: WorkflowRecord, index: int, new_input: Any) -> None:
        step = record.steps[index]
        before, old = record.price, step.input
        step.replace_input(new_input)
        difference = record.price - before
        if difference > 0:
            try:
                charges = self.accounts.debit(record.tenant, difference, record.currencies)
            except Exception:
                step.replace_input(validate_step_input(step.type_, old))
                raise
            record.transactions += transactions("debit", charges, self.ids.uuid)
        elif difference < 0:
            credits = give_back(record.charged(), -difference, record.currencies)
            self.accounts.credit(record.tenant, credits)
            record.transactions += transactions("credit", credits, self.ids.uuid)
        build.replan(record, index, random.Random(f"{self.config.seed}:{record.id}:{index}:{step.input}"), self.scale)


def _touches_input(operations: object) -> bool:
    """True when a JSON Patch changes ``/input`` (or anything under it)."""
    return isinstance(operations, list) and any(
        isinstance(op, dict) and op.get("op") != "test" and str(op.get("path", "")).startswith("/input")
        for op in operations)
