"""The contract in code: documented bodies validate, documented errors appear at their paths,
defaults are filled and echoed, and the real sample response parses."""

from __future__ import annotations

import json

import pytest

from civitai_mock.contracts import kling
from civitai_mock.contracts.timespan import format_timespan, parse_timespan
from civitai_mock.contracts.validation import (
    ContractViolation,
    validate_submission,
    validate_video_input,
)
from civitai_mock.contracts.workflow import Workflow
from fixtures.generate import REQUEST_INPUTS
from tests.conftest import REFERENCE

IMAGE = "https://example.com/photo.jpeg"


def wrap(video_input: dict) -> dict:
    return {"steps": [{"$type": "videoGen", "input": video_input}]}


def errors_of(body: object) -> dict[str, list[str]]:
    with pytest.raises(ContractViolation) as failure:
        validate_submission(body)
    return failure.value.errors


def test_the_recipe_bodies_validate() -> None:
    assert len(REQUEST_INPUTS) >= 8
    for name, video_input in REQUEST_INPUTS.items():
        submission = validate_submission(wrap(video_input))
        assert submission.steps[0].input.engine == video_input["engine"], name


def test_kling_defaults_are_filled_and_modes_echo_lowercase() -> None:
    echoed = validate_video_input({"engine": "kling", "model": "v1.6", "prompt": "x", "mode": "Standard"}).to_json()
    assert echoed == {"engine": "kling", "model": "v1.6", "prompt": "x", "mode": "standard", "aspectRatio": "16:9",
                      "duration": "5", "cfgScale": 0.5}
    for spelling in ("Professional", "professional", "PROFESSIONAL"):
        assert validate_video_input({"engine": "kling", "model": "v1", "prompt": "x", "mode": spelling}).mode == \
            "professional"


def test_kling_v3_defaults() -> None:
    echoed = validate_video_input({"engine": "kling-v3", "prompt": "x"}).to_json()
    assert echoed["operation"] == "text-to-video" and echoed["duration"] == 5 and echoed["mode"] == "standard"
    assert echoed["generateAudio"] is False and echoed["keepAudio"] is True and echoed["images"] == []


def test_bodies_without_currencies_or_cfg_scale_are_accepted() -> None:
    body = wrap({"engine": "kling", "model": "v2", "prompt": "x"})
    assert "currencies" not in body and validate_submission(body).template.currencies is None


@pytest.mark.parametrize("video_input,path,words", [
    ({"engine": "kling", "model": "v2", "prompt": "x", "duration": 5}, "duration", "duration must be one of"),
    ({"engine": "kling", "prompt": "x"}, "model", "model is required"),
    ({"engine": "kling-v3", "operation": "image-to-video", "prompt": "x"}, "sourceImage", "sourceImage is required"),
    ({"engine": "kling-v3", "operation": "video-to-video-edit", "prompt": "x"}, "videoUrl", "videoUrl is required"),
    ({"engine": "kling-v3", "operation": "video-to-video-reference", "prompt": "x"}, "videoUrl",
     "videoUrl is required"),
    ({"engine": "kling-v3", "operation": "reference-to-video", "prompt": "x"}, "images", "images is required"),
])
def test_troubleshooting_messages_at_their_paths(video_input: dict, path: str, words: str) -> None:
    errors = errors_of(wrap(video_input))
    assert any(words in message for message in errors[f"steps[0].input.{path}"])


@pytest.mark.parametrize("change,path", [
    ({"duration": 2}, "duration"), ({"duration": 16}, "duration"), ({"duration": "5"}, "duration"),
    ({"duration": 5.5}, "duration"), ({"aspectRatio": "4:3"}, "aspectRatio"), ({"mode": "turbo"}, "mode"),
    ({"operation": "image-to-image"}, "operation"), ({"sourceImage": "not an image!"}, "sourceImage"),
    ({"sourceImage": "ftp://example.com/x.png"}, "sourceImage"), ({"videoUrl": "nope"}, "videoUrl"),
    ({"generateAudio": "yes"}, "generateAudio"), ({"multiPrompt": [{"duration": 3}]}, "multiPrompt[0].prompt"),
    ({"prompt": 42}, "prompt"),
])
def test_kling_v3_rules(change: dict, path: str) -> None:
    assert f"steps[0].input.{path}" in errors_of(wrap({"engine": "kling-v3", "prompt": "x", **change}))


@pytest.mark.parametrize("change,path", [
    ({"cfgScale": 1.5}, "cfgScale"), ({"cfgScale": -0.1}, "cfgScale"), ({"model": "v3"}, "model"),
    ({"duration": "7"}, "duration"), ({"cameraControl": {"config": {"zoom": 11}}}, "cameraControl.config.zoom"),
    ({"cameraControl": {"config": {"roll": -10.5}}}, "cameraControl.config.roll"),
])
def test_kling_rules(change: dict, path: str) -> None:
    assert f"steps[0].input.{path}" in errors_of(wrap({"engine": "kling", "model": "v1", "prompt": "x", **change}))


