"""The JSON fixtures are current, valid and parseable; the reference client handles every one of them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from pydantic import TypeAdapter

from civitai_mock.contracts.validation import validate_submission
from civitai_mock.contracts.events import AnyEvent
from civitai_mock.contracts.workflow import (
    ProblemDetails,
    ValidationProblemDetails,
    Workflow,
)
from examples.reference_client import ApiError, KlingClient
from fixtures import generate

FIXTURES = Path(generate.__file__).resolve().parent
BASE = "https://orchestration.civitai.com"


def load(kind: str) -> dict[str, Any]:
    return {p.stem: json.loads(p.read_text()) for p in sorted((FIXTURES / kind).glob("*.json"))}


def test_committed_fixtures_are_what_the_fake_generates_now() -> None:
    assert generate.main(["--check"]) == 0


def test_every_documented_request_body_is_accepted(civitai_mock: Any) -> None:
    bodies = load("requests")
    assert len(bodies) >= 8
    for name, body in bodies.items():
        validate_submission(body)
        answer = civitai_mock.client.post("/v2/consumer/workflows", params={"wait": 0}, json=body)
        assert answer.status_code == 202, (name, answer.text)


def test_every_response_fixture_parses_with_the_contract_models() -> None:
    responses = load("responses")
    for name, body in responses.items():
        if name.startswith("workflow-"):
            workflow = Workflow.model_validate(body)
            expected = name.split("-")[1]
            assert workflow.status == {"submitted": "unassigned"}.get(expected, expected)
        elif "400" in name:
            assert ValidationProblemDetails.model_validate(body).errors
        else:
            assert ProblemDetails.model_validate(body).status == int(name.split("-")[1])
    reasons = {responses[n]["steps"][0]["jobs"][0].get("reason") for n in responses if n.startswith("workflow-failed")}
    assert reasons == {"no_provider_available", "blocked", "timeout"}


def test_every_event_fixture_parses_and_covers_each_scope() -> None:
    adapter = TypeAdapter(AnyEvent)
    events = load("events")
    for name, payload in events.items():
        event = adapter.validate_python(payload)
        assert event.status == name.split("-", 1)[1]
    assert {name.split("-")[0] for name in events} == {"workflow", "step", "job"}


@pytest.mark.parametrize("name", ["succeeded", "failed-no_provider_available", "failed-blocked",
                                  "failed-timeout", "expired", "canceled"])
def test_reference_client_reports_each_canned_outcome(name: str) -> None:
    responses = load("responses")
    final = responses[f"workflow-{name}"]
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        router.post("/v2/consumer/workflows").respond(202, json={**responses["workflow-submitted"], "id": final["id"]})
        router.get(f"/v2/consumer/workflows/{final['id']}").respond(200, json=final)
        video = (final["steps"][0].get("output") or {}).get("video")
        if video:
            router.get(video["url"]).respond(200, content=b"\x00\x00\x00\x18ftypmp42")
        with httpx.Client(base_url=BASE) as http:
            result = KlingClient(http, sleep=lambda s: None).generate({"engine": "kling-v3", "prompt": "x"})
    job = final["steps"][0]["jobs"][0]
    assert (result.status, result.reason, result.blocked_reason) == (final["status"], job.get("reason"),
                                                                      job.get("blockedReason"))
    assert (result.video is not None) == (final["status"] == "succeeded")


@pytest.mark.parametrize("problem,retried", [("problem-400-validation", False), ("problem-401", False),
                                             ("problem-404", False), ("problem-429", True)])
def test_reference_client_retries_only_what_may_be_retried(problem: str, retried: bool) -> None:
    responses = load("responses")
    body = responses[problem]
    sleeps: list[float] = []
    with respx.mock(base_url=BASE) as router:
        headers = {"Retry-After": "5"} if body["status"] == 429 else {}
        route = router.post("/v2/consumer/workflows").mock(side_effect=[
            httpx.Response(body["status"], json=body, headers=headers),
            httpx.Response(202, json=responses["workflow-submitted"])])
        with httpx.Client(base_url=BASE) as http:
            client = KlingClient(http, sleep=sleeps.append)
            if retried:
                assert client.submit({"engine": "kling-v3", "prompt": "x"})["status"] == "unassigned"
                assert route.call_count == 2 and sleeps and sleeps[0] >= 5
            else:
                with pytest.raises(ApiError) as failure:
                    client.submit({"engine": "kling-v3", "prompt": "x"})
                assert route.call_count == 1 and sleeps == [] and failure.value.status == body["status"]


def test_reference_client_ignores_duplicate_webhook_events() -> None:
    events = load("events")
    client = KlingClient(httpx.Client(base_url=BASE))
    assert client.on_webhook(events["workflow-succeeded"]) is True
    assert client.on_webhook(events["workflow-succeeded"]) is False
    assert client.on_webhook(events["workflow-processing"]) is True
    assert client.on_webhook(events["workflow-processing"]) is True
