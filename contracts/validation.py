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
from civitai_mock.contracts.one_pass import validate_plain
from civitai_mock.contracts.references import Errors, Reference, join_path
from civitai_mock.contracts.template import (
    IMAGE_GEN,
    KNOWN_STEP_TYPES,
    STEP_TYPES,
    VIDEO_GEN,
    StepTemplate,
    WorkflowTemplate,
)
from civitai_mock.contracts.workflow import MAX_STEPS

StepInput = kling.VideoInput | image.ImageInput
#: The input model of each simulated step type, by engine: what validation and the linter read.
INPUT_MODELS: dict[str, dict[str, type[kling.ContractModel]]] = {
    VIDEO_GEN: kling.INPUT_MODELS, IMAGE_GEN: image.IMAGE_INPUT_MODELS,
}
__all__ = ["INPUT_MODELS", "ContractViolation", "Errors", "Submission", "ValidStep", "errors_of", "input_model",
           "join_path", "validate_image_input", "validate_step_by_step", "validate_step_input", "validate_submission",
           "validate_video_input"]


MSG_WHOLE_INPUT = ("input must be an object of the step's inputs, not a reference: a step's output is never a "
                   "whole input (reference the single values instead)")


class ContractViolation(Exception):
    """A request broke the contract; ``errors`` maps JSON paths to messages.

    ``mismatched``: the paths whose value has the wrong JSON type or shape (not merely a refused value).
    """

    def __init__(self, errors: Errors, title: str = "One or more validation errors occurred.",
                 mismatched: frozenset[str] = frozenset()):
        super().__init__(title)
        self.errors = errors
        self.title = title
        self.mismatched = mismatched


@dataclass(slots=True)
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


@dataclass(slots=True)
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


def _mismatched(exc: ValidationError, prefix: str) -> frozenset[str]:
    """Paths of the errors that refuse a value's JSON type or shape (a string where a number goes, …)."""
    return frozenset(join_path(prefix, e["loc"]) for e in exc.errors()
                     if e["type"].endswith("_type") or e["type"] == "missing"
                     or (e["type"] == "literal_error" and not isinstance(e.get("input"), str)))


def errors_of(model: type[BaseModel], exc: ValidationError, prefix: str) -> Errors:
    """The error map of a pydantic failure, paths under ``prefix``."""
    errors: Errors = {}
    for error in exc.errors():
        path = join_path(prefix, error["loc"])
        errors.setdefault(path, []).append(_message(model, dict(error)))
    return errors


def input_model(step_type: Any, engine: Any) -> type[kling.ContractModel] | None:
    """The input model of a step type's engine (``INPUT_MODELS``), or None for one this fake does not simulate."""
    models = INPUT_MODELS.get(step_type) if isinstance(step_type, str) else None
    return models.get(engine) if models is not None and isinstance(engine, str) else None


def _input_model(raw: Any, prefix: str, step_type: str) -> Any:
    """The input model for ``raw``'s engine; ContractViolation when it is no object or names no engine we know."""
    if not isinstance(raw, dict):
        raise ContractViolation({prefix or "$": ["input must be an object"]}, mismatched=frozenset({prefix or "$"}))
    engine = raw.get("engine")
    at = join_path(prefix, ("engine",))
    if engine is None:
        raise ContractViolation({at: [kling.MSG_REQUIRED.format(field="engine")]}, mismatched=frozenset({at}))
    model = input_model(step_type, engine)
    if model is None:  # an engine read from a reference is never one: refused for good as well
        kind = "" if step_type == VIDEO_GEN else f" for {step_type}"
        engines = ", ".join(INPUT_MODELS[step_type])
        message = f"engine '{engine}' is not supported by this fake{kind}; supported engines: {engines}"
        raise ContractViolation({at: [message]}, mismatched=frozenset({at}))
    return model


