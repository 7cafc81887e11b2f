"""Status as a pure function of (plan, time): unassigned → preparing → scheduled → processing → end.

At submission each step gets a ``StepPlan`` (a handful of timestamps and how it ends), drawn from
a seeded RNG. Everything else — status, progress, the ordered list of lifecycle events — is
derived from the plan and the clock, so reading never mutates and terminal states never change.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Iterator, NamedTuple

from civitai_mock.contracts.kling import (
    MODE_FREE_MODELS,
    PROFESSIONAL,
    TYPICAL_SECONDS_V3_STANDARD_5S,
    KlingInput,
    VideoInput,
)
from civitai_mock.contracts.outcomes import Outcome
from civitai_mock.contracts.workflow import TERMINAL_STATUSES

#: Progress points at which ``processing`` repeats (webhook events and step progress).
PROGRESS_MARKS: tuple[float, ...] = (0.25, 0.5, 0.75)
#: Seconds from submission to leaving each queue state (drawn uniformly from these ranges).
UNASSIGNED_SECONDS, PREPARING_SECONDS, SCHEDULED_SECONDS = (1.0, 4.0), (2.0, 10.0), (5.0, 25.0)
SCOPE_ORDER = {"workflow": 0, "step": 1, "job": 2}
#: Run-time factor of the newer original-engine models (v2 slower, v2.5-turbo faster).
NEWER_MODEL_SPEED: dict[str, float] = dict(zip(MODE_FREE_MODELS, (1.2, 0.8)))


@dataclass(slots=True)
class StepPlan:
    """When a step moves, and how it ends. Times are epoch seconds; ``processing`` None = never runs."""

    preparing: float
    scheduled: float
    processing: float | None
    end: float
    status: str
    reason: str | None = None
    blocked_reason: str | None = None

    def to_json(self) -> dict:
        """Plain dict for storage."""
        return asdict(self)


def typical_seconds(video_input: VideoInput, rng: random.Random) -> float:
    """A plausible total run time: 2–5 min for V3 Standard 5 s, longer for Professional, audio, length."""
    low, high = TYPICAL_SECONDS_V3_STANDARD_5S
    seconds = rng.uniform(low, high) * (video_input.seconds / 5) ** 0.75
    if video_input.mode == PROFESSIONAL:
        seconds *= 1.6
    if video_input.generates_audio:
        seconds *= 1.25
    if isinstance(video_input, KlingInput):
        seconds *= NEWER_MODEL_SPEED.get(video_input.model, 1.0)
    return seconds


def plan_step(video_input: VideoInput, outcome: Outcome, created: float, timeout: float,
              rng: random.Random, scale: float = 1.0) -> StepPlan:
    """Draw the timeline of one step from the seeded RNG and the outcome it must have.

    ``scale`` shortens every duration (``1 / speed`` of a system clock): the plan keeps its shape.
    """
    preparing = created + rng.uniform(*UNASSIGNED_SECONDS) * scale
    scheduled = preparing + rng.uniform(*PREPARING_SECONDS) * scale
    processing = scheduled + rng.uniform(*SCHEDULED_SECONDS) * scale
    return _ending(video_input, outcome, created, preparing, scheduled, processing, timeout, rng, scale)


def replan_step(plan: StepPlan, video_input: VideoInput, outcome: Outcome, created: float, timeout: float,
                rng: random.Random, scale: float = 1.0) -> StepPlan:
    """The same queue times, with a run time and ending drawn for a changed input (before processing)."""
    starts = plan.processing if plan.processing is not None else plan.end
    return _ending(video_input, outcome, created, plan.preparing, plan.scheduled, starts, timeout, rng, scale)


def _ending(video_input: VideoInput, outcome: Outcome, created: float, preparing: float, scheduled: float,
            processing: float, timeout: float, rng: random.Random, scale: float) -> StepPlan:
    queued = (processing - created) / scale
    if outcome.runtime is not None:
        runtime = outcome.runtime
    else:  # a drawn run time stays inside the step's timeout: only a forced one may run past it
        runtime = min(max(10.0, typical_seconds(video_input, rng) - queued), timeout * 0.95)
    runtime, timeout = runtime * scale, timeout * scale
    if outcome.kind == "fail" and outcome.reason == "no_provider_available":
        # nobody claims the job: it fails from the queue without ever running
        return StepPlan(preparing, scheduled, None, processing, "failed", outcome.reason)
    if outcome.kind == "expire" or runtime > timeout:
        return StepPlan(preparing, scheduled, processing, processing + timeout, "expired", "timeout")
    if outcome.kind == "fail":
        return StepPlan(preparing, scheduled, processing, processing + runtime * rng.uniform(0.2, 0.6),
                        "failed", outcome.reason)
    if outcome.kind == "cancel":
        return StepPlan(preparing, scheduled, processing, processing + runtime * rng.uniform(0.2, 0.6),
                        "canceled", "canceled")
    if outcome.kind == "block":
        return StepPlan(preparing, scheduled, processing, processing + runtime * rng.uniform(0.6, 0.95),
                        "failed", "blocked", outcome.blocked_reason or "moderation")
    return StepPlan(preparing, scheduled, processing, processing + runtime, "succeeded")


def step_status(plan: StepPlan, now: float, canceled_at: float | None = None) -> str:
    """The status of a step at ``now``."""
    if canceled_at is not None and now >= canceled_at and plan.end > canceled_at:
        return "canceled"
    if now >= plan.end:
        return plan.status
    if plan.processing is not None and now >= plan.processing:
        return "processing"
    if now >= plan.scheduled:
        return "scheduled"
    if now >= plan.preparing:
        return "preparing"
    return "unassigned"


def progress(plan: StepPlan, now: float, canceled_at: float | None = None) -> float | None:
    """``estimatedProgressRate`` of the job: download progress while preparing, work while processing."""
    at = min(now, canceled_at) if canceled_at is not None else now
    status = step_status(plan, at)
    if status == "preparing":
        return round((at - plan.preparing) / (plan.scheduled - plan.preparing), 4)
    if status == "processing" and plan.processing is not None:
        return round(min(1.0, (at - plan.processing) / max(plan.end - plan.processing, 1e-9)), 4)
    if status == "succeeded":
        return 1.0
    if status in TERMINAL_STATUSES and plan.processing is not None:
        return round(min(1.0, (min(at, plan.end) - plan.processing) / max(plan.end - plan.processing, 1e-9)), 4)
    return 0.0 if status in ("unassigned", "scheduled") else None


def started_at(plan: StepPlan, now: float, canceled_at: float | None = None) -> float | None:
    """When the step began processing, if it has by ``now``."""
    limit = min(now, canceled_at) if canceled_at is not None else now
    return plan.processing if plan.processing is not None and plan.processing <= limit else None


def completed_at(plan: StepPlan, now: float, canceled_at: float | None = None) -> float | None:
    """When the step reached its terminal status, if it has by ``now``."""
    if canceled_at is not None and canceled_at <= now and plan.end > canceled_at:
        return canceled_at
    return plan.end if plan.end <= now else None


#: Non-terminal statuses in the order a workflow moves through them.
PROGRESSION: tuple[str, ...] = ("unassigned", "preparing", "scheduled", "processing")


def roll_up(statuses: list[str]) -> str:
    """Workflow status from its steps, never going back.

    All succeeded → succeeded; all ended with a failure-like end → that end (failed before expired
    before canceled). Until then the furthest step counts, an ended step as ``processing``: each
    step only moves forward, so the roll-up does too (no processing → scheduled when one of two
    steps ends while the other still waits in a queue).
    """
    if all(s in TERMINAL_STATUSES for s in statuses):
        if all(s == "succeeded" for s in statuses):
            return "succeeded"
        return next(end for end in ("failed", "expired", "canceled") if end in statuses)
    return PROGRESSION[max(PROGRESSION.index(s) if s in PROGRESSION else len(PROGRESSION) - 1 for s in statuses)]


class Transition(NamedTuple):
    """One lifecycle event: at ``at``, ``scope`` (workflow / step / job) of step ``step`` became ``status``."""

    at: float
    scope: str
    step: int
    status: str
    progress: float | None = None
    reason: str | None = None
    blocked_reason: str | None = None

    def sort_key(self) -> tuple:
        """Time order; at one instant starts go top-down and ends bottom-up (job, step, workflow)."""
        ending = self.status in TERMINAL_STATUSES
        rank = SCOPE_ORDER[self.scope]
        return (self.at, 1 if ending else 0, -rank if ending else rank, self.step)


def _step_transitions(index: int, plan: StepPlan, canceled_at: float | None) -> Iterator[Transition]:
    points = [(plan.preparing, "preparing", None), (plan.scheduled, "scheduled", None)]
    if plan.processing is not None:
        points.append((plan.processing, "processing", 0.0))
        span = plan.end - plan.processing
        points += [(plan.processing + mark * span, "processing", mark) for mark in PROGRESS_MARKS]
    for at, status, value in points:
        if canceled_at is not None and at > canceled_at:
            break
        for scope in ("step", "job"):
            yield Transition(at, scope, index, status, value if scope == "job" else None)
    if canceled_at is not None and plan.end > canceled_at:
        end_at, status, reason, blocked = canceled_at, "canceled", "canceled", None
    else:
        end_at, status, reason, blocked = plan.end, plan.status, plan.reason, plan.blocked_reason
    yield Transition(end_at, "job", index, status, progress(plan, end_at, canceled_at), reason, blocked)
    yield Transition(end_at, "step", index, status, None, reason, blocked)


def transitions(plans: list[StepPlan], created: float, canceled_at: float | None = None) -> list[Transition]:
    """Every lifecycle event of a workflow in delivery order (``unassigned`` at creation first)."""
    events = [Transition(created, "workflow", -1, "unassigned")]
    events += [Transition(created, scope, i, "unassigned") for i in range(len(plans)) for scope in ("step", "job")]
    step_events = [t for i, plan in enumerate(plans) for t in _step_transitions(i, plan, canceled_at)]
    if len(plans) > 1:
        step_events.sort(key=Transition.sort_key)
    current = ["unassigned"] * len(plans)
    workflow_status = "unassigned"
    for event in step_events:
        events.append(event)
        if event.scope != "step":
            continue
        current[event.step] = event.status
        rolled = roll_up(current)
        if rolled != workflow_status:
            workflow_status = rolled
            events.append(Transition(event.at, "workflow", -1, rolled))
    return sorted(events, key=Transition.sort_key)
