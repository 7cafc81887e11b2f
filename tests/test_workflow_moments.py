"""A workflow's moment (``lifecycle.workflow_now``, what every render reads) agrees with its steps read one by
one, at every moment: before anything moved (the shortcut a fresh submit's answer takes), at the very
instant a step moves, while running, after the end, and with a cancel."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from civitai_mock.mock_server.engine import lifecycle
from civitai_mock.mock_server.engine.lifecycle import StepPlan

CREATED = 1_800_000_000.0
ENDINGS = ("succeeded", "failed", "expired", "canceled")


@st.composite
def plans(draw: st.DrawFn) -> StepPlan:
    """A step's plan as the engine draws them: queue times in order, a run or none, any ending."""
    gap = st.floats(min_value=0.0, max_value=300.0, allow_nan=False)
    preparing = CREATED + draw(gap)
    scheduled = preparing + draw(gap)
    runs = draw(st.booleans())
    processing = scheduled + draw(gap) if runs else None
    end = (processing if processing is not None else scheduled) + draw(gap)
    return StepPlan(preparing, scheduled, processing, end, draw(st.sampled_from(ENDINGS)))


def read_one_by_one(steps: list[StepPlan], now: float, canceled_at: float | None) -> lifecycle.WorkflowNow:
    """The oracle: each step read on its own, rolled up with the public reading of the workflow's status."""
    read = [lifecycle.step_now(plan, now, canceled_at) for plan in steps]
    status = lifecycle.workflow_status(steps, now, canceled_at)
    started = [at.started for at in read if at.started is not None]
    ended = all(at.completed for at in read) and status in lifecycle.TERMINAL_STATUSES
    return lifecycle.WorkflowNow(status, read, min(started, default=None),
                                 max(at.completed for at in read) if ended else None)  # type: ignore[type-var]


@settings(max_examples=400, deadline=None)
@given(st.lists(plans(), min_size=1, max_size=4), st.data())
def test_a_workflows_moment_agrees_with_its_steps_read_one_by_one(steps: list[StepPlan], data: st.DataObject) -> None:
    first_move = min(plan.preparing for plan in steps)
    moments = [CREATED, first_move, *(getattr(plan, name) for plan in steps
                                      for name in ("preparing", "scheduled", "end"))]
    now = data.draw(st.one_of(st.sampled_from(moments),
                              st.floats(min_value=CREATED - 10, max_value=first_move, exclude_max=True),
                              st.floats(min_value=CREATED - 10, max_value=CREATED + 2000)), label="now")
    canceled_at = data.draw(st.one_of(st.none(), st.floats(min_value=CREATED, max_value=CREATED + 2000)),
                            label="canceled_at")
    assert lifecycle.workflow_now(steps, now, canceled_at) == read_one_by_one(steps, now, canceled_at)


def test_before_any_step_moved_every_step_is_unassigned_with_no_progress() -> None:
    steps = [StepPlan(CREATED + 5, CREATED + 9, CREATED + 20, CREATED + 200, "succeeded"),
             StepPlan(CREATED + 3, CREATED + 3, None, CREATED + 3, "failed", "no_provider_available")]
    moment = lifecycle.workflow_now(steps, CREATED + 2.999)
    assert moment.status == "unassigned" and (moment.started, moment.completed) == (None, None)
    assert [tuple(at) for at in moment.steps] == [("unassigned", None, None, 0.0)] * 2
    assert lifecycle.workflow_now(steps, CREATED + 3).steps[1].status == "failed"  # the instant it ends


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=2**32), st.sampled_from([1.0, 0.001, 0.25]))
def test_a_plans_queue_times_are_the_numbers_random_uniform_draws(seed: int, scale: float) -> None:
    """Plans stay reproducible across versions: each queue wait is what ``uniform`` over its range gives."""
    import random

    from civitai_mock.contracts.kling import TYPICAL_SECONDS_V3_STANDARD_5S, KlingV3Input
    from civitai_mock.contracts.outcomes import SUCCEED

    video = KlingV3Input.model_validate({"engine": "kling-v3", "prompt": "a fox"})
    plan = lifecycle.plan_step(video, SUCCEED, CREATED, 1200.0, random.Random(seed), scale)
    same = random.Random(seed)
    preparing = CREATED + same.uniform(*lifecycle.UNASSIGNED_SECONDS) * scale
    scheduled = preparing + same.uniform(*lifecycle.PREPARING_SECONDS) * scale
    processing = scheduled + same.uniform(*lifecycle.SCHEDULED_SECONDS) * scale
    assert (plan.preparing, plan.scheduled, plan.processing) == (preparing, scheduled, processing)
    assert plan.end == processing + min(max(lifecycle.MIN_RUNTIME_VIDEO, same.uniform(*TYPICAL_SECONDS_V3_STANDARD_5S) -
                                            (processing - CREATED) / scale), 1200.0 * 0.95) * scale