def validate_video_input(raw: Any, prefix: str = "") -> kling.VideoInput:
    """Validate one videoGen input for its engine; raise ContractViolation with paths under ``prefix``."""
    model = _input_model(raw, prefix, VIDEO_GEN)
    try:
        parsed = model.model_validate(raw)
    except ValidationError as exc:
        raise ContractViolation(errors_of(model, exc, prefix), mismatched=_mismatched(exc, prefix)) from None
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
    model = _input_model(raw, prefix, IMAGE_GEN)
    try:
        return model.model_validate(raw)  # type: ignore[return-value]
    except ValidationError as exc:
        raise ContractViolation(errors_of(model, exc, prefix), mismatched=_mismatched(exc, prefix)) from None


def validate_step_input(step_type: str, raw: Any, prefix: str = "") -> StepInput:
    """Validate the input of a step of a simulated ``$type`` (videoGen or imageGen)."""
    if step_type == IMAGE_GEN:
        return validate_image_input(raw, prefix)
    return validate_video_input(raw, prefix)


def provisional_input(step_type: str, raw: Any, prefix: str = "",
                      kinds: dict[str, str] | None = None) -> StepInput:
    """Validate an input whose step references have not resolved yet (see ``provisional``)."""
    return provisional(step_type, raw, prefix, kinds)[0]


def provisional(step_type: str, raw: Any, prefix: str = "",
                kinds: dict[str, str] | None = None) -> tuple[StepInput, frozenset[refs.Loc]]:
    """Validate an input whose step references have not resolved yet; (input, places left out).

    Each reference stands in as a sample of what its path holds (``kinds``: the source steps' types;
    any type's shape when unknown). The path exists (``refs.step_references``), so a stand-in of the
    wrong type or shape is refused for good; a stand-in whose value is refused (a range, a format)
    is left out until the reference resolves, and the field's default applies meanwhile.
    """
    if refs.is_reference(raw):
        raise ContractViolation({prefix or "$": [MSG_WHOLE_INPUT]})
    spots = refs.find(raw)
    known = kinds or {}

    def stand_in(loc: refs.Loc, value: dict[str, Any]) -> Any:
        try:
            return refs.placeholder(known.get(str(value.get(refs.REF_KEY))), str(value.get(refs.PATH_KEY)))
        except (KeyError, refs.BadReference):
            return refs.PLACEHOLDER_URL

    def at_reference(path: str) -> list[dict[str, Any]]:
        return [source for loc, source in spots if refs.under(path, loc, prefix)]

    def never(errors: Errors) -> ContractViolation:
        return ContractViolation({p: [f"{m}; the referenced {source.get(refs.PATH_KEY)} of step "
                                      f"'{source.get(refs.REF_KEY)}' can never be such a value" for m in ms]
                                  for p, ms in errors.items() for source in at_reference(p)[:1]})

    candidate = refs.replaced(raw, stand_in)
    try:
        return validate_step_input(step_type, candidate, prefix), frozenset()
    except ContractViolation as violation:
        first = violation
    others = {p: m for p, m in first.errors.items() if not at_reference(p)}
    if others:
        raise ContractViolation(others) from None
    if first.mismatched & set(first.errors):
        raise never({p: m for p, m in first.errors.items() if p in first.mismatched}) from None
    waiting = frozenset(loc for loc, _ in spots if any(refs.under(p, loc, prefix) for p in first.errors))
    try:
        return validate_step_input(step_type, _without(candidate, waiting), prefix), waiting
    except ContractViolation as second:  # e.g. a required input whose reference can never hold a valid value
        others = {p: m for p, m in second.errors.items() if not at_reference(p)}
        blamed = {id(source) for p in second.errors for source in at_reference(p)}
        raise (ContractViolation(others) if others else
               never({p: m for p, m in first.errors.items() if id(at_reference(p)[0]) in blamed})) from None


