"""Workflow endpoints over HTTP: submit/get with wait and until, whatif, ephemeral, externalId, query,
cancel, update, patch, tags and steps — success and error paths."""

from __future__ import annotations

from typing import Any

from civitai_mock.kit.handle import CivitaiMock

SUBMIT = "/v2/consumer/workflows"


def body(prompt: str = "[mock:runtime=20] a fox", **extra: Any) -> dict:
    return {"steps": [{"$type": "videoGen", "input": {"engine": "kling-v3", "prompt": prompt}}], **extra}


def clock(mock: CivitaiMock) -> str:
    return mock.client.get("/_mock/clock").json()["now"]


def test_submit_wait_zero_answers_202_at_once(civitai_mock: CivitaiMock) -> None:
    answer = civitai_mock.client.post(SUBMIT, params={"wait": 0}, json=body())
    assert answer.status_code == 202 and answer.json()["status"] == "unassigned"
    assert clock(civitai_mock) == "2026-01-01T00:00:00.000Z"


def test_submit_wait_returns_200_when_done_in_time_and_202_otherwise(civitai_mock: CivitaiMock) -> None:
    done = civitai_mock.client.post(SUBMIT, params={"wait": 100}, json=body())
    assert done.status_code == 200 and done.json()["status"] == "succeeded"
    civitai_mock.reset()
    running = civitai_mock.client.post(SUBMIT, params={"wait": 500}, json=body("a long one"))
    assert running.status_code == 202 and running.json()["status"] == "processing"
    assert clock(civitai_mock) == "2026-01-01T00:01:40.000Z"  # capped at the 100 s request timeout


def test_whatif_previews_without_creating(civitai_mock: CivitaiMock) -> None:
    preview = civitai_mock.client.post(SUBMIT, params={"whatif": "true"}, json=body())
    assert preview.status_code == 200 and preview.json()["cost"]["total"] == 1095
    assert preview.json()["transactions"]["insufficientBuzz"] is False
    assert civitai_mock.client.get(SUBMIT).json()["items"] == []
    civitai_mock.client.put(f"/_mock/accounts/{civitai_mock.token}", json={"blue": 0, "green": 0, "yellow": 0})
    assert civitai_mock.client.post(SUBMIT, params={"whatif": "true"}, json=body()).json()["transactions"][
        "insufficientBuzz"] is True
    broke = civitai_mock.client.post(SUBMIT, json=body())
    assert broke.status_code == 403 and broke.json().startswith("Insufficient Buzz")


def test_ephemeral_needs_a_callback_or_wait_and_vanishes_when_done(civitai_mock: CivitaiMock) -> None:
    refused = civitai_mock.client.post(SUBMIT, params={"wait": 0}, json=body(ephemeral=True))
    assert refused.status_code == 400 and "ephemeral" in refused.json()["errors"]
    done = civitai_mock.client.post(SUBMIT, params={"wait": 100}, json=body(ephemeral=True))
    assert done.status_code == 200 and done.json()["status"] == "succeeded"
    assert civitai_mock.client.get(f"{SUBMIT}/{done.json()['id']}").status_code == 404
    running = civitai_mock.client.post(SUBMIT, params={"wait": 1}, json=body("long", ephemeral=True)).json()
    assert civitai_mock.client.get(f"{SUBMIT}/{running['id']}").status_code == 200  # in-flight polling works


def test_external_id_returns_the_existing_workflow(civitai_mock: CivitaiMock) -> None:
    first = civitai_mock.client.post(SUBMIT, json=body(externalId="order-1")).json()
    again = civitai_mock.client.post(SUBMIT, json=body(externalId="order-1")).json()
    other = civitai_mock.sync_client("other").post(SUBMIT, json=body(externalId="order-1")).json()
    assert first["id"] == again["id"] != other["id"]


def test_get_with_wait_and_until(civitai_mock: CivitaiMock) -> None:
    workflow_id = civitai_mock.client.post(SUBMIT, json=body("[mock:runtime=400] x")).json()["id"]
    changed = civitai_mock.client.get(f"{SUBMIT}/{workflow_id}", params={"wait": 60, "until": "change"})
    assert changed.status_code == 200 and changed.json()["status"] == "preparing"
    held = civitai_mock.client.get(f"{SUBMIT}/{workflow_id}", params={"wait": 10})
    assert held.status_code == 202
    for _ in range(6):
        final = civitai_mock.client.get(f"{SUBMIT}/{workflow_id}", params={"wait": 100})
    assert final.status_code == 200 and final.json()["status"] == "succeeded"
    assert civitai_mock.client.get(f"{SUBMIT}/{workflow_id}", params={"until": "later"}).status_code == 400
    bad = civitai_mock.client.get(f"{SUBMIT}/{workflow_id}", params={"wait": "abc"})
    assert bad.status_code == 400 and "wait" in bad.json()["errors"]
    assert civitai_mock.client.get(f"{SUBMIT}/does-not-exist").status_code == 404


