"""Edges of the contract found by review: references in awkward places, JSON numbers .NET refuses,
snake_case keys, step names that collide, tag rules, outcome defaults, throttles and query flags."""

from __future__ import annotations

import re
from typing import Any

import pytest

from civitai_mock.contracts import kling
from civitai_mock.contracts.casing import read_flag
from civitai_mock.contracts.cost import step_cost
from civitai_mock.contracts.jsontext import JsonTextError, loads
from civitai_mock.contracts.outcomes import (
    DEFAULT_BLOCKED_REASON,
    DEFAULT_FAILURE_REASON,
    Outcome,
    OutcomeError,
    ending_outcome,
    parse_directives,
)
from civitai_mock.contracts.timelines import ENDINGS
from civitai_mock.contracts.timespan import MAX_STEP_TIMEOUT_SECONDS
from civitai_mock.contracts.traffic import is_throttled
from civitai_mock.contracts.template import WorkflowTemplate
from civitai_mock.contracts.validation import ContractViolation, validate_submission, validate_video_input
from civitai_mock.contracts.workflow import UpdateWorkflowRequest
from civitai_mock.kit.responses import run_until

SUBMIT = "/v2/consumer/workflows"
STILL = {"$type": "imageGen", "name": "a", "input": {"engine": "google", "model": "imagen4", "prompt": "p"}}
URL = "https://x.example/y.png"


def with_video(video_input: Any) -> dict[str, Any]:
    """The still ``a`` then a videoGen step with ``video_input``."""
    return {"steps": [STILL, {"$type": "videoGen", "input": video_input}]}


def ref(path: str, source: str = "a") -> dict[str, str]:
    return {"$ref": source, "path": path}


def refused(body: Any) -> dict[str, list[str]]:
    with pytest.raises(ContractViolation) as failure:
        validate_submission(body)
    return failure.value.errors


# --- references ----------------------------------------------------------------------------------


def test_a_whole_input_that_is_a_step_reference_is_a_400_at_the_input() -> None:
    errors = refused(with_video(ref("output.images[0]")))
    assert list(errors) == ["steps[1].input"] and "reference" in errors["steps[1].input"][0]


def test_a_whole_input_that_is_a_step_reference_is_a_400_over_http(civitai_mock: Any) -> None:
    answer = civitai_mock.client.post(SUBMIT, params={"wait": 0}, json=with_video(ref("output.images[0]")))
    assert answer.status_code == 400 and "steps[1].input" in answer.json()["errors"]


def test_a_deferred_reference_in_a_list_keeps_its_neighbours_in_the_echo() -> None:
    images = [ref("output.images[0].id"), URL]  # an id is no source image: checked again when it resolves
    body = with_video({"engine": "kling-v3", "prompt": "p", "operation": "reference-to-video", "images": images})
    assert validate_submission(body).steps[1].echo["images"] == images


def test_references_around_a_deferred_one_are_echoed_in_place() -> None:
    images = [URL, ref("output.images[0].id"), ref("output.images[0].url"), "https://x.example/z.png"]
    body = with_video({"engine": "kling-v3", "prompt": "p", "operation": "reference-to-video", "images": images})
    assert validate_submission(body).steps[1].echo["images"] == images


@pytest.mark.parametrize("field,operation", [("sourceImage", "text-to-video"), ("sourceImage", "image-to-video"),
                                             ("prompt", "text-to-video"), ("endImage", "text-to-video")])
def test_a_reference_of_an_impossible_type_is_refused_required_or_not(field: str, operation: str) -> None:
    video = {"engine": "kling-v3", "prompt": "p", "operation": operation, "sourceImage": URL,
             field: ref("output.images[0].width")}
    errors = refused(with_video(video))
    assert list(errors) == [f"steps[1].input.{field}"]
    assert "can never be such a value" in errors[f"steps[1].input.{field}"][0]


def test_a_missing_required_input_is_not_blamed_on_a_deferred_reference() -> None:
    video = {"engine": "kling-v3", "prompt": "p", "operation": "image-to-video",
             "duration": ref("output.images[0].width")}
    errors = refused(with_video(video))
    assert errors == {"steps[1].input.sourceImage": ["sourceImage is required for operation 'image-to-video'"]}


def test_only_the_reference_that_can_never_fit_a_required_input_is_blamed() -> None:
    video = {"engine": "kling-v3", "prompt": "p", "operation": "image-to-video",
             "sourceImage": ref("output.images[0].id"), "duration": ref("output.images[0].width")}
    errors = refused(with_video(video))
    assert list(errors) == ["steps[1].input.sourceImage"]


# --- JSON text -----------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ['{"cfgScale": NaN}', '{"cfgScale": Infinity}', '{"cfgScale": -Infinity}',
                                  '{"cfgScale": 1e999}', '[-1E400]', "NaN"])
