"""What the engine stores per workflow: the submission, the plan of each step, and the money moved.

A step's ``input`` is stored once; everything derived from it (the media served, the price, the
timing) is computed from the current input, so a patched step can never serve stale media.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from civitai_mock.contracts.cost import step_cost
from civitai_mock.contracts.kling import VideoInput
from civitai_mock.contracts.validation import validate_video_input
from civitai_mock.contracts.workflow import MATURE_CURRENCY, MATURE_NSFW_LEVELS, NSFW_ORDER
from civitai_mock.mock_server.engine.lifecycle import StepPlan, Transition, transitions


@dataclass(slots=True)
class StepRecord:
    """One stored step: its echoed input, the job and blob it produces, how it must end, and its plan."""

    name: str
    input: dict[str, Any]
    priority: str
    timeout: str
    retries: int | None
    metadata: dict[str, Any]
    job_id: str
    blob_id: str
    nsfw_level: str
    outcome: dict[str, Any]
    plan: StepPlan
    type_: str = "videoGen"
    _parsed: VideoInput | None = field(default=None, repr=False, compare=False)

    def video_input(self) -> VideoInput:
        """The input as its engine's model (parsed once per change of ``input``)."""
        if self._parsed is None:
            self._parsed = validate_video_input(self.input)
        return self._parsed

    def replace_input(self, new_input: VideoInput) -> None:
        """Store a new (validated) input; everything derived follows it."""
        self.input = new_input.to_json()
        self._parsed = new_input

    @property
    def price(self) -> int:
        """Buzz this step costs with its current input."""
        return step_cost(self.video_input())

    @property
    def job_cost(self) -> float:
        """The job's relative complexity score (the docs: not what is charged)."""
        return round(self.price / 100, 2)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-able dict (for SQLite)."""
        data = {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}
        data["plan"] = self.plan.to_json()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "StepRecord":
        """Rebuild from ``to_json`` output (fields written by older versions are ignored)."""
        known = {f.name for f in fields(cls) if not f.name.startswith("_")}
        values = {k: v for k, v in data.items() if k in known}
        values.setdefault("outcome", {})
        values["plan"] = StepPlan(**data["plan"])
        return cls(**values)


@dataclass(slots=True)
class WorkflowRecord:
    """One stored workflow; status and events are derived from ``steps[*].plan`` and the clock."""

    id: str
    tenant: str
    seq: int
    created: float
    steps: list[StepRecord]
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
    nsfw_ceiling: str | None = None
    canceled_at: float | None = None
    refunded: bool = False
    keep_charges: bool = False
    deleted: bool = False
    applied: int = 0
    _events: list[Transition] | None = field(default=None, repr=False, compare=False)

    @property
    def base_price(self) -> int:
        """Buzz the steps cost with their current inputs (tips excluded)."""
        return sum(step.price for step in self.steps)

    def tip_amounts(self) -> dict[str, int]:
        """Buzz tipped to Civitai and to creators: the requested rates applied to the base price."""
        base = self.base_price
        return {name: int(round(base * float(self.tips.get(name, 0) or 0))) for name in ("civitai", "creators")}

    @property
    def price(self) -> int:
        """Buzz the workflow costs: the base price plus tips."""
        return self.base_price + sum(self.tip_amounts().values())

    def withholds(self, step: StepRecord) -> bool:
        """True when the step's output may not be handed out: above the workflow's ``nsfwLevel``, or
        mature while the workflow does not allow mature content (paid with blue/green, not upgraded)."""
        level = step.nsfw_level
        if self.nsfw_ceiling in NSFW_ORDER and level in NSFW_ORDER \
                and NSFW_ORDER.index(level) > NSFW_ORDER.index(self.nsfw_ceiling):
            return True
        if level not in MATURE_NSFW_LEVELS or self.allow_mature_content is True:
            return False
        if self.allow_mature_content is False:
            return True
        return any(account != MATURE_CURRENCY for account in self.charged())  # unset: yellow-settled is allowed

    def waits_for_upgrade(self, step: StepRecord) -> bool:
        """True when mature output was paid with blue/green and only an upgrade to yellow releases it."""
        return step.nsfw_level in MATURE_NSFW_LEVELS and self.allow_mature_content is not True and \
            any(account != MATURE_CURRENCY for account in self.charged())

    def charged(self) -> dict[str, int]:
        """Buzz currently held per account: debits minus credits."""
        net: dict[str, int] = {}
        for transaction in self.transactions:
            sign = 1 if transaction["type"] == "debit" else -1
            net[transaction["accountType"]] = net.get(transaction["accountType"], 0) + sign * transaction["amount"]
        return {account: amount for account, amount in net.items() if amount}

    def events(self) -> list[Transition]:
        """Every lifecycle event of this workflow, in order (cached until the plan changes)."""
        if self._events is None:
            self._events = transitions([s.plan for s in self.steps], self.created, self.canceled_at)
        return self._events

    def plans_changed(self) -> None:
        """Forget the cached events after a plan or the cancel time changed."""
        self._events = None

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
        data = {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}
        data["steps"] = [step.to_json() for step in self.steps]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "WorkflowRecord":
        """Rebuild from ``to_json`` output (fields written by older versions are ignored)."""
        known = {f.name for f in fields(cls) if not f.name.startswith("_")}
        values = {k: v for k, v in data.items() if k in known}
        values["steps"] = [StepRecord.from_json(s) for s in data["steps"]]
        return cls(**values)
