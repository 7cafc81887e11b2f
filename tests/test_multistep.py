"""Workflows with several steps: an imageGen step feeding Kling through ``$ref``, ``$arguments``, waiting,
cancellation when a dependency fails, per-step refunds, webhooks in dependency order, 400s for bad
references, and the kit's strategies and timelines for pipelines."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from civitai_mock import civitai_fake
from civitai_mock.contracts.cost import step_cost
from civitai_mock.contracts.strategies import invalid_pipelines, pipeline_templates
from civitai_mock.contracts.timelines import PipelineTimeline, pipeline_timelines
from civitai_mock.contracts.validation import ContractViolation, validate_step_input, validate_submission
from civitai_mock.kit.play import check, play
from examples.pipeline_client import PipelineClient, pipeline_body

SUBMIT = "/v2/consumer/workflows"
PNG, JPEG = b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff"
IMAGE = {"engine": "google", "model": "imagen4", "prompt": "a fox in the snow", "aspectRatio": "16:9"}
VIDEO = {"engine": "kling-v3", "operation": "image-to-video", "prompt": "the fox runs", "duration": 5}
FROM_STILL = {"$ref": "still", "path": "output.images[0].url"}
HOOKS = "https://hooks.test/"


def pipeline(image: dict[str, Any] | None = None, video: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """The image -> video body: ``still`` (imageGen) then ``clip`` (kling-v3 image-to-video from it)."""
    return {"steps": [{"$type": "imageGen", "name": "still", "input": {**IMAGE, **(image or {})}},
                      {"$type": "videoGen", "name": "clip", "input": {**VIDEO, "sourceImage": FROM_STILL,
                                                                       **(video or {})}}], **extra}


def accept_all(mock: Any) -> None:
    async def accept(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    mock.webhooks.route(HOOKS, accept)


def steps_of(mock: Any, workflow_id: str) -> dict[str, dict[str, Any]]:
    workflow = mock.client.get(f"{SUBMIT}/{workflow_id}").json()
    return {step["name"]: step for step in workflow["steps"]}


def step_events(mock: Any) -> list[tuple[str, str]]:
    return [(d["event"]["name"], d["event"]["status"]) for d in mock.webhooks.deliveries()
            if d["event"]["$type"] == "step"]


def test_the_video_step_waits_then_runs_with_the_image_url(civitai_mock: Any) -> None:
    accept_all(civitai_mock)
    before = sum(civitai_mock.engine.accounts.balances(civitai_mock.token).values())
    callbacks = [{"url": HOOKS + "h", "type": ["step:*"]}]
    submitted = civitai_mock.client.post(SUBMIT, params={"wait": 0}, json=pipeline(callbacks=callbacks))
    assert submitted.status_code == 202
    workflow = submitted.json()
    price = step_cost(validate_step_input("imageGen", IMAGE)) + \
        step_cost(validate_step_input("videoGen", {**VIDEO, "sourceImage": "https://x.test/a.png"}))
    assert workflow["cost"]["total"] == price and price > 0
    assert [t["amount"] for t in workflow["transactions"]["list"]] == [price]
    assert before - sum(civitai_mock.engine.accounts.balances(civitai_mock.token).values()) == price

    waited = False
    for _ in range(120):  # one-second steps: the video step waits while the still runs
        civitai_mock.advance(1)
        steps = steps_of(civitai_mock, workflow["id"])
        still, clip = steps["still"], steps["clip"]
        if still["status"] != "succeeded":
            assert clip["status"] == "unassigned" and "queuePosition" not in clip
            assert clip["input"]["sourceImage"] == FROM_STILL  # shown as submitted until it resolves
            waited = waited or still["status"] == "processing"
        else:
            break
    assert waited and still["status"] == "succeeded"
    resolved = steps_of(civitai_mock, workflow["id"])["clip"]["input"]["sourceImage"]
    fetched = civitai_mock.client.get(resolved, headers={"Authorization": ""})
    assert fetched.status_code == 200 and fetched.content.startswith(JPEG)  # what the video step runs with
    civitai_mock.advance(1200)
    steps = steps_of(civitai_mock, workflow["id"])
    still, clip = steps["still"], steps["clip"]
    assert (still["status"], clip["status"]) == ("succeeded", "succeeded")
    image = still["output"]["images"][0]
    assert (image["type"], image["width"], image["height"]) == ("image", 128, 72)
    assert clip["input"]["sourceImage"].split("?")[0].endswith(f"/v2/consumer/blobs/{image['id']}")
    assert clip["startedAt"] > still["completedAt"]

    picture = civitai_mock.client.get(image["url"], headers={"Authorization": ""})
    assert picture.status_code == 200 and picture.headers["content-type"] == "image/jpeg"
    assert picture.content.startswith(JPEG)
    movie = civitai_mock.client.get(clip["output"]["video"]["url"], headers={"Authorization": ""})
    assert movie.headers["content-type"] == "video/mp4" and movie.content[4:8] == b"ftyp"

    events = step_events(civitai_mock)
    assert events.index(("still", "succeeded")) < events.index(("clip", "preparing"))
    clip_statuses = [status for name, status in events if name == "clip"]
    assert list(dict.fromkeys(clip_statuses)) == ["unassigned", "preparing", "scheduled", "processing", "succeeded"]
    final = civitai_mock.client.get(f"{SUBMIT}/{workflow['id']}").json()
    assert final["status"] == "succeeded" and final["cost"]["total"] == price


def test_a_failed_image_cancels_the_video_step_and_refunds_it(civitai_mock: Any) -> None:
    accept_all(civitai_mock)
    before = civitai_mock.engine.accounts.balances(civitai_mock.token)
    body = pipeline({"prompt": "[mock:fail=no_provider_available] a fox"},
                    callbacks=[{"url": HOOKS + "h", "type": ["step:*", "workflow:*"]}])
    workflow = civitai_mock.client.post(SUBMIT, params={"wait": 0}, json=body).json()
    civitai_mock.advance(3600)
    final = civitai_mock.client.get(f"{SUBMIT}/{workflow['id']}").json()
    still, clip = final["steps"]
    assert final["status"] == "failed"
    assert (still["status"], still["jobs"][0]["reason"]) == ("failed", "no_provider_available")
    assert (clip["status"], clip["jobs"][0]["reason"]) == ("canceled", "canceled")
    assert "startedAt" not in clip and clip["completedAt"] == still["completedAt"]
    assert clip["input"]["sourceImage"] == FROM_STILL  # it never resolved
    assert civitai_mock.engine.accounts.balances(civitai_mock.token) == before
    assert [t["type"] for t in final["transactions"]["list"]] == ["debit", "credit"]
    assert final["cost"]["total"] == 0
    assert [s for n, s in step_events(civitai_mock) if n == "clip"] == ["unassigned", "canceled"]
    workflow_events = [d["event"]["status"] for d in civitai_mock.webhooks.deliveries()
                       if d["event"]["$type"] == "workflow"]
    assert "processing" not in workflow_events and workflow_events[-1] == "failed"


def test_a_queued_failure_of_the_upstream_step_works_the_same(civitai_mock: Any) -> None:
    civitai_mock.queue_outcome("expire")
    workflow = civitai_mock.client.post(SUBMIT, params={"wait": 0}, json=pipeline()).json()
    civitai_mock.advance(7200)
    final = civitai_mock.client.get(f"{SUBMIT}/{workflow['id']}").json()
    assert [s["status"] for s in final["steps"]] == ["expired", "canceled"] and final["status"] == "expired"
    assert final["cost"]["total"] == 0


def test_a_prompt_passed_as_an_argument_reaches_the_kling_step(civitai_mock: Any) -> None:
    prompt = "[mock:runtime=42] a fox, from the arguments"
    argument = {"$ref": "$arguments", "path": "prompt"}
    body = pipeline({"prompt": argument}, {"prompt": argument}, arguments={"prompt": prompt})
    workflow = civitai_mock.client.post(SUBMIT, params={"wait": 0}, json=body).json()
    assert [s["input"]["prompt"] for s in workflow["steps"]] == [prompt, prompt]
    assert workflow["arguments"] == {"prompt": prompt}
    civitai_mock.advance(1800)
    clip = steps_of(civitai_mock, workflow["id"])["clip"]
    assert clip["status"] == "succeeded"
    seconds = (_epoch(clip["completedAt"]) - _epoch(clip["startedAt"]))
    assert seconds == pytest.approx(42, abs=0.01)  # the directive in the argument reached the Kling step


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


@pytest.mark.parametrize("body,path,words", [
    (pipeline(video={"sourceImage": {"$ref": "nope", "path": "output.images[0].url"}}),
     "steps[1].input.sourceImage", "names no step"),
    (pipeline(video={"sourceImage": {"$ref": "clip", "path": "output.video.url"}}),
     "steps[1].input.sourceImage", "itself"),
    (pipeline(video={"sourceImage": {"$ref": "still", "path": "output.video.url"}}),
     "steps[1].input.sourceImage", "its output has no 'output.video.url'"),
    (pipeline(image={"prompt": {"$ref": "clip", "path": "output.video.url"}}),
     "steps[0].input.prompt", "cycle (still -> clip -> still)"),
    (pipeline(video={"prompt": {"$ref": "$arguments", "path": "prompt"}}, arguments={"seed": 1}),
     "steps[1].input.prompt", "argument 'prompt' is not in the workflow's arguments"),
    (pipeline(video={"sourceImage": {"$ref": "still"}}), "steps[1].input.sourceImage", "a reference is an object"),
    ({"steps": [{"$type": "textToImage", "input": {}}]}, "steps[0].$type", "does not simulate"),
    ({"steps": [{"$type": "paintPicture", "input": {}}]}, "steps[0].$type", "not a known step type"),
])
def test_cycles_and_bad_references_are_400s_at_the_offending_value(civitai_mock: Any, body: dict, path: str,
                                                                    words: str) -> None:
    answer = civitai_mock.client.post(SUBMIT, params={"wait": 0}, json=body)
    assert answer.status_code == 400, answer.text
    assert any(words in message for message in answer.json()["errors"][path]), answer.json()


def test_an_invalid_resolved_input_fails_the_step_naming_the_field(civitai_mock: Any) -> None:
    body = pipeline(video={"duration": {"$ref": "still", "path": "output.images[0].width"}})
    workflow = civitai_mock.client.post(SUBMIT, params={"wait": 0}, json=body)
    assert workflow.status_code == 202  # a value from a reference is checked when it resolves
    civitai_mock.advance(600)
    final = civitai_mock.client.get(f"{SUBMIT}/{workflow.json()['id']}").json()
    still, clip = final["steps"]
    assert (still["status"], clip["status"], final["status"]) == ("succeeded", "failed", "failed")
    assert clip["input"]["duration"] == 128 and "startedAt" not in clip
    assert clip["output"]["errors"] == ["input.duration: duration must be an integer from 3 to 15"]
    assert final["cost"]["total"] == 0  # the video step was refunded; the still costs nothing


def test_image_blobs_sign_expire_and_refresh_like_videos(civitai_mock: Any) -> None:
    civitai_mock.configure(url_ttl=30)
    body = {"steps": [{"$type": "imageGen", "input": {**IMAGE, "numImages": 2, "outputFormat": "PNG"}}]}
    workflow = civitai_mock.client.post(SUBMIT, params={"wait": 0}, json=body).json()
    civitai_mock.advance(120)
    images = civitai_mock.client.get(f"{SUBMIT}/{workflow['id']}").json()["steps"][0]["output"]["images"]
    assert len({image["id"] for image in images}) == 2 and all(i["id"].endswith(".png") for i in images)
    second = images[1]
    assert civitai_mock.client.head(f"/v2/consumer/blobs/{second['id']}").status_code == 204
    moved = civitai_mock.client.get(f"/v2/consumer/blobs/{second['id']}", follow_redirects=False)
    assert moved.status_code == 308
    assert civitai_mock.client.get(moved.headers["location"]).content.startswith(PNG)
    civitai_mock.advance(60)
    assert civitai_mock.client.get(second["url"], headers={"Authorization": ""}).status_code == 403
    fresh = civitai_mock.client.post(f"/v2/consumer/blobs/{second['id']}/refresh").json()
    assert (fresh["type"], fresh["id"]) == ("image", second["id"]) and fresh["url"] != second["url"]
    assert civitai_mock.client.get(fresh["url"], headers={"Authorization": ""}).content.startswith(PNG)
    assert civitai_mock.client.head(f"/v2/consumer/blobs/{second['id'].replace('-1.', '-2.')}").status_code == 404


def test_whatif_the_request_log_and_patches_know_the_dependencies(civitai_mock: Any) -> None:
    preview = civitai_mock.client.post(SUBMIT, params={"whatif": "true"}, json=pipeline()).json()
    workflow = civitai_mock.client.post(SUBMIT, params={"wait": 0}, json=pipeline()).json()
    assert preview["cost"]["total"] == workflow["cost"]["total"]
    assert civitai_mock.engine.dependencies(civitai_mock.token, workflow["id"]) == {"clip": ["still"]}
    logged = [e.to_json()["seen"] for e in civitai_mock.requests if e.to_json().get("seen")]
    assert logged[-1]["dependsOn"] == {"clip": ["still"]}
    step = f"{SUBMIT}/{workflow['id']}/steps/clip"
    patch = {"Content-Type": "application/json-patch+json"}
    patched = civitai_mock.client.patch(step, headers=patch,
                                        json=[{"op": "replace", "path": "/input/prompt", "value": "z"}])
    assert patched.status_code == 409 and "waits on still" in patched.json()["detail"]
    metadata = [{"op": "add", "path": "/metadata/k", "value": 1}]
    assert civitai_mock.client.patch(step, headers=patch, json=metadata).status_code < 300


def test_unnamed_steps_are_referenced_by_position_in_any_order(civitai_mock: Any) -> None:
    body = {"steps": [{"$type": "videoGen", "input": {**VIDEO, "sourceImage": {"$ref": "$1", "path": "output.images[0].url"},
                                                      "images": [{"$ref": "1", "path": "output.images[0].url"}]}},
                      {"$type": "imageGen", "input": IMAGE}]}
    workflow = civitai_mock.client.post(SUBMIT, params={"wait": 0}, json=body).json()
    civitai_mock.advance(1800)
    final = civitai_mock.client.get(f"{SUBMIT}/{workflow['id']}").json()
    assert [s["status"] for s in final["steps"]] == ["succeeded", "succeeded"]
    assert final["steps"][0]["input"]["images"][0] == final["steps"][0]["input"]["sourceImage"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pipeline_templates())
def test_valid_pipelines_are_accepted(body: dict) -> None:
    submission = validate_submission(body)
    assert sum(1 for step in submission.steps if step.depends_on) == len(body["steps"]) // 2


@settings(max_examples=60, deadline=None)
@given(invalid_pipelines())
def test_invalid_pipelines_are_refused_at_the_paired_path(bad: Any) -> None:
    with pytest.raises(ContractViolation) as refused:
        validate_submission(bad.body)
    assert any(bad.message in message for message in refused.value.errors.get(bad.path, [])), refused.value.errors


@settings(max_examples=12, deadline=None)
@given(pipeline_timelines())
def test_the_pipeline_client_reports_every_pipeline_timeline(timeline: PipelineTimeline) -> None:
    with civitai_fake() as mock:
        with play(mock, timeline):
            result = PipelineClient(mock.client, sleep=mock.advance).generate("a fox in the snow")
        check(mock, timeline, result)


def test_a_slow_upstream_step_only_delays_the_video() -> None:
    timeline = PipelineTimeline(upstream_runtime=590, runtime=30)
    with civitai_fake() as mock:
        play(mock, timeline)
        client = PipelineClient(mock.client, sleep=mock.advance)
        result = client.generate("a fox", video_input={"duration": 5})
        check(mock, timeline, result)
        final = mock.client.get(f"{SUBMIT}/{result.workflow_id}").json()
        assert _epoch(final["steps"][1]["startedAt"]) - _epoch(final["createdAt"]) > 590
    assert pipeline_body("x")["steps"][1]["input"]["sourceImage"] == {"$ref": "still", "path": "output.images[0].url"}


def _schema_check() -> Any:
    """A validator over the official schemas (quirks applied as in test_api_schema), plus an imageGen step: the
    subset lists the type and ImageBlob but not ImageGenStep, which the schema defines as WorkflowStep + input
    + ``output.images``; a waiting step's reference objects stand where the schema's input types say string
    (the guide: any input value may be a reference), so inputs are checked once resolved."""
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    from tests.test_api_schema import SPEC, official_schemas

    if not SPEC.is_file():
        pytest.skip(f"official schemas not found at {SPEC}")
    schemas = official_schemas()
    image_step = _merged_step(SPEC)
    image_step["properties"].update({
        "$type": {"enum": ["imageGen"]}, "input": {"type": "object"}, "jobs": {"type": "array"},
        "output": {"type": "object", "required": ["images"], "additionalProperties": False, "properties": {
            "images": {"type": "array", "items": {"$ref": "#/components/schemas/ImageBlob"}},
            "errors": {"type": "array", "items": {"type": "string"}}}}})
    schemas["ImageGenStep"] = image_step
    schemas["AnyStep"] = {"oneOf": [{"$ref": "#/components/schemas/VideoGenStep"},
                                    {"$ref": "#/components/schemas/ImageGenStep"}]}
    schemas["Workflow"]["properties"]["steps"]["items"] = {"$ref": "#/components/schemas/AnyStep"}
    registry = Registry().with_resource("urn:civitai", Resource.opaque({"components": {"schemas": schemas}}))

    def check(instance: Any, name: str) -> None:
        schema = {"$ref": f"urn:civitai#/components/schemas/{name}"}
        errors = sorted(Draft202012Validator(schema, registry=registry).iter_errors(instance), key=str)
        assert not errors, f"{name}: " + "; ".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])

    return check


def _merged_step(spec: Any) -> dict[str, Any]:
    import json

    step = json.loads(spec.read_text())["components"]["schemas"]["WorkflowStep"]
    return {"type": "object", "properties": dict(step["properties"]), "required": ["$type", "input", *step["required"]],
            "additionalProperties": False}


def test_pipeline_responses_and_events_follow_the_official_schema(civitai_mock: Any) -> None:
    check_schema = _schema_check()
    accept_all(civitai_mock)
    callbacks = [{"url": HOOKS + "h", "type": ["workflow:*", "step:*", "job:*"], "detailed": True}]
    for still_prompt in ("a fox", "[mock:fail=no_provider_available] a fox"):
        body = pipeline({"prompt": still_prompt, "numImages": 2}, callbacks=callbacks)
        workflow = civitai_mock.client.post(SUBMIT, params={"wait": 0}, json=body).json()
        check_schema(_resolved(workflow), "Workflow")
        civitai_mock.advance(3600)
        check_schema(_resolved(civitai_mock.client.get(f"{SUBMIT}/{workflow['id']}").json()), "Workflow")
    names = {"workflow": "WorkflowEvent", "step": "WorkflowStepEvent", "job": "WorkflowStepJobEvent"}
    for attempt in civitai_mock.webhooks.deliveries():
        check_schema(_resolved(attempt["event"]), names[attempt["event"]["$type"]])
    image = civitai_mock.client.get(f"{SUBMIT}").json()["items"][-1]["steps"][0]["output"]["images"][0]
    check_schema(civitai_mock.client.post(f"/v2/consumer/blobs/{image['id']}/refresh").json(), "ImageBlob")


def _resolved(data: Any) -> Any:
    """``data`` with each reference object (shown as submitted until it resolves) replaced by a URL string."""
    if isinstance(data, dict):
        return "https://x.test/a.jpg" if "$ref" in data else {k: _resolved(v) for k, v in data.items()}
    return [_resolved(item) for item in data] if isinstance(data, list) else data
