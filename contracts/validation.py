"""Validate submissions and turn every failure into ``{json.path: [message, ...]}``.

The error map is the ValidationProblemDetails ``errors`` shape: paths such as
``steps[0].input.duration`` and messages that keep the words the recipe page quotes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from civitai_mock.contracts import image, kling
from civitai_mock.contracts import references as refs
from civitai_mock.contracts.references import Errors, Reference, join_path
from civitai_mock.contracts.template import (
    IMAGE_GEN,
    KNOWN_STEP_TYPES,
    STEP_TYPES,
    StepTemplate,
    WorkflowTemplate,
)
from civitai_mock.contracts.workflow import MAX_STEPS

StepInput = kling.VideoInput | image.ImageInput
__all__ = ["ContractViolation", "Errors", "Submission", "ValidStep", "errors_of", "join_path", "validate_image_input",
           "validate_step_input", "validate_submission", "validate_video_input"]


class ContractViolation(Exception):
    """A request broke the contract; ``errors`` maps JSON paths to messages."""

    def __init__(self, errors: Errors, title: str = "One or more validation errors occurred."):
        super().__init__(title)
        self.errors = errors
        self.title = title


@dataclass
class ValidStep:
    """A validated step: the template fields, the input model and the input as the service echoes it.

    A step whose input references other steps is validated with stand-ins for those values (its
    ``input`` is provisional until they resolve); ``echo`` keeps the references as submitted and
    ``depends_on`` names the steps it waits for. ``$arguments`` references are already resolved.
    """

    template: StepTemplate
    input: StepInput
    echo: dict[str, Any] = field(default_factory=dict)
    depends_on: list[str] = field(default_factory=list)

    @property
    def type_(self) -> str:
        """The step's ``$type``."""
        return self.template.type_


@dataclass
class Submission:
    """A validated SubmitWorkflow body."""

    template: WorkflowTemplate
    steps: list[ValidStep] = field(default_factory=list)


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


def _input_model(raw: Any, prefix: str, models: dict[str, Any], engines: Any, kind: str) -> Any:
    """The input model for ``raw``'s engine; ContractViolation when it is no object or names no engine we know."""
    if not isinstance(raw, dict):
        raise ContractViolation({prefix or "$": ["input must be an object"]})
    engine = raw.get("engine")
    at = join_path(prefix, ("engine",))
    if engine is None:
        raise ContractViolation({at: [kling.MSG_REQUIRED.format(field="engine")]})
    model = models.get(engine) if isinstance(engine, str) else None
    if model is None:
        raise ContractViolation({at: [f"engine '{engine}' is not supported by this fake{kind}; "
                                      f"supported engines: {', '.join(engines)}"]})
    return model


def validate_video_input(raw: Any, prefix: str = "") -> kling.VideoInput:
    """Validate one videoGen input for its engine; raise ContractViolation with paths under ``prefix``."""
    model = _input_model(raw, prefix, kling.INPUT_MODELS, kling.ENGINES, "")
    try:
        parsed = model.model_validate(raw)
    except ValidationError as exc:
        raise ContractViolation(errors_of(model, exc, prefix)) from None
    if isinstance(parsed, kling.KlingV3Input):
        missing = kling.missing_for_operation(parsed)
        if missing:
            raise ContractViolation({
                join_path(prefix, (name,)): [kling.MSG_REQUIRED_FOR_OPERATION.format(field=name,
                                                                                      operation=parsed.operation)]
                for name in missing
            })
    return parsed  # type: ignore[return-value]


def validate_image_input(raw: Any, prefix: str = "") -> image.ImageInput:
    """Validate one imageGen input for its engine; raise ContractViolation with paths under ``prefix``."""
    model = _input_model(raw, prefix, image.IMAGE_INPUT_MODELS, image.IMAGE_ENGINES, " for imageGen")
    try:
        return model.model_validate(raw)  # type: ignore[return-value]
    except ValidationError as exc:
        raise ContractViolation(errors_of(model, exc, prefix)) from None


def validate_step_input(step_type: str, raw: Any, prefix: str = "") -> StepInput:
    """Validate the input of a step of a simulated ``$type`` (videoGen or imageGen)."""
    if step_type == IMAGE_GEN:
        return validate_image_input(raw, prefix)
    return validate_video_input(raw, prefix)


