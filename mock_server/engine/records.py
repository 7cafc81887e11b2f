"""What the engine stores per workflow: the submission, the plan of each step, and the money moved.

A step's ``input`` is stored once; everything derived from it (the media served, the price, the
timing) is computed from the current input, so a patched step can never serve stale media. A step
whose input references other steps stores it as submitted (references kept); its price, media and
draft plan come from the input with stand-ins for those values (``parsed_input``).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, field, fields
from typing import Any, Sequence

from civitai_mock.contracts.cost import step_cost
from civitai_mock.contracts.image import ImageInput
from civitai_mock.contracts.kling import VideoInput
from civitai_mock.contracts.outcomes import Outcome
from civitai_mock.contracts.references import find, step_index
from civitai_mock.contracts.template import VIDEO_GEN
from civitai_mock.contracts.validation import StepInput, provisional_input, validate_step_input
from civitai_mock.contracts.workflow import MATURE_CURRENCY, MATURE_NSFW_LEVELS, NSFW_ORDER
from civitai_mock.mock_server.engine.lifecycle import StepPlan, Transition, transitions

#: What a record holds for what its submission left out: one object each, shared by every record that
#: holds it (they were a fifth of a stored workflow). Nothing changes a record's containers in place (a
#: change stores a new one) and views hand out fresh copies of these, never the objects themselves.
NOTHING: dict[str, Any] = {}
NONE_LISTED: tuple[()] = ()
NO_TIPS: dict[str, float] = {"civitai": 0, "creators": 0}

_NUMBERED_BLOB = re.compile(r"^(?P<stem>[0-9a-f]+)-(?P<index>[1-9]\d{0,2})\.(?P<ext>\w+)$")


def numbered_blob_id(primary: str, index: int) -> str:
    """The id of a step's ``index``-th output blob: the stored id for the first, ``<stem>-<index>.<ext>`` after."""
    if index == 0:
        return primary
    stem, _, extension = primary.rpartition(".")
    return f"{stem}-{index}.{extension}"


def primary_blob_id(blob_id: str) -> tuple[str, int]:
    """(the step's stored blob id, which of its outputs) for any blob id ``numbered_blob_id`` made."""
    match = _NUMBERED_BLOB.match(blob_id)
    if match is None:
        return blob_id, 0
    return f"{match['stem']}.{match['ext']}", int(match["index"])


def tip_amounts(base: int, tips: dict[str, float]) -> dict[str, int]:
    """Buzz tipped to Civitai and to creators: the requested rates applied to ``base``."""
    if not tips.get("civitai") and not tips.get("creators"):  # most workflows tip nothing
        return {"civitai": 0, "creators": 0}
    return {name: int(round(base * float(tips.get(name, 0) or 0))) for name in ("civitai", "creators")}