def test_numbers_dotnet_cannot_hold_are_refused(text: str) -> None:
    with pytest.raises(JsonTextError):
        loads(text)


def test_ordinary_numbers_still_read() -> None:
    assert loads('{"a": 1e308, "b": -2.5E-3, "c": 10}') == {"a": 1e308, "b": -2.5e-3, "c": 10}


def test_a_nan_in_a_submission_is_a_400(civitai_mock: Any) -> None:
    body = ('{"metadata": {"score": NaN}, "steps": [{"$type": "videoGen", '
            '"input": {"engine": "kling", "model": "v1.6", "prompt": "x"}}]}')
    answer = civitai_mock.client.post(SUBMIT, params={"wait": 0}, content=body,
                                      headers={"Content-Type": "application/json"})
    assert answer.status_code == 400, answer.text


# --- JSON names ----------------------------------------------------------------------------------


def test_snake_case_input_keys_are_ignored_like_any_unknown_property() -> None:
    parsed = validate_video_input({"engine": "kling-v3", "prompt": "x", "generate_audio": True, "aspect_ratio": "9:16"})
    assert parsed.generate_audio is False and parsed.aspect_ratio == "16:9"
    assert step_cost(parsed) == step_cost(validate_video_input({"engine": "kling-v3", "prompt": "x"}))


def test_snake_case_update_keys_are_ignored() -> None:
    assert UpdateWorkflowRequest.model_validate({"allow_mature_content": True}).allow_mature_content is None
    assert WorkflowTemplate.model_validate({"steps": [{}], "allow_mature_content": True}).allow_mature_content is None


# --- step names ----------------------------------------------------------------------------------

KLING_FROM = {"engine": "kling-v3", "operation": "image-to-video", "prompt": "the fox runs"}


def test_a_name_colliding_with_a_later_steps_implicit_name_is_refused() -> None:
    body = {"steps": [{**STILL, "name": "$1"}, {**STILL, "name": None},
                      {"$type": "videoGen", "input": {**KLING_FROM, "sourceImage": ref("output.images[0].url", "1")}}]}
    errors = refused(body)
    assert list(errors) == ["steps[0].name"] and "'$1'" in errors["steps[0].name"][0]


def test_a_name_colliding_with_an_earlier_steps_implicit_name_is_refused() -> None:
    body = {"steps": [{**STILL, "name": None}, {**STILL, "name": "$0"}]}
    assert list(refused(body)) == ["steps[1].name"]


def test_the_engine_resolves_a_reference_to_the_step_validation_named(civitai_mock: Any) -> None:
    still = {**STILL, "name": None}
    body = {"steps": [{"$type": "videoGen", "input": {**KLING_FROM, "sourceImage": ref("output.images[0].url", "01")}},
                      still]}
    workflow = civitai_mock.client.post(SUBMIT, params={"wait": 0}, json=body).json()
    assert civitai_mock.engine.dependencies(civitai_mock.token, workflow["id"]) == {"$0": ["$1"]}
    civitai_mock.advance(1800)
    final = civitai_mock.client.get(f"{SUBMIT}/{workflow['id']}").json()
    assert [s["status"] for s in final["steps"]] == ["succeeded", "succeeded"]


# --- tags ----------------------------------------------------------------------------------------

BODY = {"steps": [{"$type": "videoGen", "input": {"engine": "kling-v3", "prompt": "x"}}]}


def test_an_update_with_a_tag_twice_is_refused_as_a_submit_is(civitai_mock: Any) -> None:
    workflow_id = civitai_mock.client.post(SUBMIT, params={"wait": 0}, json={**BODY, "tags": ["a"]}).json()["id"]
    answer = civitai_mock.client.put(f"{SUBMIT}/{workflow_id}", json={"tags": ["b", "b"]})
    assert answer.status_code == 400 and "tags" in answer.json()["errors"]
    assert civitai_mock.client.get(f"{SUBMIT}/{workflow_id}").json()["tags"] == ["a"]
    assert "tags" in refused({**BODY, "tags": ["b", "b"]})


def test_adding_a_present_tag_changes_nothing_and_an_eleventh_is_refused(civitai_mock: Any) -> None:
    tags = [f"t{i}" for i in range(10)]
    workflow_id = civitai_mock.client.post(SUBMIT, params={"wait": 0}, json={**BODY, "tags": tags}).json()["id"]
    assert civitai_mock.client.post(f"{SUBMIT}/{workflow_id}/tags", json="t0").status_code == 204
    eleventh = civitai_mock.client.post(f"{SUBMIT}/{workflow_id}/tags", json="t10")
    assert eleventh.status_code == 400 and list(eleventh.json()["errors"]) == ["tag"]
    assert civitai_mock.client.get(f"{SUBMIT}/{workflow_id}").json()["tags"] == tags


# --- outcomes ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind,directive", [("block", "[mock:block]"), ("fail", "[mock:fail]"),
                                            ("expire", "[mock:expire]"), ("cancel", "[mock:cancel]")])
