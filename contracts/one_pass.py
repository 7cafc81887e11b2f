"""One pydantic pass over a plain submission, the common case: the whole body validated in a single call.

A submission is plain when no step is named and no step input holds a reference: names and
references need the step-by-step validation (``validation.validate_step_by_step``), which knows
what each step is called and which steps wait on which. A plain body is validated by models that
type each step's ``input`` by its ``$type`` and ``engine``, so one call checks everything the
step-by-step path checks. A body these models refuse is not answered here: the step-by-step path
validates it again and says what is wrong, so errors read the same whichever path saw the body
first. ``tests/test_one_pass.py`` checks that both paths accept the same bodies and build the same
submission.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import Field, ValidationError

from civitai_mock.contracts import image, kling
from civitai_mock.contracts import references as refs
from civitai_mock.contracts.template import IMAGE_GEN, VIDEO_GEN, StepTemplate, WorkflowTemplate
from civitai_mock.contracts.workflow import MAX_STEPS

#: (the step's template, its validated input) per step of a plain submission.
PlainSteps = list[tuple[StepTemplate, "kling.VideoInput | image.ImageInput"]]


def _by_engine(models: dict[str, type[kling.ContractModel]]) -> Any:
    """The input type of one step type: its engines' models, told apart by ``engine``."""
    choices = tuple(models.values())
    if len(choices) == 1:
        return choices[0]
    return Annotated[Union[choices], Field(discriminator="engine")]  # type: ignore[valid-type]


class _VideoStep(StepTemplate):
    type_: Literal[VIDEO_GEN] = Field(alias="$type")  # type: ignore[valid-type]
    input: _by_engine(kling.INPUT_MODELS)  # type: ignore[valid-type]


class _ImageStep(StepTemplate):
    type_: Literal[IMAGE_GEN] = Field(alias="$type")  # type: ignore[valid-type]
    input: _by_engine(image.IMAGE_INPUT_MODELS)  # type: ignore[valid-type]


class _PlainBody(WorkflowTemplate):
    steps: Annotated[list[Annotated[Union[_VideoStep, _ImageStep], Field(discriminator="type_")]],
                     Field(min_length=1, max_length=MAX_STEPS)]


def _plain(steps: Any) -> bool:
    """True when ``steps`` is a list of at most ``MAX_STEPS`` unnamed steps whose inputs hold no reference."""
    if not isinstance(steps, list) or len(steps) > MAX_STEPS:
        return False
    for step in steps:
        if not isinstance(step, dict) or "name" in step or refs.has_reference(step.get("input")):
            return False
    return True


def validate_plain(body: Any) -> tuple[WorkflowTemplate, PlainSteps] | None:
    """(template, steps) of a plain body that passes validation in one call; None for any other body
    (not plain, or refused: the step-by-step path then validates it and says why)."""
    if not isinstance(body, dict) or not _plain(body.get("steps")):
        return None
    try:  # what _PlainBody.model_validate(body) does, without its wrapper's keyword checks
        template = _PlainBody.__pydantic_validator__.validate_python(body)
    except ValidationError:
        return None
    steps: PlainSteps = []
    for step in template.steps:
        parsed = step.input
        if isinstance(parsed, kling.KlingV3Input) and kling.missing_for_operation(parsed):
            return None
        steps.append((step, parsed))
    return template, steps