def _without(value: Any, places: frozenset[refs.Loc], loc: refs.Loc = ()) -> Any:
    """A copy of ``value`` without the values at ``places`` (list items after one move up)."""
    if isinstance(value, dict):
        return {key: _without(item, places, (*loc, key)) for key, item in value.items() if (*loc, key) not in places}
    if isinstance(value, list):
        return [_without(item, places, (*loc, i)) for i, item in enumerate(value) if (*loc, i) not in places]
    return value


def echoed(parsed: StepInput, waiting: list[Reference], left_out: frozenset[refs.Loc] = frozenset()) -> dict[str, Any]:
    """The input as the service echoes it: defaults filled, canonical spellings, references as submitted
    (``left_out``: the places ``provisional`` left out, put back where they were)."""
    data = parsed.to_json()
    for ref in sorted(waiting, key=lambda r: (len(r.loc), r.loc)):  # outer first, then in order: positions hold
        parent: Any = data
        for part in ref.loc[:-1]:
            parent = parent[part] if isinstance(parent, (dict, list)) else None
        if ref.loc in left_out and isinstance(parent, list) and isinstance(ref.loc[-1], int):
            parent.insert(ref.loc[-1], ref.to_json())
        else:
            refs.put(data, ref.loc, ref.to_json())
    return data


def validate_submission(body: Any) -> Submission:
    """Validate a SubmitWorkflow body; raise ContractViolation listing every problem found."""
    plain = validate_plain(body)
    if plain is None:
        return validate_step_by_step(body)
    template, valid = plain
    return Submission(template=template, steps=[ValidStep(template=step, input=parsed, echo=parsed.to_json())
                                                for step, parsed in valid])


def validate_step_by_step(body: Any) -> Submission:
    """Validate a body step by step (names, references, every error with its path); ``validate_submission``
    uses it for whatever ``one_pass`` does not accept."""
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
        clash = _name_clash(raw_steps, names, index)
        if clash:
            errors.setdefault(f"{prefix}.name", []).append(clash)
        step = _validate_step(raw, prefix, errors, arguments, (index, names, kinds), edges)
        if step is not None:
            steps.append(step)
    errors.update(refs.cycle_errors(edges, names))
    if errors or template is None:
        raise ContractViolation(errors)
    return Submission(template=template, steps=steps)


def _name_clash(raw_steps: list[Any], names: list[str], index: int) -> str | None:
    """Why step ``index``'s explicit name is refused: another step is called so (explicitly before it, or
    implicitly anywhere: ``$N`` of the unnamed step N), so a reference to it would name two steps."""
    raw, name = raw_steps[index], names[index]
    if not isinstance(raw, dict) or raw.get("name") is None:
        return None
    unnamed = [other for other, same in enumerate(names) if other != index and same == name and
               not (isinstance(raw_steps[other], dict) and raw_steps[other].get("name") is not None)]
    if unnamed:  # a reference to it would name two steps
        return (f"step name '{name}' is the implicit name of the unnamed step {unnamed[0]}: "
                "references would be ambiguous")
    return f"step name '{name}' is used twice" if name in names[:index] else None


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
        parsed, left_out = provisional(kind, step_input, at, sources) if found else \
            (validate_step_input(kind, step_input, at), frozenset())
    except ContractViolation as violation:
        errors.update(violation.errors)
        return None
    if template is None:
        return None
    depends_on = list(dict.fromkeys(names[target] for _, target in found))
    return ValidStep(template=template, input=parsed, echo=echoed(parsed, [ref for ref, _ in found], left_out),
                     depends_on=depends_on)


def _type_message(kind: Any) -> str:
    simulated = f"this fake simulates {', '.join(STEP_TYPES)}"
    if kind is None:
        return f"$type is required; {simulated}"
    if kind in KNOWN_STEP_TYPES:
        return f"$type '{kind}' is a step type of the service that this fake does not simulate; {simulated}"
    return f"$type '{kind}' is not a known step type"
