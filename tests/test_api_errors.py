"""Auth, problem+json errors, injected faults and rate limits, the control API, /openapi.json, and
tenant isolation on every route that takes an id."""

from __future__ import annotations

from typing import Any

import pytest

from civitai_mock import civitai_fake
from civitai_mock.kit.handle import CivitaiMock

SUBMIT = "/v2/consumer/workflows"
PATCH = {"Content-Type": "application/json-patch+json"}


def body(prompt: str = "[mock:runtime=20] a fox") -> dict:
    return {"steps": [{"$type": "videoGen", "input": {"engine": "kling-v3", "prompt": prompt}}]}


def assert_problem(response: Any, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status and problem["title"] and problem["type"]
    return problem


@pytest.mark.parametrize("header", [None, "", "Basic abc", "Bearer", "Bearer ", "Bearer two words"])
def test_missing_or_malformed_tokens_are_401(civitai_mock: CivitaiMock, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    with civitai_mock.sync_client() as http:
        http.headers.pop("Authorization")
        response = http.get(SUBMIT, headers=headers)
    assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_fixed_token_set_rejects_others() -> None:
    with civitai_fake(tokens=frozenset({"good"}), token="good") as mock:
        assert mock.client.get(SUBMIT).status_code == 200
        assert_problem(mock.sync_client("bad").get(SUBMIT), 401)


def test_body_errors(civitai_mock: CivitaiMock) -> None:
    http = civitai_mock.client
    malformed = assert_problem(http.post(SUBMIT, content=b'{"steps": [', headers={"Content-Type": "application/json"}),
                               400)
    assert "not valid JSON" in malformed["errors"]["$"][0]
    assert_problem(http.post(SUBMIT, content=b"steps", headers={"Content-Type": "text/plain"}), 415)
    assert_problem(http.post(SUBMIT, content=b"", headers={"Content-Type": "application/json"}), 400)
    assert_problem(http.post(SUBMIT, content=b"\xff\xfe", headers={"Content-Type": "application/json"}), 400)
    assert http.post(SUBMIT, content=b'{"steps":[{"$type":"videoGen","input":{"engine":"kling-v3","prompt":"x"}}]}',
                     headers={"Content-Type": "application/*+json".replace("*", "vnd.civitai")}).status_code == 202


def test_oversized_bodies_are_413() -> None:
    with civitai_fake(max_body_bytes=1000) as mock:
        big = body("x" * 2000)
        assert_problem(mock.client.post(SUBMIT, json=big), 413)


def test_unknown_routes_and_wrong_methods(civitai_mock: CivitaiMock) -> None:
    assert_problem(civitai_mock.client.get("/v2/consumer/nothing-here"), 404)
    wrong = civitai_mock.client.put(SUBMIT, json={})
    assert_problem(wrong, 405)
    assert set(wrong.headers["allow"].replace(" ", "").split(",")) >= {"GET", "POST"}
    assert_problem(civitai_mock.client.post("/v2/consumer/blobs/x.mp4"), 405)


def test_injected_faults_answer_then_recover(civitai_mock: CivitaiMock) -> None:
    queued = civitai_mock.client.post("/_mock/faults", json={
        "token": civitai_mock.token, "faults": [{"status": 429, "count": 2, "retryAfter": 3}, {"status": 503}]})
    assert queued.json()["queued"] == 2
    answers = [civitai_mock.client.post(SUBMIT, json=body()) for _ in range(4)]
    assert [a.status_code for a in answers] == [429, 429, 503, 202]
    assert answers[0].headers["retry-after"] == "3" and assert_problem(answers[2], 503)
    assert civitai_mock.client.get(SUBMIT).status_code == 200  # only submits were targeted
    bad = civitai_mock.client.post("/_mock/faults", json={"token": "t", "faults": [{"status": 200}]})
    assert_problem(bad, 400)


def test_a_request_refused_by_an_injected_fault_is_logged_with_its_body(civitai_mock: CivitaiMock) -> None:
    """The linter judges what a client sent even when the fake refused it: the refused submit keeps its body."""
    civitai_mock.client.post("/_mock/faults", json={"token": civitai_mock.token, "faults": [{"status": 503}]})
    refused = civitai_mock.client.post(SUBMIT, json=body())
    accepted = civitai_mock.client.post(SUBMIT, json=body())
    assert (refused.status_code, accepted.status_code) == (503, 202)
    first, second = [e for e in civitai_mock.requests if e.method == "POST" and e.path == SUBMIT]
    assert first.status == 503 and first.body == body() == second.body


def test_rate_limit_per_tenant(civitai_mock: CivitaiMock) -> None:
    civitai_mock.client.put(f"/_mock/ratelimit/{civitai_mock.token}", json={"limit": 2, "window": 60})
    codes = [civitai_mock.client.post(SUBMIT, json=body()).status_code for _ in range(3)]
    assert codes == [202, 202, 429]
    assert civitai_mock.sync_client("neighbour").post(SUBMIT, json=body()).status_code == 202
    civitai_mock.advance(61)
    assert civitai_mock.client.post(SUBMIT, json=body()).status_code == 202
    civitai_mock.client.put(f"/_mock/ratelimit/{civitai_mock.token}", json={"limit": None})
    assert all(civitai_mock.client.post(SUBMIT, json=body()).status_code == 202 for _ in range(3))


def test_control_api(civitai_mock: CivitaiMock) -> None:
    http = civitai_mock.client
    assert "POST /_mock/reset" in http.get("/_mock").json()
    http.post(SUBMIT, json=body())
    assert http.post("/_mock/clock/advance", json={"seconds": 90}).json()["now"] == "2026-01-01T00:01:30.000Z"
    assert_problem(http.post("/_mock/clock/advance", json={"seconds": -1}), 400)
    log = http.get("/_mock/requests", params={"token": civitai_mock.token}).json()["items"]
    assert [(e["method"], e["path"], e["status"]) for e in log] == [("POST", SUBMIT, 202)]
    assert log[0]["body"]["steps"][0]["input"]["engine"] == "kling-v3" and log[0]["tenant"] == "test…oken"  # masked
    http.post("/_mock/outcomes", json={"token": civitai_mock.token, "outcomes": [{"kind": "fail"}]})
    assert http.get("/_mock/outcomes", params={"token": civitai_mock.token}).json()["pending"] == [
        {"kind": "fail", "reason": "no_provider_available"}]
    failed = http.post(SUBMIT, json=body()).json()
    http.post("/_mock/clock/advance", json={"seconds": 3600})
    assert http.get(f"{SUBMIT}/{failed['id']}").json()["status"] == "failed"
    assert_problem(http.post("/_mock/outcomes", json={"token": "t", "outcomes": [{"kind": "explode"}]}), 400)
    assert http.put("/_mock/accounts/someone", json={"yellow": 7}).json()["yellow"] == 7
    assert_problem(http.put("/_mock/accounts/someone", json={"purple": 7}), 400)
    assert http.post("/_mock/reset").status_code == 204
    assert http.get(SUBMIT).json()["items"] == []
    assert [e["path"] for e in http.get("/_mock/requests").json()["items"]] == [SUBMIT]  # only the GET since reset


def test_openapi_describes_the_fakes_surface(civitai_mock: CivitaiMock) -> None:
    document = civitai_mock.client.get("/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    for path in (SUBMIT, SUBMIT + "/{workflowId}", SUBMIT + "/{workflowId}/tags", SUBMIT + "/{workflowId}/tags/{tag}",
                 SUBMIT + "/{workflowId}/steps/{stepName}", "/v2/consumer/recipes/videoGen",
                 "/v2/consumer/blobs/{blobId}", "/v2/consumer/blobs/{blobId}/refresh"):
        assert path in document["paths"], path
    assert {"Workflow", "KlingInput", "KlingV3Input", "ValidationProblemDetails"} <= set(document["components"]["schemas"])


def test_every_route_with_an_id_is_isolated_between_tenants(civitai_mock: CivitaiMock) -> None:
    owner = civitai_mock.client
    workflow_id = owner.post(SUBMIT, json=body(), params={"wait": 100}).json()["id"]
    blob_id = owner.get(f"{SUBMIT}/{workflow_id}").json()["steps"][0]["output"]["video"]["id"]
    before = owner.get(f"{SUBMIT}/{workflow_id}").json()
    intruder = civitai_mock.sync_client("intruder")
    calls = [
        intruder.get(f"{SUBMIT}/{workflow_id}"),
        intruder.put(f"{SUBMIT}/{workflow_id}", json={"tags": ["mine"]}),
        intruder.patch(f"{SUBMIT}/{workflow_id}", json=[{"op": "add", "path": "/tags/-", "value": "x"}], headers=PATCH),
        intruder.delete(f"{SUBMIT}/{workflow_id}"),
        intruder.post(f"{SUBMIT}/{workflow_id}/tags", json="x"),
        intruder.delete(f"{SUBMIT}/{workflow_id}/tags"),
        intruder.delete(f"{SUBMIT}/{workflow_id}/tags/x"),
        intruder.get(f"{SUBMIT}/{workflow_id}/steps/$0"),
        intruder.put(f"{SUBMIT}/{workflow_id}/steps/$0", json={"metadata": {}}),
        intruder.patch(f"{SUBMIT}/{workflow_id}/steps/$0", json=[], headers=PATCH),
        intruder.get(f"/v2/consumer/blobs/{blob_id}"),
        intruder.head(f"/v2/consumer/blobs/{blob_id}"),
        intruder.post(f"/v2/consumer/blobs/{blob_id}/refresh"),
    ]
    assert [c.status_code for c in calls] == [404] * len(calls)
    after = owner.get(f"{SUBMIT}/{workflow_id}").json()
    assert after["tags"] == before["tags"] and after["status"] == before["status"] == "succeeded"
    assert intruder.get(SUBMIT).json()["items"] == []


def test_a_patch_replacing_the_whole_document_is_a_400(civitai_mock: CivitaiMock) -> None:
    """Found by Schemathesis: ``"path": ""`` made the patched document null and the fake answered 500."""
    workflow_id = civitai_mock.client.post(SUBMIT, json=body()).json()["id"]
    patch = [{"op": "add", "path": "", "value": None}]
    for url in (f"{SUBMIT}/{workflow_id}", f"{SUBMIT}/{workflow_id}/steps/$0"):
        answer = civitai_mock.client.patch(url, json=patch, headers={"Content-Type": "application/json-patch+json"})
        assert_problem(answer, 400)
