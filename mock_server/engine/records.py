"""What the engine stores per workflow: the submission, the plan of each step, and the money moved."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from mock_server.engine.lifecycle import StepPlan, Transition, transitions


@dataclass(slots=True)
class StepRecord:
    """One stored step: its echoed input, the job and blob it will produce, and its plan."""

    name: str
    input: dict[str, Any]
    priority: str
    timeout: str
    retries: int | None
    metadata: dict[str, Any]
    job_id: str
    blob_id: str
    aspect_ratio: str
    seconds: int
    audio: bool
    nsfw_level: str
    job_cost: float
    plan: StepPlan


@dataclass(slots=True)
class WorkflowRecord:
    """One stored workflow; status and events are derived from ``steps[*].plan`` and the clock."""

    id: str
    tenant: str
    seq: int
    created: float
    steps: list[StepRecord]
    price: int
    transactions: list[dict[str, Any]]
    metadata: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    arguments: dict[str, Any] = field(default_factory=dict)
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    tips: dict[str, float] = field(default_factory=lambda: {"civitai": 0, "creators": 0})
    experimental: bool | None = None
    allow_mature_content: bool | None = None
    upgrade_mode: str = "manual"
    currencies: list[str] = field(default_factory=list)
    ephemeral: bool | None = None
    external_id: str | None = None
    canceled_at: float | None = None
    refunded: bool = False
    deleted: bool = False
    applied: int = 0
    _events: list[Transition] | None = field(default=None, repr=False, compare=False)

    def events(self) -> list[Transition]:
        """Every lifecycle event of this workflow, in order (cached until the plan changes)."""
        if self._events is None:
            self._events = transitions([s.plan for s in self.steps], self.created, self.canceled_at)
        return self._events

    def cancel(self, at: float) -> None:
        """Cut the plan at ``at``: what has not ended by then ends as canceled."""
        self.canceled_at = at
        self._events = None

    def next_event_at(self) -> float | None:
        """When the next not-yet-applied event happens, or None when all have."""
        events = self.events()
        return events[self.applied].at if self.applied < len(events) else None

    def step_index(self, name: str) -> int | None:
        """Index of the step called ``name`` (``0`` is accepted for ``$0``)."""
        for index, step in enumerate(self.steps):
            if step.name == name or (step.name == f"${name}" and name.isdigit()):
                return index
        return None

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-able dict (for SQLite)."""
        data = asdict(self)
        data.pop("_events", None)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "WorkflowRecord":
        """Rebuild from ``to_json`` output."""
        steps = [StepRecord(**{**s, "plan": StepPlan(**s["plan"])}) for s in data["steps"]]
        return cls(**{**data, "steps": steps})
