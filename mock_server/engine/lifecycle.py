"""Status as a pure function of (plan, time): unassigned → preparing → scheduled → processing → end.

At submission each step gets a ``StepPlan`` (a handful of timestamps and how it ends), drawn from
a seeded RNG. Everything else — status, progress, the ordered list of lifecycle events — is
derived from the plan and the clock, so reading never mutates and terminal states never change.

A step that references another step's output waits for it: its plan is drawn at submission as a
*draft* relative to the moment its dependencies end, and shifted there (``shifted``). Dependency
plans are fixed at submission, so the dependent's plan is known too; when a dependency fails, the
dependent ends without ever being queued (``never_runs``).
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Iterator, NamedTuple

from civitai_mock.contracts.image import TYPICAL_SECONDS_IMAGEN4, ImageInput
from civitai_mock.contracts.kling import (
    MODE_FREE_MODELS,
    PROFESSIONAL,
    TYPICAL_SECONDS_V3_STANDARD_5S,
    KlingInput,
    VideoInput,
)
from civitai_mock.contracts.outcomes import Outcome
from civitai_mock.contracts.workflow import PROGRESSION, TERMINAL_STATUSES

#: Progress points at which ``processing`` repeats (webhook events and step progress).
PROGRESS_MARKS: tuple[float, ...] = (0.25, 0.5, 0.75)
#: Seconds from submission to leaving each queue state (drawn uniformly from these ranges).
UNASSIGNED_SECONDS, PREPARING_SECONDS, SCHEDULED_SECONDS = (1.0, 4.0), (2.0, 10.0), (5.0, 25.0)
#: Each range as (low, high - low): ``low + span * rng.random()`` is the very number ``rng.uniform(low,
#: high)`` draws (its own formula), without a Python call per draw; a plan draws four of them.
_UNASSIGNED_SPAN, _PREPARING_SPAN, _SCHEDULED_SPAN, _V3_SPAN = (
    (low, high - low) for low, high in (UNASSIGNED_SECONDS, PREPARING_SECONDS, SCHEDULED_SECONDS,
                                        TYPICAL_SECONDS_V3_STANDARD_5S))
#: Image providers are APIs with nothing to download: their queue states pass this much faster.
IMAGE_QUEUE_FACTOR = 0.25
#: The shortest drawn run time, per kind of output (seconds).
MIN_RUNTIME_VIDEO, MIN_RUNTIME_IMAGE = 10.0, 2.0
SCOPE_ORDER = {"workflow": 0, "step": 1, "job": 2}
#: Run-time factor of the newer original-engine models (v2 slower, v2.5-turbo faster).
NEWER_MODEL_SPEED: dict[str, float] = dict(zip(MODE_FREE_MODELS, (1.2, 0.8)))


@dataclass(slots=True)
class StepPlan:
    """When a step moves, and how it ends. Times are epoch seconds; ``processing`` None = never runs.

    ``after``: for a step that waits on other steps, when they succeeded and its references resolved
    (None for a step that waits on nothing, or whose dependencies did not succeed).
    """

    preparing: float
    scheduled: float
    processing: float | None
    end: float
    status: str
    reason: str | None = None
    blocked_reason: str | None = None
    after: float | None = None

    def to_json(self) -> dict:
        """Plain dict for storage."""
        return asdict(self)


def typical_seconds(video_input: VideoInput | ImageInput, rng: random.Random) -> float:
    """A plausible total run time: 2–5 min for V3 Standard 5 s, longer for Professional, audio, length;
    seconds for an image (a little longer for several)."""
    if isinstance(video_input, ImageInput):
        return rng.uniform(*TYPICAL_SECONDS_IMAGEN4) * video_input.count ** 0.3
    low, span = _V3_SPAN
    seconds = (low + span * rng.random()) * (video_input.seconds / 5) ** 0.75
    if video_input.mode == PROFESSIONAL:
        seconds *= 1.6
    if video_input.generates_audio:
        seconds *= 1.25
    if isinstance(video_input, KlingInput):
        seconds *= NEWER_MODEL_SPEED.get(video_input.model, 1.0)
    return seconds


def plan_step(video_input: VideoInput | ImageInput, outcome: Outcome, created: float, timeout: float,
              rng: random.Random, scale: float = 1.0) -> StepPlan:
    """Draw the timeline of one step from the seeded RNG and the outcome it must have.

    ``scale`` shortens every duration (``1 / speed`` of a system clock): the plan keeps its shape.
    """
    queue = scale * (IMAGE_QUEUE_FACTOR if isinstance(video_input, ImageInput) else 1.0)
    draw = rng.random
    preparing = created + (_UNASSIGNED_SPAN[0] + _UNASSIGNED_SPAN[1] * draw()) * queue
    scheduled = preparing + (_PREPARING_SPAN[0] + _PREPARING_SPAN[1] * draw()) * queue
    processing = scheduled + (_SCHEDULED_SPAN[0] + _SCHEDULED_SPAN[1] * draw()) * queue
    return _ending(video_input, outcome, created, preparing, scheduled, processing, timeout, rng, scale)


def shifted(draft: StepPlan, start: float) -> StepPlan:
    """A draft drawn as if created at 0, moved to begin at ``start`` (when its dependencies ended)."""
    return StepPlan(draft.preparing + start, draft.scheduled + start,
                    None if draft.processing is None else draft.processing + start, draft.end + start,
                    draft.status, draft.reason, draft.blocked_reason, after=start)


def never_runs(at: float, status: str, reason: str | None, after: float | None = None) -> StepPlan:
    """A step that stays ``unassigned`` until ``at`` and then ends without being queued or run."""
    return StepPlan(at, at, None, at, status, reason, after=after)


def replan_step(plan: StepPlan, video_input: VideoInput | ImageInput, outcome: Outcome, created: float, timeout: float,
                rng: random.Random, scale: float = 1.0) -> StepPlan:
    """The same queue times, with a run time and ending drawn for a changed input (before processing)."""
    starts = plan.processing if plan.processing is not None else plan.end
    return _ending(video_input, outcome, created, plan.preparing, plan.scheduled, starts, timeout, rng, scale)


def _ending(video_input: VideoInput | ImageInput, outcome: Outcome, created: float, preparing: float, scheduled: float,
            processing: float, timeout: float, rng: random.Random, scale: float) -> StepPlan:
    queued = (processing - created) / scale
    if outcome.runtime is not None:
        runtime = outcome.runtime
    else:  # a drawn run time stays inside the step's timeout: only a forced one may run past it
        shortest = MIN_RUNTIME_IMAGE if isinstance(video_input, ImageInput) else MIN_RUNTIME_VIDEO
        runtime = min(max(shortest, typical_seconds(video_input, rng) - queued), timeout * 0.95)
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
                        "failed", "blocked", outcome.blocked_reason)
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
    return _progress_at(plan, at, step_status(plan, at))


def _progress_at(plan: StepPlan, at: float, status: str) -> float | None:
    """``progress`` at ``at``, where the step's status (no cancel counted) is ``status``."""
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


