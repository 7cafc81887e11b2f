"""The one-pass validation of plain submissions accepts exactly what the step-by-step path accepts, and
builds the same submission: a body either path refuses is refused with the step-by-step path's errors."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from civitai_mock.contracts import strategies as civ
from civitai_mock.contracts.one_pass import validate_plain
from civitai_mock.contracts.validation import (
    ContractViolation,
    Submission,
    validate_step_by_step,
    validate_submission,
)

JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                      max_size=3), max_leaves=6)
INPUT_KEYS = st.sampled_from(["engine", "operation", "mode", "duration", "aspectRatio", "prompt", "sourceImage",
                              "images", "elements", "videoUrl", "generateAudio", "keepAudio", "multiPrompt",
                              "model", "cfgScale", "numImages", "outputFormat", "seed", "unknownThing"])
STEP_KEYS = st.sampled_from(["$type", "priority", "timeout", "retries", "metadata", "input", "name"])
BODY_KEYS = st.sampled_from(["steps", "tags", "metadata", "callbacks", "tips", "currencies", "nsfwLevel",
                             "upgradeMode", "allowMatureContent", "ephemeral", "externalId", "arguments"])


def comparable(submission: Submission) -> dict[str, Any]:
    """What a submission means to the engine, whichever path built it."""
    return {
        "template": submission.template.model_dump(exclude={"steps"}),
        "steps": [{"template": s.template.model_dump(exclude={"input"}), "input_type": type(s.input).__name__,
                   "input": s.input.model_dump(), "echo": s.echo, "depends_on": s.depends_on}
                  for s in submission.steps],
    }


def outcome(validate: Any, body: Any) -> Any:
    """The submission a path builds, or the errors it refuses the body with."""
    try:
        return comparable(validate(json.loads(json.dumps(body))))
    except ContractViolation as violation:
        return {"refused": violation.errors}


def plain(body: dict[str, Any]) -> bool:
    return all("name" not in step and "$ref" not in json.dumps(step.get("input")) for step in body["steps"])


@st.composite
def mutated_bodies(draw: st.DrawFn) -> dict[str, Any]:
    """A valid body with one value replaced by arbitrary JSON: in the body, a step or a step's input."""
    body = draw(st.one_of(civ.workflow_templates(), civ.image_steps().map(lambda s: {"steps": [s]})))
    step = body["steps"][draw(st.integers(0, len(body["steps"]) - 1))]
    where = draw(st.sampled_from(["body", "step", "input"]))
    if where == "body":
        body[draw(BODY_KEYS)] = draw(JSON_VALUES)
    elif where == "step":
        step[draw(STEP_KEYS)] = draw(JSON_VALUES)
    elif isinstance(step.get("input"), dict):
        step["input"][draw(INPUT_KEYS)] = draw(JSON_VALUES)
    return body


@given(st.one_of(civ.workflow_templates(), civ.image_steps().map(lambda s: {"steps": [s]}),
                 civ.pipeline_templates()))
def test_a_valid_body_builds_the_same_submission_on_either_path(body: dict[str, Any]) -> None:
    slow = outcome(validate_step_by_step, body)
    assert "refused" not in slow
    assert outcome(validate_submission, body) == slow
    if plain(body):  # the common case really takes the one pass
        assert validate_plain(json.loads(json.dumps(body))) is not None


@given(st.one_of(mutated_bodies(), civ.invalid_inputs().map(lambda i: i.body),
                 civ.invalid_pipelines().map(lambda i: i.body)))
def test_a_changed_or_broken_body_gets_the_step_by_step_answer(body: dict[str, Any]) -> None:
    slow = outcome(validate_step_by_step, body)
    assert outcome(validate_submission, body) == slow
    if "refused" in slow:
        assert validate_plain(json.loads(json.dumps(body))) is None


def test_named_steps_and_references_take_the_step_by_step_path() -> None:
    step = {"$type": "videoGen", "input": {"engine": "kling-v3", "prompt": "a fox"}}
    assert validate_plain({"steps": [step]}) is not None
    assert validate_plain({"steps": [{**step, "name": "clip"}]}) is None
    referencing = {**step, "input": {**step["input"], "prompt": {"$ref": "$arguments", "path": "prompt"}}}
    assert validate_plain({"steps": [referencing], "arguments": {"prompt": "a fox"}}) is None
