"""Validate submissions and turn every failure into ``{json.path: [message, ...]}``.

The error map is the ValidationProblemDetails ``errors`` shape: paths such as
``steps[0].input.duration`` and messages that keep the words the recipe page quotes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from civitai_mock.contracts import kling
from civitai_mock.contracts.template import STEP_TYPES, StepTemplate, WorkflowTemplate
from civitai_mock.contracts.workflow import MAX_STEPS

Errors = dict[str, list[str]]


class ContractViolation(Exception):
    """A request broke the contract; ``errors`` maps JSON paths to messages."""

    def __init__(self, errors: Errors, title: str = "One or more validation errors occurred."):
        super().__init__(title)
        self.errors = errors
        self.title = title


@dataclass
class ValidStep:
    """A validated step: the template fields and the engine input model."""

    template: StepTemplate
    input: kling.VideoInput


@dataclass
class Submission:
    """A validated SubmitWorkflow body."""

    template: WorkflowTemplate
    steps: list[ValidStep] = field(default_factory=list)


def join_path(prefix: str, loc: tuple[Any, ...] | list[Any]) -> str:
    """``('steps', 0, 'input')`` under ``''`` -> ``steps[0].input``."""
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path = f"{path}.{part}" if path else str(part)
    return path or "$"


def _choices(expected: str) -> str:
    return expected.replace("'", '"')


def _message(model: type[BaseModel], error: dict[str, Any]) -> str:
    """One contract message for one pydantic error."""
    names = [p for p in error["loc"] if isinstance(p, str)]
    name = names[-1] if names else "body"
    kind, ctx = error["type"], error.get("ctx", {})
    if kind == "missing":
        return kling.MSG_REQUIRED.format(field=name)
    if name == "duration" and len(error["loc"]) == 1:
        if model is kling.KlingInput:
            return kling.MSG_KLING_DURATION
        if model is kling.KlingV3Input:
            return kling.MSG_V3_DURATION
    if kind == "literal_error":
        return kling.MSG_ONE_OF.format(field=name, choices=_choices(ctx.get("expected", "")))
    if kind == "value_error":
        reason = str(ctx.get("error", ""))
        if reason == "source-image":
            return kling.MSG_SOURCE_IMAGE.format(field=name)
        if reason == "url":
            return kling.MSG_URL.format(field=name)
        return reason if reason.startswith(name) else f"{name}: {reason}"
    if kind == "too_short":
        return f"{name} must have at least {ctx.get('min_length')} item(s) or character(s)"
    if kind in ("too_long", "string_too_long"):
        return f"{name} must have at most {ctx.get('max_length')} item(s) or character(s)"
    if kind == "string_too_short":
        return f"{name} must not be empty"
    if kind == "string_pattern_mismatch":
        return f"{name} must match {ctx.get('pattern')}"
    if kind == "extra_forbidden":
        return f"{name} is not a known property of this object"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        return f"{name} {error['msg'].replace('Input should be', 'must be')}"
    readable = {
        "string_type": "a string", "int_type": "an integer", "float_type": "a number",
        "bool_type": "a boolean", "list_type": "an array", "dict_type": "an object",
        "model_type": "an object", "model_attributes_type": "an object",
    }
    if kind in readable:
        return f"{name} must be {readable[kind]}"
    return f"{name}: {error['msg']}"


def errors_of(model: type[BaseModel], exc: ValidationError, prefix: str) -> Errors:
    """The error map of a pydantic failure, paths under ``prefix``."""
    errors: Errors = {}
    for error in exc.errors():
        path = join_path(prefix, error["loc"])
        errors.setdefault(path, []).append(_message(model, dict(error)))
    return errors


def validate_video_input(raw: Any, prefix: str = "") -> kling.VideoInput:
    """Validate one videoGen input for its engine; raise ContractViolation with paths under ``prefix``."""
    at = (lambda name: join_path(prefix, (name,)))
    if not isinstance(raw, dict):
        raise ContractViolation({prefix or "$": ["input must be an object"]})
    engine = raw.get("engine")
    if engine is None:
        raise ContractViolation({at("engine"): [kling.MSG_REQUIRED.format(field="engine")]})
    model = kling.INPUT_MODELS.get(engine) if isinstance(engine, str) else None
    if model is None:
        supported = ", ".join(kling.ENGINES)
        raise ContractViolation(
            {at("engine"): [f"engine '{engine}' is not supported by this fake; supported engines: {supported}"]}
        )
    try:
        parsed = model.model_validate(raw)
    except ValidationError as exc:
        raise ContractViolation(errors_of(model, exc, prefix)) from None
    if isinstance(parsed, kling.KlingV3Input):
        missing = kling.missing_for_operation(parsed)
        if missing:
            raise ContractViolation({
                at(name): [kling.MSG_REQUIRED_FOR_OPERATION.format(field=name, operation=parsed.operation)]
                for name in missing
            })
    return parsed  # type: ignore[return-value]


def validate_submission(body: Any) -> Submission:
    """Validate a SubmitWorkflow body; raise ContractViolation listing every problem found."""
    if not isinstance(body, dict):
        raise ContractViolation({"$": ["The request body must be a JSON object"]})
    if isinstance(body.get("steps"), list) and len(body["steps"]) > MAX_STEPS:  # refuse before validating each
        raise ContractViolation({"steps": [f"A workflow can have at most {MAX_STEPS} steps"]})
    errors: Errors = {}
    try:
        template = WorkflowTemplate.model_validate(body)
    except ValidationError as exc:
        errors.update(errors_of(WorkflowTemplate, exc, ""))
        template = None
    raw_steps = body.get("steps") if isinstance(body.get("steps"), list) else []
    steps: list[ValidStep] = []
    names: set[str] = set()
    for index, raw in enumerate(raw_steps):
        prefix = f"steps[{index}]"
        step = _validate_step(raw, prefix, errors)
        if step is None:
            continue
        name = step.template.name
        if name is not None and name in names:
            errors.setdefault(f"{prefix}.name", []).append(f"step name '{name}' is used twice")
        names.add(name or "")
        steps.append(step)
    if errors or template is None:
        raise ContractViolation(errors)
    return Submission(template=template, steps=steps)


def _validate_step(raw: Any, prefix: str, errors: Errors) -> ValidStep | None:
    if not isinstance(raw, dict):
        errors.setdefault(prefix, []).append("each step must be an object")
        return None
    kind = raw.get("$type")
    if kind not in STEP_TYPES:
        shown = "$type is required" if kind is None else f"$type '{kind}' is not supported by this fake"
        errors.setdefault(f"{prefix}.$type", []).append(f"{shown}; supported step types: {', '.join(STEP_TYPES)}")
        return None
    try:
        template = StepTemplate.model_validate(raw)
    except ValidationError as exc:
        errors.update(errors_of(StepTemplate, exc, prefix))
        if "input" not in raw:
            return None
        template = None
    try:
        video_input = validate_video_input(raw.get("input"), f"{prefix}.input")
    except ContractViolation as violation:
        errors.update(violation.errors)
        return None
    return ValidStep(template=template, input=video_input) if template else None