def test_an_outcome_is_the_same_however_it_was_asked_for(kind: str, directive: str) -> None:
    assert Outcome(kind) == Outcome.from_json({"kind": kind}) == parse_directives(directive)


def test_outcome_defaults_are_filled_once() -> None:
    assert (Outcome("block").reason, Outcome("block").blocked_reason) == ("blocked", DEFAULT_BLOCKED_REASON)
    assert Outcome("fail").reason == DEFAULT_FAILURE_REASON
    assert Outcome("block", blocked_reason="nudity").blocked_reason == "nudity"
    with pytest.raises(OutcomeError, match=str(MAX_STEP_TIMEOUT_SECONDS)):
        Outcome(runtime=MAX_STEP_TIMEOUT_SECONDS + 1)


@pytest.mark.parametrize("ending", list(ENDINGS))
def test_each_timeline_ending_maps_to_one_outcome(ending: str) -> None:
    status, reason = ENDINGS[ending]
    outcome = ending_outcome(status, reason)
    assert outcome.kind == {"succeeded": "succeed", "expired": "expire", "canceled": "cancel"}.get(
        status, "block" if reason == "blocked" else "fail")
    assert outcome.reason == (None if status == "succeeded" else reason)


def test_a_blocked_response_strategy_carries_the_default_blocked_reason() -> None:
    engine, workflow_id = run_until(BODY, "failed", "blocked")
    job = engine.view("t", workflow_id)["steps"][0]["jobs"][-1]
    assert (job["reason"], job["blockedReason"]) == ("blocked", DEFAULT_BLOCKED_REASON)


# --- throttles -----------------------------------------------------------------------------------


@pytest.mark.parametrize("status,throttled", [(429, True), (500, True), (503, True), (200, False), (404, False),
                                              (408, False)])
def test_one_definition_of_a_throttled_answer(status: int, throttled: bool) -> None:
    assert is_throttled({"status": status}) is throttled


# --- query flags ---------------------------------------------------------------------------------


@pytest.mark.parametrize("raw,value", [("true", True), ("True", True), ("FALSE", False), (" true ", True),
                                       ("1", None), ("0", None), ("yes", None), ("", None), (None, None)])
def test_query_flags_read_as_aspnet_binds_bool(raw: str | None, value: bool | None) -> None:
    assert read_flag(raw) is value


@pytest.mark.parametrize("flag,status", [("True", 200), ("TRUE", 200), ("1", 400), ("0", 400)])
def test_the_server_reads_query_flags_with_the_same_rule(civitai_mock: Any, flag: str, status: int) -> None:
    answer = civitai_mock.client.post(SUBMIT, params={"whatif": flag}, json=BODY)
    assert answer.status_code == status, answer.text
    assert civitai_mock.client.get(SUBMIT).json()["items"] == []


# --- URLs and source images: the validators and the published patterns agree --------------------

SAMPLE = ("https://image.civitai.com/xG1nkqKTMzGDvpLrqFT7WA/dd4b4ad5-040f-4f0e-baa3-6e1ff00add65/"
          "original=true,quality=90,optimized=true/26781018.jpeg")  # the recipe page's sampleImage
ACCEPTED_URLS = [SAMPLE, "https://example.com/photo.jpeg", "http://a?x=1", "HTTP://a.com/x", "https://a.com",
                 "http://localhost:8400/v2/consumer/blobs/x.jpg?sig=abc&exp=1", "https://.../start.jpeg",
                 "http://[::1]:8000/x.png", "https://a.com#frag"]
REFUSED_URLS = ["ftp://a.com/x", "https://", "https://a.com/x y", "//a.com/x", "https://a.com/x\n", "a.com/x"]
ACCEPTED_IMAGES = [*ACCEPTED_URLS, "data:image/png;base64,iVBORw0KGgo=", "data:image/jpeg;base64,AA==",
                   "AA==", "QUJD", "data:image/png;charset=utf-8;base64,QUJD"]
REFUSED_IMAGES = ["data:image/png;base64,AA AA", "data:image/png;base64,", "AAA", "A===", "not base64!",
                  "data:image/png,QUJD", *REFUSED_URLS[:4]]


@pytest.mark.parametrize("value", ACCEPTED_URLS + REFUSED_URLS)
def test_url_validator_and_pattern_agree(value: str) -> None:
    assert kling.is_http_url(value) == bool(re.fullmatch(kling.URL_PATTERN, value)) == (value in ACCEPTED_URLS)


@pytest.mark.parametrize("value", ACCEPTED_IMAGES + REFUSED_IMAGES)
def test_source_image_validator_and_pattern_agree(value: str) -> None:
    assert kling.is_source_image(value) == bool(re.fullmatch(kling.SOURCE_IMAGE_PATTERN, value)) == \
        (value in ACCEPTED_IMAGES)