def provisional_input(step_type: str, raw: Any, prefix: str = "",
                      kinds: dict[str, str] | None = None) -> StepInput:
    """Validate an input whose step references have not resolved yet.

    Each reference stands in as a sample of what its path holds (``kinds``: the source steps'
    types; any type's shape when unknown). Errors at a reference's place wait until it resolves;
    meanwhile the field's default applies. Errors anywhere else are raised.
    """
    spots = [(loc, value) for loc, value in refs.find(raw)]
    known = kinds or {}

    def stand_in(loc: refs.Loc, value: dict[str, Any]) -> Any:
        try:
            return refs.placeholder(known.get(str(value.get(refs.REF_KEY))), str(value.get(refs.PATH_KEY)))
        except (KeyError, refs.BadReference):
            return refs.PLACEHOLDER_URL

    candidate = refs.replaced(raw, stand_in)
    first: Errors = {}
    for attempt in range(2):
        try:
            return validate_step_input(step_type, candidate, prefix)
        except ContractViolation as violation:
            waiting = {loc for loc, _ in spots if any(refs.under(p, loc, prefix) for p in violation.errors)}
            others = {p: m for p, m in violation.errors.items() if not any(refs.under(p, loc, prefix) for loc in waiting)}
            if others or not waiting:
                raise ContractViolation(others or violation.errors) from None
            if attempt:  # a required field whose reference can never hold a valid value
                raise ContractViolation({p: [f"{m}; the referenced {source.get(refs.PATH_KEY)} of step "
                                             f"'{source.get(refs.REF_KEY)}' can never be such a value" for m in ms]
                                         for p, ms in first.items()
                                         for loc, source in spots if refs.under(p, loc, prefix)}) from None
            first = violation.errors
            candidate = _without(candidate, waiting)
    raise AssertionError("unreachable")


def _without(data: Any, places: set[refs.Loc]) -> Any:
    """``data`` without the values at ``places`` (deepest first, so list positions stay right)."""
    for loc in sorted(places, key=lambda l: (len(l), l and isinstance(l[-1], int) and l[-1]), reverse=True):
        parent: Any = data
        for part in loc[:-1]:
            parent = parent[part]
        if isinstance(parent, dict):
            parent.pop(loc[-1], None)
        elif isinstance(parent, list) and isinstance(loc[-1], int) and loc[-1] < len(parent):
            parent.pop(loc[-1])
    return data


def echoed(parsed: StepInput, waiting: list[Reference]) -> dict[str, Any]:
    """The input as the service echoes it: defaults filled, canonical spellings, references as submitted."""
    data = parsed.to_json()
    for ref in waiting:
        refs.put(data, ref.loc, ref.to_json())
    return data


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
    arguments = body.get("arguments") if isinstance(body.get("arguments"), dict) else None
    names = [_name_of(raw, index) for index, raw in enumerate(raw_steps)]
    kinds = [raw.get("$type") if isinstance(raw, dict) else None for raw in raw_steps]
    steps: list[ValidStep] = []
    edges: dict[int, list[tuple[Reference, int]]] = {}
    for index, raw in enumerate(raw_steps):
        prefix = f"steps[{index}]"
        if names[index] in names[:index] and isinstance(raw, dict) and raw.get("name") is not None:
            errors.setdefault(f"{prefix}.name", []).append(f"step name '{names[index]}' is used twice")
        step = _validate_step(raw, prefix, errors, arguments, (index, names, kinds), edges)
        if step is not None:
            steps.append(step)
    errors.update(refs.cycle_errors(edges, names))
    if errors or template is None:
        raise ContractViolation(errors)
    return Submission(template=template, steps=steps)


def _name_of(raw: Any, index: int) -> str:
    name = raw.get("name") if isinstance(raw, dict) else None
    return name if isinstance(name, str) and name else f"${index}"


def _validate_step(raw: Any, prefix: str, errors: Errors, arguments: dict[str, Any] | None,
                   where: tuple[int, list[str], list[Any]],
                   edges: dict[int, list[tuple[Reference, int]]]) -> ValidStep | None:
    if not isinstance(raw, dict):
        errors.setdefault(prefix, []).append("each step must be an object")
        return None
    kind = raw.get("$type")
    if kind not in STEP_TYPES:
        errors.setdefault(f"{prefix}.$type", []).append(_type_message(kind))
        return None
    try:
        template = StepTemplate.model_validate(raw)
    except ValidationError as exc:
        errors.update(errors_of(StepTemplate, exc, prefix))
        if "input" not in raw:
            return None
        template = None
    index, names, kinds = where
    at = f"{prefix}.input"
    problems: Errors = {}
    step_input = raw.get("input")
    found: list[tuple[Reference, int]] = []
    if refs.has_reference(step_input):  # most inputs hold none: skip rebuilding them
        step_input = refs.with_arguments(step_input, arguments, at, problems)
        if isinstance(step_input, dict):
            found = refs.step_references(step_input, at, index, names, kinds, problems)
    edges[index] = found
    if problems:
        errors.update(problems)
        return None
    try:
        sources = {ref.source: kinds[target] for ref, target in found if isinstance(kinds[target], str)}
        parsed = provisional_input(kind, step_input, at, sources) if found else validate_step_input(kind, step_input, at)
    except ContractViolation as violation:
        errors.update(violation.errors)
        return None
    if template is None:
        return None
    depends_on = list(dict.fromkeys(names[target] for _, target in found))
    return ValidStep(template=template, input=parsed, echo=echoed(parsed, [ref for ref, _ in found]),
                     depends_on=depends_on)


def _type_message(kind: Any) -> str:
    simulated = f"this fake simulates {', '.join(STEP_TYPES)}"
    if kind is None:
        return f"$type is required; {simulated}"
    if kind in KNOWN_STEP_TYPES:
        return f"$type '{kind}' is a step type of the service that this fake does not simulate; {simulated}"
    return f"$type '{kind}' is not a known step type"