def test_query_pages_with_a_cursor_newest_first(civitai_mock: CivitaiMock) -> None:
    ids = []
    for i in range(25):
        ids.append(civitai_mock.client.post(SUBMIT, json=body(tags=["even" if i % 2 == 0 else "odd"])).json()["id"])
        civitai_mock.advance(1)
    seen, cursor = [], None
    while True:
        page = civitai_mock.client.get(SUBMIT, params={"take": 10, **({"cursor": cursor} if cursor else {})}).json()
        seen += [w["id"] for w in page["items"]]
        cursor = page["next"]
        if not cursor:
            break
    assert seen == list(reversed(ids))
    ascending = civitai_mock.client.get(SUBMIT, params={"take": 5, "ascending": "true"}).json()
    assert [w["id"] for w in ascending["items"]] == ids[:5]
    tagged = civitai_mock.client.get(SUBMIT, params={"tags": "odd", "take": 100}).json()["items"]
    assert len(tagged) == 12
    window = civitai_mock.client.get(SUBMIT, params={"fromDate": "2026-01-01T00:00:05Z",
                                                     "toDate": "2026-01-01T00:00:09Z"}).json()["items"]
    assert len(window) == 5
    before_epoch_ends = {"toDate": "1970-01-01T00:00:00Z"}  # a date at epoch 0 is a filter like any other
    assert civitai_mock.client.get(SUBMIT, params=before_epoch_ends).json()["items"] == []
    assert civitai_mock.sync_client("other").get(SUBMIT).json()["items"] == []
    assert civitai_mock.client.get(SUBMIT, params={"cursor": "garbage"}).status_code == 400


def test_query_exclude_failed(civitai_mock: CivitaiMock) -> None:
    civitai_mock.client.post(SUBMIT, json=body())
    civitai_mock.client.post(SUBMIT, json=body("[mock:fail=no_provider_available] x"))
    civitai_mock.advance(3600)
    kept = civitai_mock.client.get(SUBMIT, params={"excludeFailed": "true"}).json()["items"]
    assert [w["status"] for w in kept] == ["succeeded"]


def test_delete_makes_a_workflow_gone_and_refunds_only_unstarted_work(civitai_mock: CivitaiMock) -> None:
    queued = civitai_mock.client.post(SUBMIT, json=body("long")).json()["id"]
    assert civitai_mock.client.delete(f"{SUBMIT}/{queued}").status_code == 204
    assert civitai_mock.client.get(f"{SUBMIT}/{queued}").status_code == 404
    assert civitai_mock.client.get(f"/_mock/accounts/{civitai_mock.token}").json()["blue"] == 5000  # refunded
    assert civitai_mock.client.delete(f"{SUBMIT}/{queued}").status_code == 404  # already gone
    finished = civitai_mock.client.post(SUBMIT, json=body()).json()["id"]
    civitai_mock.advance(3600)
    assert civitai_mock.client.delete(f"{SUBMIT}/{finished}").status_code == 204
    assert civitai_mock.client.get(f"{SUBMIT}/{finished}").status_code == 404
    assert civitai_mock.client.get(SUBMIT).json()["items"] == []
    assert civitai_mock.client.get(f"/_mock/accounts/{civitai_mock.token}").json()["blue"] == 5000 - 1095


def test_update_workflow(civitai_mock: CivitaiMock) -> None:
    workflow_id = civitai_mock.client.post(SUBMIT, json=body("long")).json()["id"]
    updated = civitai_mock.client.put(f"{SUBMIT}/{workflow_id}", json={"metadata": {"a": 1}, "tags": ["x"],
                                                                        "allowMatureContent": True})
    assert updated.status_code == 200
    assert (updated.json()["metadata"], updated.json()["tags"], updated.json()["allowMatureContent"]) == (
        {"a": 1}, ["x"], True)
    canceled = civitai_mock.client.put(f"{SUBMIT}/{workflow_id}", json={"status": "canceled"})
    assert canceled.json()["status"] == "canceled"
    bad = civitai_mock.client.put(f"{SUBMIT}/{workflow_id}", json={"status": "succeeded"})
    assert bad.status_code == 400 and "status" in bad.json()["errors"]


