"""Steps that wait on other steps: their plans follow their dependencies' plans; references resolve.

A dependent step's plan is a pure function of its draft and its dependencies' plans (all fixed at
submission): it is queued the moment its last dependency succeeds, with its input's references
resolved then; it is canceled, never queued, the moment one dependency fails, expires or is
canceled; and it fails at once when the resolved input breaks the contract (``errors`` name the
field). ``compose`` recomputes those plans whenever a plan may have changed; moments already past
never move.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from civitai_mock.contracts.references import follow, replaced, topological
from civitai_mock.contracts.validation import ContractViolation, validate_step_input
from civitai_mock.mock_server.engine import lifecycle
from civitai_mock.mock_server.engine.records import StepRecord, WorkflowRecord

#: A step's ``output`` JSON at a moment (None when it has none): how references read their sources.
OutputAt = Callable[[WorkflowRecord, int, float], "dict[str, Any] | None"]


def moment(step: StepRecord) -> float:
    """When a waiting step stops waiting: its references resolve, or it ends without running."""
    return step.plan.after if step.plan.after is not None else step.plan.end


def waiting(record: WorkflowRecord, step: StepRecord, now: float) -> bool:
    """True while ``step`` still waits on other steps at ``now`` (nothing of it is queued yet)."""
    if not step.depends_on:
        return False
    cut = record.canceled_at if record.canceled_at is not None else now
    return step.plan.after is None or step.plan.after > min(now, cut)


def resolve(record: WorkflowRecord, index: int, at: float, output_at: OutputAt,
            fresh: bool = False) -> tuple[dict[str, Any], list[str]]:
    """Step ``index``'s input with each step reference replaced by what it names at ``at``, and an
    error for each reference whose value does not exist (``output.images[3].url`` of a single image)."""
    step = record.steps[index]
    if not fresh and step._resolved is not None and step._resolved[0] == at:
        return step._resolved[1], []
    outputs: dict[int, dict[str, Any]] = {}
    missing: list[str] = []

    def value(loc: tuple[Any, ...], ref: dict[str, Any]) -> Any:
        source = record.step_index(str(ref.get("$ref")))
        if source is None:
            missing.append(f"$ref '{ref.get('$ref')}' names no step of this workflow")
            return None
        if source not in outputs:
            outputs[source] = {"output": output_at(record, source, at) or {}}
        try:
            return follow(outputs[source], str(ref.get("path")))
        except KeyError:
            where = ".".join(str(part) for part in ("input", *loc))
            missing.append(f"{where}: step '{record.steps[source].name}' has no {ref.get('path')} "
                           f"(nothing there when it finished)")
            return None

    resolved = replaced(step.input, value)
    step._resolved = (at, resolved)
    return resolved, missing


def refused(step: StepRecord, resolved: dict[str, Any]) -> list[str] | None:
    """What is wrong with a resolved input, field by field (``input.sourceImage: …``); None when valid."""
    try:
        validate_step_input(step.type_, resolved, "input")
    except ContractViolation as violation:
        return [f"{path}: {message}" for path, messages in violation.errors.items() for message in messages]
    return None


def compose(record: WorkflowRecord, output_at: OutputAt, since: float | None = None) -> bool:
    """Recompute the plans of the steps that wait on others, dependencies first; True if one changed.

    ``since``: steps whose waiting ended before that moment keep their plans (their events went out).
    """
    for step in record.steps:  # a loop, not a generator: asked of every new workflow
        if step.depends_on:
            break
    else:
        return False
    changed = False
    for index in topological([record.dependencies(i) for i in range(len(record.steps))]):
        step = record.steps[index]
        if not step.depends_on or step.draft is None or (since is not None and moment(step) < since):
            continue
        plans = [record.steps[d].plan for d in record.dependencies(index)]
        broken = [plan.end for plan in plans if plan.status != "succeeded"]
        errors: list[str] | None = None
        if broken:
            plan = lifecycle.never_runs(min(broken), "canceled", "canceled")
        else:
            start = max((plan.end for plan in plans), default=record.created)
            resolved, missing = resolve(record, index, start, output_at, fresh=True)
            errors = missing or refused(step, resolved)
            plan = lifecycle.never_runs(start, "failed", None, after=start) if errors \
                else lifecycle.shifted(step.draft, start)
        if plan != step.plan or errors != step.errors:
            step.plan, step.errors, changed = plan, errors, True
    if changed:
        record.plans_changed()
    return changed


def depends_on(record: WorkflowRecord) -> dict[str, list[str]]:
    """Which step waits on which: ``{"$1": ["$0"]}`` (steps that wait on nothing are left out)."""
    return {step.name: list(step.depends_on) for step in record.steps if step.depends_on}