class StepNow(NamedTuple):
    """What a step's plan says at one moment: its status, when it started and ended (if it has), its progress."""

    status: str
    started: float | None
    completed: float | None
    progress: float | None


def step_now(plan: StepPlan, now: float, canceled_at: float | None = None) -> StepNow:
    """Status, start, end and progress of a step at ``now``, read from its plan in one go."""
    status = step_status(plan, now, canceled_at)
    if canceled_at is None:  # the status the progress is read at is the one just read
        done = _progress_at(plan, now, status)
    else:
        done = progress(plan, now, canceled_at)
    return StepNow(status, started_at(plan, now, canceled_at), completed_at(plan, now, canceled_at), done)


class WorkflowNow(NamedTuple):
    """What a workflow's plans say at one moment: its status, each step's ``StepNow``, and when the
    workflow started (its first step started) and completed (it ended and so did every step), if it has."""

    status: str
    steps: list[StepNow]
    started: float | None
    completed: float | None


#: A step before its plan's first move: what ``step_now`` reads then, whatever the plan.
NOT_MOVED = StepNow("unassigned", None, None, 0.0)


def workflow_now(plans: list[StepPlan], now: float, canceled_at: float | None = None) -> WorkflowNow:
    """Everything ``WorkflowNow`` holds, read from the steps' plans in one go."""
    if canceled_at is None:  # before any step moves (every submit's answer) there is nothing to read
        for plan in plans:
            if now >= plan.preparing:
                break
        else:
            if plans:
                return WorkflowNow("unassigned", [NOT_MOVED] * len(plans), None, None)
    steps, statuses = [], []
    started: float | None = None
    completed: float | None = None
    every_step_ended = True
    for plan in plans:  # one loop, not four comprehensions: read on every render
        at = step_now(plan, now, canceled_at)
        steps.append(at)
        statuses.append(at.status)
        if at.started is not None and (started is None or at.started < started):
            started = at.started
        if not at.completed:
            every_step_ended = False
        elif completed is None or at.completed > completed:
            completed = at.completed
    status = rolled_up(plans, statuses, canceled_at)
    return WorkflowNow(status, steps, started, completed if every_step_ended and status in TERMINAL_STATUSES else None)


def roll_up(statuses: list[str], reached: list[str] | None = None) -> str:
    """Workflow status from its steps, never going back.

    All succeeded → succeeded; all ended with a failure-like end → that end (failed before expired
    before canceled). Until then the furthest step counts, an ended step as the furthest status it
    reached before it ended (``reached``; ``processing`` when not given): each step only moves
    forward, so the roll-up does too (no processing → scheduled when one of two steps ends while the
    other still waits in a queue), and a workflow whose first step failed in the queue while the
    next one waits for it never shows ``processing``. A workflow of one step is that step.
    """
    if len(statuses) == 1:
        return statuses[0]  # what the rules below give for one step, without walking them
    if all(s in TERMINAL_STATUSES for s in statuses):
        if all(s == "succeeded" for s in statuses):
            return "succeeded"
        return next(end for end in ("failed", "expired", "canceled") if end in statuses)
    ended = reached or [PROGRESSION[-1]] * len(statuses)
    return PROGRESSION[max(PROGRESSION.index(s if s in PROGRESSION else ended[i]) for i, s in enumerate(statuses))]


