"""What happened to a workflow so far: every applied transition of the workflow, its steps and jobs."""

from __future__ import annotations

from typing import Any

from civitai_mock.mock_server.engine.core import EngineCore
from civitai_mock.mock_server.engine.timestamps import iso


class WorkflowHistory(EngineCore):
    """The transitions a workflow went through, with clock times (for the dashboard)."""

    def timeline(self, tenant: str, workflow_id: str) -> list[dict[str, Any]]:
        """Applied lifecycle events, in order: ``{"at", "scope", "step", "status", "progress"?, "reason"?}``."""
        with self.state.changing():
            now = self.now()
            record = self._record(tenant, workflow_id, gone_too=True)
            items = []
            for event in record.events_until(now):
                item: dict[str, Any] = {"at": iso(event.at), "scope": event.scope, "status": event.status,
                                        "step": record.steps[event.step].name if event.step >= 0 else None}
                if event.progress is not None and event.status == "processing":
                    item["progress"] = event.progress
                if event.reason:
                    item["reason"] = event.reason
                items.append(item)
            return items
