"""Reading workflows: views, held-read fingerprints, query pages, single steps. Records stay inside."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from civitai_mock.contracts.validation import ContractViolation
from civitai_mock.contracts.workflow import FAILED_STATUSES
from civitai_mock.mock_server.engine import dependencies
from civitai_mock.mock_server.engine.core import EngineCore
from civitai_mock.mock_server.engine.errors import NotFound
from civitai_mock.mock_server.engine.records import WorkflowRecord


class WorkflowReads(EngineCore):
    """GetWorkflow, QueryWorkflows, GetWorkflowStep as JSON views."""

    def view(self, tenant: str, workflow_id: str, base_url: str | None = None,
             hide_mature: bool = False, gone_too: bool = False, quiet: bool = False) -> dict[str, Any]:
        """The Workflow JSON right now (NotFound for another tenant's workflow too).

        ``gone_too`` also finds a finished ephemeral workflow: the answer to its own held submit.
        ``quiet``: a view no client receives (the dashboard): its URLs never use up ``expire_next``.
        """
        with self.state.changing():
            now = self.now()
            record = self._record(tenant, workflow_id, gone_too)
            return self.render.workflow(record, now, base_url or self.config.public_url, hide_mature, quiet)

    def fingerprint(self, tenant: str, workflow_id: str) -> tuple[str, ...]:
        """Workflow and step statuses right now (what ``until=change`` watches); () once it is gone."""
        with self.state.changing():
            now = self.now()
            record = self.store.get(tenant, workflow_id)
            if record is None:
                return ()
            return (self.render.workflow_status(record, now),
                    *(self.render.step_status(record, s, now) for s in record.steps))

    def moments(self, tenant: str, workflow_id: str) -> list[float]:
        """The clock times, from now on, at which the workflow changes (what a held read steps through);
        [] for an unknown one. A workflow whose events have no effect is never scheduled, so
        ``next_due`` does not name these."""
        with self.state.changing():
            now = self.now()
            record = self.store.get(tenant, workflow_id)
            if record is None:
                return []
            times = sorted({event.at for event in record.events() if event.at > now})
            record.next_event_at()  # a finished workflow keeps no event list
            return times

    def query(self, tenant: str, *, cursor: str | None = None, take: int = 100, tags: list[str] | None = None,
              exclude_tags: list[str] | None = None, ascending: bool = False, from_date: datetime | None = None,
              to_date: datetime | None = None, exclude_failed: bool = False, text: str | None = None,
              base_url: str | None = None, hide_mature: bool = False,
              quiet: bool = False) -> tuple[list[dict[str, Any]], str]:
        """A page of a tenant's workflows (newest first unless ``ascending``) and the next cursor ('' at the end).

        ``quiet``: a page no client receives (the dashboard): its URLs never use up ``expire_next``.
        """
        with self.state.changing():
            now = self.now()
            start = _decode_cursor(cursor)
            lo = from_date.timestamp() if from_date else None
            hi = to_date.timestamp() if to_date else None

            def keep(record: WorkflowRecord) -> bool:
                if tags and not all(t in record.tags for t in tags):
                    return False
                if exclude_tags and any(t in record.tags for t in exclude_tags):
                    return False
                if (lo is not None and record.created < lo) or (hi is not None and record.created > hi):
                    return False
                if exclude_failed and self.render.workflow_status(record, now) in FAILED_STATUSES:
                    return False
                return not text or text.lower() in json.dumps(record.metadata).lower()

            filtered = bool(tags or exclude_tags or exclude_failed or text) or lo is not None or hi is not None
            records, next_seq = self.store.page(tenant, start, take, ascending, keep if filtered else None)
            url = base_url or self.config.public_url
            items = [self.render.workflow(r, now, url, hide_mature, quiet) for r in records]
            return items, ("" if next_seq is None else str(next_seq))

    def dependencies(self, tenant: str, workflow_id: str) -> dict[str, list[str]]:
        """Which step waits on which (``{"$1": ["$0"]}``; steps that wait on nothing left out), for the
        request log and the ``/_mock`` views; {} for a workflow that is gone or another tenant's."""
        with self.state.reading():
            record = self.store.get(tenant, workflow_id)
            return dependencies.depends_on(record) if record is not None else {}

    def _step(self, tenant: str, workflow_id: str, step_name: str) -> tuple[WorkflowRecord, int]:
        record = self._record(tenant, workflow_id)
        index = record.step_index(step_name)
        if index is None:
            raise NotFound(f"Workflow '{workflow_id}' has no step named '{step_name}'.")
        return record, index

    def step_view(self, tenant: str, workflow_id: str, step_name: str, base_url: str | None = None) -> dict[str, Any]:
        """GetWorkflowStep (``0`` finds ``$0``)."""
        with self.state.changing():
            now = self.now()
            record, index = self._step(tenant, workflow_id, step_name)
            return self.render.step(record, index, now, base_url or self.config.public_url)


def _decode_cursor(cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        return int(cursor)
    except ValueError:
        raise ContractViolation({"cursor": [f"'{cursor}' is not a cursor returned by QueryWorkflows"]}) from None