def workflow_status(plans: list[StepPlan], now: float, canceled_at: float | None = None) -> str:
    """The workflow's status at ``now``, rolled up from its steps' plans."""
    return rolled_up(plans, [step_status(plan, now, canceled_at) for plan in plans], canceled_at)


def rolled_up(plans: list[StepPlan], statuses: list[str], canceled_at: float | None = None) -> str:
    """The workflow's status from its steps' ``statuses`` (a step's ``reached``, read from its plan,
    matters only once it ended while another has not, so a single step needs none)."""
    return roll_up(statuses, [reached(plan, canceled_at) for plan in plans] if len(plans) > 1 else None)


def reached(plan: StepPlan, canceled_at: float | None = None) -> str:
    """The furthest status before the end a step had (or will have): what it counts as once it ended."""
    cut = canceled_at is not None and plan.end > canceled_at
    end = canceled_at if cut else plan.end

    def before(at: float) -> bool:  # a cut keeps what happens at its very moment (see _step_transitions)
        return at < end or (cut and at <= end)  # type: ignore[operator]

    if plan.processing is not None and before(plan.processing):
        return "processing"
    return "scheduled" if before(plan.scheduled) else "preparing" if before(plan.preparing) else "unassigned"


class Transition(NamedTuple):
    """One lifecycle event: at ``at``, ``scope`` (workflow / step / job) of step ``step`` became ``status``.

    ``depth``: how many steps this step waits on in a row (0 for none): at one instant a dependency's
    events come before its dependents'.
    """

    at: float
    scope: str
    step: int
    status: str
    progress: float | None = None
    reason: str | None = None
    blocked_reason: str | None = None
    depth: int = 0

    def sort_key(self) -> tuple:
        """Time order; at one instant starts go top-down and ends bottom-up (job, step, workflow),
        dependencies before their dependents."""
        ending = self.status in TERMINAL_STATUSES
        rank = SCOPE_ORDER[self.scope]
        return (self.at, 1 if ending else 0, -rank if ending else rank, self.depth, self.step)


def _step_transitions(index: int, plan: StepPlan, canceled_at: float | None, depth: int) -> Iterator[Transition]:
    # a step that ends before it would be queued (its dependency failed) never leaves unassigned
    points = [(at, status, None) for at, status in ((plan.preparing, "preparing"), (plan.scheduled, "scheduled"))
              if at < plan.end or plan.processing is not None]
    if plan.processing is not None:
        points.append((plan.processing, "processing", 0.0))
        span = plan.end - plan.processing
        points += [(plan.processing + mark * span, "processing", mark) for mark in PROGRESS_MARKS]
    for at, status, value in points:
        if canceled_at is not None and at > canceled_at:
            break
        for scope in ("step", "job"):
            yield Transition(at, scope, index, status, value if scope == "job" else None, depth=depth)
    if canceled_at is not None and plan.end > canceled_at:
        end_at, status, reason, blocked = canceled_at, "canceled", "canceled", None
    else:
        end_at, status, reason, blocked = plan.end, plan.status, plan.reason, plan.blocked_reason
    yield Transition(end_at, "job", index, status, progress(plan, end_at, canceled_at), reason, blocked, depth)
    yield Transition(end_at, "step", index, status, None, reason, blocked, depth)


def transitions(plans: list[StepPlan], created: float, canceled_at: float | None = None,
                depths: list[int] | None = None) -> list[Transition]:
    """Every lifecycle event of a workflow in delivery order (``unassigned`` at creation first)."""
    depth = depths or [0] * len(plans)
    events = [Transition(created, "workflow", -1, "unassigned")]
    events += [Transition(created, scope, i, "unassigned", depth=depth[i])
               for i in range(len(plans)) for scope in ("step", "job")]
    step_events = [t for i, plan in enumerate(plans) for t in _step_transitions(i, plan, canceled_at, depth[i])]
    if len(plans) > 1:
        step_events.sort(key=Transition.sort_key)
    current = ["unassigned"] * len(plans)
    furthest = ["unassigned"] * len(plans)
    workflow_status = "unassigned"
    for event in step_events:
        events.append(event)
        if event.scope != "step":
            continue
        current[event.step] = event.status
        if event.status in PROGRESSION:
            furthest[event.step] = event.status
        rolled = roll_up(current, furthest)
        if rolled != workflow_status:
            workflow_status = rolled
            events.append(Transition(event.at, "workflow", -1, rolled))
    return sorted(events, key=Transition.sort_key)