def price_with_tips(base: int, tips: dict[str, float]) -> int:
    """What a workflow whose steps cost ``base`` costs with its tips."""
    return base + sum(tip_amounts(base, tips).values())


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
    outcome: Outcome
    plan: StepPlan
    type_: str = VIDEO_GEN
    #: names of the steps whose output this step's input references
    depends_on: tuple[str, ...] = ()
    #: for a step that waits: its plan drawn as if its dependencies had ended at time 0
    draft: StepPlan | None = None
    #: why the resolved input was refused (``output.errors`` of the step), when it was
    errors: list[str] | None = None
    #: the input's model, parsed when first needed (a new record keeps its input as JSON only: most are
    #: never read past their plan and price, and a model weighs more than the rest of the record)
    _parsed: VideoInput | ImageInput | None = field(default=None, repr=False, compare=False)
    #: (when, input) of the input with its references resolved, computed when first needed
    _resolved: tuple[float, dict[str, Any]] | None = field(default=None, repr=False, compare=False)
    #: the price of the current input, computed when first needed
    _price: int | None = field(default=None, repr=False, compare=False)

    def parsed_input(self) -> StepInput:
        """The input as its step type's model (parsed once per change of ``input``; stand-ins for references)."""
        if self._parsed is None:
            self._parsed = provisional_input(self.type_, self.input) if find(self.input) else \
                validate_step_input(self.type_, self.input)
        return self._parsed

    def replace_input(self, new_input: StepInput) -> None:
        """Store a new (validated) input; everything derived follows it."""
        self.input = new_input.to_json()
        self._parsed = new_input
        self._resolved = None
        self._price = None

    @property
    def price(self) -> int:
        """Buzz this step costs with its current input."""
        if self._price is None:
            self._price = step_cost(self.parsed_input())
        return self._price

    @property
    def outputs(self) -> int:
        """How many blobs the step produces (images asked for; one video)."""
        parsed = self.parsed_input()
        return parsed.count if isinstance(parsed, ImageInput) else 1

    @property
    def job_cost(self) -> float:
        """The job's relative complexity score (the docs: not what is charged)."""
        return self.price / 100  # a whole number of Buzz over 100: already round to two decimals

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-able dict (for SQLite)."""
        data = {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}
        data["outcome"] = self.outcome.to_json()
        data["plan"] = self.plan.to_json()
        data["draft"] = self.draft.to_json() if self.draft is not None else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "StepRecord":
        """Rebuild from ``to_json`` output (fields written by older versions are ignored)."""
        known = {f.name for f in fields(cls) if not f.name.startswith("_")}
        values = {k: v for k, v in data.items() if k in known}
        values["outcome"] = Outcome.from_json(values.get("outcome") or {})
        values["plan"] = StepPlan(**data["plan"])
        if values.get("draft") is not None:
            values["draft"] = StepPlan(**values["draft"])
        values["depends_on"] = tuple(values.get("depends_on") or ())
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
    tags: Sequence[str] = field(default_factory=list)
    arguments: dict[str, Any] = field(default_factory=dict)
    callbacks: Sequence[dict[str, Any]] = field(default_factory=list)
    tips: dict[str, float] = field(default_factory=lambda: NO_TIPS)
    experimental: bool | None = None
    allow_mature_content: bool | None = None
    upgrade_mode: str = "manual"
    currencies: list[str] = field(default_factory=list)
    ephemeral: bool | None = None
    external_id: str | None = None
    nsfw_ceiling: str | None = None
    canceled_at: float | None = None
    refunded: bool = False
    #: indices of the steps refunded one by one (a failed, expired or canceled step gives its share back)
    refunded_steps: tuple[int, ...] = ()
    keep_charges: bool = False
    deleted: bool = False
    applied: int = 0
    _events: list[Transition] | None = field(default=None, repr=False, compare=False)

    @property
    def base_price(self) -> int:
        """Buzz the steps cost with their current inputs (tips excluded)."""
        total = 0
        for step in self.steps:  # a loop, not a generator: read on every render
            total += step.price
        return total

    def tip_amounts(self, base: int | None = None) -> dict[str, int]:
        """Buzz tipped to Civitai and to creators: the requested rates applied to the base price."""
        return tip_amounts(self.base_price if base is None else base, self.tips)

    @property
    def kept_base(self) -> int:
        """The base price of the steps not refunded (0 once everything was refunded)."""
        return self.kept_base_of(self.base_price)

    def kept_base_of(self, base_price: int) -> int:
        """``kept_base``, given the ``base_price`` already summed."""
        if self.refunded:
            return 0
        if not self.refunded_steps:
            return base_price
        return sum(step.price for index, step in enumerate(self.steps) if index not in self.refunded_steps)

    def step_share(self, index: int) -> int:
        """Buzz step ``index`` accounts for: its price and the tips on it."""
        price = self.steps[index].price
        return price + sum(self.tip_amounts(price).values())

    @property
    def price(self) -> int:
        """Buzz the workflow costs: the base price plus tips."""
        return price_with_tips(self.base_price, self.tips)

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
            depths = self.depths() if any(s.depends_on for s in self.steps) else None
            self._events = transitions([s.plan for s in self.steps], self.created, self.canceled_at, depths)
        return self._events

    def dependencies(self, index: int) -> list[int]:
        """Indices of the steps step ``index`` waits on."""
        found = (self.step_index(name) for name in self.steps[index].depends_on)
        return [i for i in found if i is not None]

    def depths(self) -> list[int]:
        """Per step, the longest chain of steps it waits on (0 for a step that waits on nothing)."""
        known: dict[int, int] = {}

        def depth(index: int) -> int:
            if index not in known:
                known[index] = 0  # submissions hold no cycles; this only guards a damaged record
                known[index] = max((depth(d) + 1 for d in self.dependencies(index)), default=0)
            return known[index]

        return [depth(i) for i in range(len(self.steps))]

    def plans_changed(self) -> None:
        """Forget the cached events after a plan or the cancel time changed."""
        self._events = None

    def cancel(self, at: float) -> None:
        """Cut the plan at ``at``: what has not ended by then ends as canceled."""
        self.canceled_at = at
        self._events = None

    def quiet(self) -> bool:
        """True when none of its lifecycle events has an effect: no callbacks to call, nothing to refund
        (every step succeeds, nothing canceled), no automatic upgrade, not ephemeral. Such a workflow is
        never scheduled; what happened to it is read from its plan and the clock."""
        if self.callbacks or self.ephemeral or self.canceled_at is not None:
            return False
        automatic = self.upgrade_mode == "automatic"
        for step in self.steps:  # a loop, not generators: asked of every new workflow
            if step.plan.status != "succeeded" or (automatic and step.nsfw_level in MATURE_NSFW_LEVELS):
                return False
        return True

    def next_event_at(self) -> float | None:
        """When the next not-yet-applied event with an effect happens, or None when there is none (a
        finished workflow then drops its event list: it is rebuilt only if something reads it again)."""
        if self.quiet():
            self._events = None
            return None
        events = self.events()
        if self.applied < len(events):
            return events[self.applied].at
        self._events = None
        return None

    def events_until(self, now: float) -> list[Transition]:
        """The events that happened by ``now``, in order (for a scheduled workflow: the applied ones)."""
        events = self.events()
        happened = bisect_right(events, now, key=lambda event: event.at)
        self.next_event_at()  # a finished workflow keeps no event list
        return events[:happened]

    def step_index(self, name: str) -> int | None:
        """Index of the step called ``name`` (``$N`` / ``N`` for the unnamed step N), as validation resolves it."""
        return step_index(name, [step.name for step in self.steps])

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
        values["refunded_steps"] = tuple(values.get("refunded_steps") or ())
        return cls(**values)