@pytest.mark.parametrize("extra", [{"unknownField": 1}, {"seed": 7, "quantity": 1, "enablePromptEnhancer": True},
                                   {"cameraControl": {"config": {"spin": 1, "zoom": 2}}}])
def test_unknown_properties_are_ignored_as_the_service_does(extra: dict) -> None:
    parsed = validate_video_input({"engine": "kling", "model": "v1", "prompt": "x", **extra})
    echoed = parsed.to_json()
    assert "unknownField" not in echoed and "seed" not in echoed and "spin" not in str(echoed)


@pytest.mark.parametrize("image", [IMAGE, "data:image/png;base64,iVBORw0KGgo=", "iVBORw0KGgoAAAANSUhEUg=="])
def test_source_image_forms(image: str) -> None:
    assert validate_video_input({"engine": "kling", "model": "v1", "prompt": "x", "sourceImage": image})


def test_camera_axes_accept_the_range_and_null() -> None:
    config = {axis: value for axis, value in zip(kling.CAMERA_AXES, (-10, 10, 0, None, 2.5, -3))}
    assert validate_video_input({"engine": "kling", "model": "v1", "prompt": "x", "cameraControl": {"config": config}})


def test_workflow_level_rules() -> None:
    body = {**wrap({"engine": "kling-v3", "prompt": "x"}), "tags": [f"t{i}" for i in range(11)],
            "externalId": "has spaces", "callbacks": [{"url": "not a url", "type": ["workflow:done"]}]}
    errors = errors_of(body)
    assert {"tags", "externalId", "callbacks[0].url", "callbacks[0].type[0]"} <= set(errors)
    assert "tags[0]" in errors_of({**wrap({"engine": "kling-v3", "prompt": "x"}), "tags": ["x" * 201]})
    assert "tags" in errors_of({**wrap({"engine": "kling-v3", "prompt": "x"}), "tags": ["a", "a"]})


def test_unknown_engine_step_type_and_shapes_are_clear_400s() -> None:
    assert "is not supported" in errors_of(wrap({"engine": "wan", "prompt": "x"}))["steps[0].input.engine"][0]
    assert "does not simulate" in errors_of({"steps": [{"$type": "textToImage", "input": {}}]})["steps[0].$type"][0]
    assert "not a known step type" in errors_of({"steps": [{"$type": "paint", "input": {}}]})["steps[0].$type"][0]
    assert "$" in errors_of([1, 2])
    assert "steps" in errors_of({"steps": []})
    assert "steps[0].input.engine" in errors_of(wrap({"prompt": "x"}))


def test_several_errors_are_reported_at_once() -> None:
    errors = errors_of(wrap({"engine": "kling", "prompt": "x", "duration": 5, "aspectRatio": "2:1"}))
    assert {"steps[0].input.model", "steps[0].input.duration", "steps[0].input.aspectRatio"} <= set(errors)


@pytest.mark.parametrize("text,seconds", [("00:20:00", 1200), ("1.02:03:04", 93784), ("00:00:01.5", 1.5),
                                          ("PT20M", 1200), ("P1DT2H", 93600), ("PT1.5S", 1.5)])
def test_timespans(text: str, seconds: float) -> None:
    assert parse_timespan(text) == seconds


@pytest.mark.parametrize("text", ["20 minutes", "00:61:00", "P", "PT", ""])
def test_bad_timespans(text: str) -> None:
    with pytest.raises(ValueError):
        parse_timespan(text)


def test_timespans_are_written_the_dotnet_way() -> None:
    assert format_timespan(1200) == "00:20:00" and format_timespan(93784) == "1.02:03:04"
    assert "steps[0].timeout" in errors_of({"steps": [{"$type": "videoGen", "timeout": "soon",
                                                        "input": {"engine": "kling-v3", "prompt": "x"}}]})


@pytest.mark.skipif(not (REFERENCE / "samples").is_dir(), reason="../shared/reference/samples is not beside the repo")
def test_the_real_sample_response_parses() -> None:
    sample = json.loads((REFERENCE / "samples" / "failed-workflow-redacted.json").read_text())
    workflow = Workflow.model_validate(sample)
    step = workflow.steps[0]
    assert workflow.status == "failed" and step.name == "$0" and step.type_ == "imageGen"
    assert step.jobs[0].status == "failed" and step.jobs[0].cost == 60
    assert [t.type for t in workflow.transactions.list] == ["debit", "credit"]
    assert workflow.cost.total == 0 and workflow.cost.factors["base"] == 60
    assert step.timeout == "00:20:00" and parse_timespan(step.timeout) == 1200


@pytest.mark.parametrize("seconds,text", [(59.99999996, "00:01:00"), (0.99999999, "00:00:01"), (1.5, "00:00:01.5000000")])
def test_timespan_fractions_that_round_up_carry_into_the_seconds(seconds: float, text: str) -> None:
    assert format_timespan(seconds) == text and abs(parse_timespan(text) - seconds) < 1e-6