def test_patch_workflow_with_json_patch(civitai_mock: CivitaiMock) -> None:
    workflow_id = civitai_mock.client.post(SUBMIT, json=body("long", tags=["a"])).json()["id"]
    patch = {"Content-Type": "application/json-patch+json"}
    ops = [{"op": "add", "path": "/metadata/run", "value": 7}, {"op": "add", "path": "/tags/-", "value": "b"}]
    assert civitai_mock.client.patch(f"{SUBMIT}/{workflow_id}", json=ops, headers=patch).status_code == 204
    workflow = civitai_mock.client.get(f"{SUBMIT}/{workflow_id}").json()
    assert workflow["metadata"] == {"run": 7} and workflow["tags"] == ["a", "b"]
    wrong_type = civitai_mock.client.patch(f"{SUBMIT}/{workflow_id}", json=ops)
    assert wrong_type.status_code == 415
    failing_test = [{"op": "test", "path": "/tags/0", "value": "zzz"}]
    assert civitai_mock.client.patch(f"{SUBMIT}/{workflow_id}", json=failing_test, headers=patch).status_code == 400
    cancel = [{"op": "replace", "path": "/status", "value": "canceled"}]
    assert civitai_mock.client.patch(f"{SUBMIT}/{workflow_id}", json=cancel, headers=patch).status_code == 204
    assert civitai_mock.client.get(f"{SUBMIT}/{workflow_id}").json()["status"] == "canceled"


def test_tags(civitai_mock: CivitaiMock) -> None:
    workflow_id = civitai_mock.client.post(SUBMIT, json=body()).json()["id"]
    for i in range(10):
        assert civitai_mock.client.post(f"{SUBMIT}/{workflow_id}/tags", json=f"t{i}").status_code == 204
    too_many = civitai_mock.client.post(f"{SUBMIT}/{workflow_id}/tags", json="eleven")
    assert too_many.status_code == 400 and too_many.json()["errors"]
    assert civitai_mock.client.delete(f"{SUBMIT}/{workflow_id}/tags/t3").status_code == 204
    long_tag = civitai_mock.client.post(f"{SUBMIT}/{workflow_id}/tags", json="x" * 201)
    assert long_tag.status_code == 400
    assert civitai_mock.client.post(f"{SUBMIT}/{workflow_id}/tags", json={"tag": "x"}).status_code == 400
    assert len(civitai_mock.client.get(f"{SUBMIT}/{workflow_id}").json()["tags"]) == 9
    assert civitai_mock.client.delete(f"{SUBMIT}/{workflow_id}/tags").status_code == 204
    assert civitai_mock.client.get(f"{SUBMIT}/{workflow_id}").json()["tags"] == []


def test_steps(civitai_mock: CivitaiMock) -> None:
    workflow_id = civitai_mock.client.post(SUBMIT, json=body()).json()["id"]
    for name in ("$0", "0"):
        step = civitai_mock.client.get(f"{SUBMIT}/{workflow_id}/steps/{name}")
        assert step.status_code == 200 and step.json()["name"] == "$0"
    assert civitai_mock.client.put(f"{SUBMIT}/{workflow_id}/steps/0", json={"metadata": {"k": "v"}}).status_code == 204
    patch = {"Content-Type": "application/json-patch+json"}
    ops = [{"op": "add", "path": "/metadata/n", "value": 1}, {"op": "replace", "path": "/input/duration", "value": 7}]
    assert civitai_mock.client.patch(f"{SUBMIT}/{workflow_id}/steps/0", json=ops, headers=patch).status_code == 204
    step = civitai_mock.client.get(f"{SUBMIT}/{workflow_id}/steps/0").json()
    assert step["metadata"] == {"k": "v", "n": 1} and step["input"]["duration"] == 7
    bad = [{"op": "replace", "path": "/input/duration", "value": 99}]
    assert civitai_mock.client.patch(f"{SUBMIT}/{workflow_id}/steps/0", json=bad, headers=patch).status_code == 400
    civitai_mock.advance(60)
    late = civitai_mock.client.put(f"{SUBMIT}/{workflow_id}/steps/0", json={"metadata": {}})
    assert late.status_code == 409 and late.headers["content-type"] == "application/problem+json"
    assert civitai_mock.client.get(f"{SUBMIT}/{workflow_id}/steps/nope").status_code == 404


def test_recipe_endpoint(civitai_mock: CivitaiMock) -> None:
    quick = civitai_mock.client.post("/v2/consumer/recipes/videoGen",
                                     json={"engine": "kling", "model": "v2", "prompt": "[mock:runtime=20] x"})
    assert quick.status_code == 200 and quick.json()["video"]["type"] == "video"
    assert civitai_mock.client.get(quick.headers["location"]).json()["status"] == "succeeded"
    slow = civitai_mock.client.post("/v2/consumer/recipes/videoGen", json={"engine": "kling-v3", "prompt": "x"})
    assert slow.status_code == 202 and slow.json() == {} and slow.headers["x-workflow-id"]
    bad = civitai_mock.client.post("/v2/consumer/recipes/videoGen", json={"engine": "kling", "prompt": "x",
                                                                          "duration": 5})
    assert bad.status_code == 400 and set(bad.json()["errors"]) == {"model", "duration"}
