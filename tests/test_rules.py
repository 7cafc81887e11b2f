"""The client contract linter: each rule fires on the traffic that breaks it, and only then.

Rule by rule, each test pairs the documented mistake with the nearest correct behaviour (the false
alarm a user would hit first). The corpus in tests/test_corpus.py covers whole clients.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from civitai_mock import CivitaiMock
from civitai_mock.contracts.kling import KlingV3Input
from civitai_mock.contracts.rules import (
    ADVISORY,
    RULES,
    SEVERITIES,
    assert_conforms,
    failing,
    lint,
    report,
    report_json,
)
from examples.reference_client import KlingClient

V3 = {"engine": "kling-v3", "prompt": "a red fox in snow", "duration": 5}
SUBMIT = "/v2/consumer/workflows"


def body(video_input: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"steps": [{"$type": "videoGen", "input": video_input}], **fields}


def rules(mock: CivitaiMock) -> set[str]:
    return {v.rule for v in mock.lint()}


def submit(mock: CivitaiMock, runtime: int = 5, **query: Any) -> str:
    response = mock.client.post(SUBMIT, params={"wait": 0, **query},
                                json=body({**V3, "prompt": f"[mock:runtime={runtime}] x"}))
    return str(response.json()["id"])


async def no_content(scope: Any, receive: Any, send: Any) -> None:
    """A webhook receiver that accepts everything with 204."""
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def submit_with_webhooks(mock: CivitaiMock) -> str:
    """Submit a kling-v3 workflow whose workflow events go to a local receiver; its id."""
    mock.webhooks.route("https://hooks.example.com/", no_content)
    callbacks = [{"url": "https://hooks.example.com/h", "type": ["workflow:*"]}]
    return mock.client.post(SUBMIT, params={"wait": 0}, json=body(V3, callbacks=callbacks)).json()["id"]


def finished(mock: CivitaiMock) -> tuple[str, dict[str, Any]]:
    """A succeeded workflow read once after a correct wait; returns its id and video."""
    workflow_id = submit(mock)
    mock.advance(900)
    done = mock.client.get(f"{SUBMIT}/{workflow_id}").json()
    return workflow_id, done["steps"][0]["output"]["video"]


def test_every_rule_has_a_stable_id_a_severity_and_a_documented_source() -> None:
    ids = [rule.id for rule in RULES]
    assert len(ids) == len(set(ids)) >= 12
    assert all(rule.source and rule.summary and rule.severity in SEVERITIES for rule in RULES)
    assert {r.id for r in RULES if r.severity == ADVISORY} == {
        "unknown-input-property", "webhook-dedupe", "ephemeral-detailed-callback"}


def test_the_reference_client_is_clean(civitai_mock: CivitaiMock) -> None:
    result = KlingClient(civitai_mock.client, sleep=civitai_mock.advance).generate(V3)
    assert result.status == "succeeded" and result.video
    assert civitai_mock.lint() == []


def test_retrying_an_unchanged_400_is_flagged_and_fixing_the_body_is_fine(civitai_mock: CivitaiMock) -> None:
    bad = body({"engine": "kling-v3", "duration": 5})
    for _ in range(2):
        assert civitai_mock.client.post(SUBMIT, params={"wait": 0}, json=bad).status_code == 400
    assert [len(v.requests) for v in civitai_mock.lint() if v.rule == "no-retry-after-4xx"] == [2]
    civitai_mock.reset()
    civitai_mock.client.post(SUBMIT, params={"wait": 0}, json=bad)
    civitai_mock.client.post(SUBMIT, params={"wait": 0}, json=body(V3))
    assert rules(civitai_mock) == set()


def test_retrying_before_retry_after_is_flagged_and_waiting_it_out_is_fine(civitai_mock: CivitaiMock) -> None:
    civitai_mock.fail_next(429, count=2, retry_after=5)
    civitai_mock.client.post(SUBMIT, params={"wait": 0}, json=body(V3))
    civitai_mock.advance(4)
    civitai_mock.client.post(SUBMIT, params={"wait": 0}, json=body(V3))
    assert [v.message for v in civitai_mock.lint()] == ["Retried 4.0 s after 429; its Retry-After asked for 5 s"]
    civitai_mock.reset()
    civitai_mock.fail_next(429, count=1, retry_after=5)
    civitai_mock.client.post(SUBMIT, params={"wait": 0}, json=body(V3))
    civitai_mock.advance(5)
    assert civitai_mock.client.post(SUBMIT, params={"wait": 0}, json=body(V3)).status_code == 202
    assert rules(civitai_mock) == set()


def test_an_immediate_retry_after_a_500_without_retry_after_is_flagged(civitai_mock: CivitaiMock) -> None:
    civitai_mock.fail_next(500, count=1)
    civitai_mock.client.post(SUBMIT, params={"wait": 0}, json=body(V3))
    civitai_mock.client.post(SUBMIT, params={"wait": 0}, json=body(V3))
    assert rules(civitai_mock) == {"backoff-on-429-5xx"}


def test_six_tries_are_tolerated_and_the_seventh_is_flagged(civitai_mock: CivitaiMock) -> None:
    civitai_mock.fail_next(503, count=10, retry_after=1)
    for tries in range(1, 8):
        civitai_mock.client.post(SUBMIT, params={"wait": 0}, json=body(V3))
        civitai_mock.advance(2)
        gave_up = [v for v in civitai_mock.lint() if "about five tries" in v.message]
        assert bool(gave_up) == (tries == 7)


def test_kling_submit_with_wait_is_flagged_but_a_whatif_preview_is_not(civitai_mock: CivitaiMock) -> None:
    civitai_mock.client.post(SUBMIT, params={"wait": 30, "whatif": "true"}, json=body(V3))
    assert rules(civitai_mock) == set()
    civitai_mock.client.post(SUBMIT, params={"wait": 30}, json=body(V3))
    assert rules(civitai_mock) == {"kling-wait-zero"}


@pytest.mark.parametrize("video_input", [{**V3, "duration": "5"}, {"engine": "kling", "model": "v2", "prompt": "x",
                                                                     "duration": 5}])
def test_wrong_duration_types_are_flagged_per_engine(civitai_mock: CivitaiMock, video_input: dict) -> None:
    civitai_mock.client.post(SUBMIT, params={"wait": 0}, json=body(video_input))
    assert rules(civitai_mock) == {"kling-duration-type"}


def test_the_first_read_after_a_wait_zero_submit_is_judged_by_the_cadence(civitai_mock: CivitaiMock) -> None:
    early = submit(civitai_mock, runtime=300)
    civitai_mock.client.get(f"{SUBMIT}/{early}")
    assert [v.rule for v in civitai_mock.lint()] == ["poll-cadence"]
    assert "after its submit" in civitai_mock.lint()[0].message
    civitai_mock.reset()
    on_time = submit(civitai_mock, runtime=300)
    civitai_mock.advance(10)
    civitai_mock.client.get(f"{SUBMIT}/{on_time}")
    assert rules(civitai_mock) == set()


def test_polling_faster_than_ten_seconds_is_flagged(civitai_mock: CivitaiMock) -> None:
    workflow_id = submit(civitai_mock, runtime=300)
    for _ in range(3):
        civitai_mock.advance(10)
        civitai_mock.client.get(f"{SUBMIT}/{workflow_id}")
    assert rules(civitai_mock) == set()
    civitai_mock.advance(3)
    civitai_mock.client.get(f"{SUBMIT}/{workflow_id}")
    assert rules(civitai_mock) == {"poll-cadence"}


def test_held_reads_and_a_read_after_changing_the_workflow_are_not_polls(civitai_mock: CivitaiMock) -> None:
    held = submit(civitai_mock, runtime=20)
    statuses: list[str] = []
    while "succeeded" not in statuses and len(statuses) < 5:  # held reads back to back, until it finishes
        statuses.append(civitai_mock.client.get(f"{SUBMIT}/{held}", params={"wait": 60}).json()["status"])
    assert statuses[-1] == "succeeded"
    changed = submit(civitai_mock, runtime=300)
    assert civitai_mock.client.put(f"{SUBMIT}/{changed}", json={"metadata": {"order": 1}}).status_code == 200
    assert civitai_mock.client.get(f"{SUBMIT}/{changed}").json()["metadata"] == {"order": 1}
    assert rules(civitai_mock) == set()
    civitai_mock.client.get(f"{SUBMIT}/{changed}")
    assert rules(civitai_mock) == {"poll-cadence"}


def test_a_read_answering_a_new_webhook_event_is_not_a_poll(civitai_mock: CivitaiMock) -> None:
    workflow_id = submit_with_webhooks(civitai_mock)
    for _ in range(9):  # the first event arrives within seconds: a read now is < 10 s after the submit
        civitai_mock.advance(1)
        if civitai_mock.webhooks.deliveries():
            break
    assert civitai_mock.webhooks.deliveries()
    civitai_mock.client.get(f"{SUBMIT}/{workflow_id}")  # "fetch the details yourself", right after the event
    assert rules(civitai_mock) == set()
    civitai_mock.client.get(f"{SUBMIT}/{workflow_id}")  # no new event since: a poll, and too early
    assert rules(civitai_mock) == {"poll-cadence"}


def test_rereading_a_finished_workflow_for_a_fresh_url_is_allowed(civitai_mock: CivitaiMock) -> None:
    civitai_mock.expire_next_urls(2)
    workflow_id, video = finished(civitai_mock)
    for _ in range(3):  # 403, read again, 403, read again, 200: the docs' first suggestion
        if civitai_mock.client.get(video["url"]).status_code == 200:
            break
        video = civitai_mock.client.get(f"{SUBMIT}/{workflow_id}").json()["steps"][0]["output"]["video"]
    assert civitai_mock.client.get(video["url"]).status_code == 200
    assert rules(civitai_mock) == set()


def test_one_more_look_is_fine_and_a_polling_loop_past_terminal_is_flagged(civitai_mock: CivitaiMock) -> None:
    workflow_id, _ = finished(civitai_mock)
    civitai_mock.client.get(f"{SUBMIT}/{workflow_id}")  # e.g. wait() then get_result(): one more read
    assert rules(civitai_mock) == set()
    civitai_mock.advance(60)
    civitai_mock.client.get(f"{SUBMIT}/{workflow_id}")
    assert rules(civitai_mock) == {"poll-until-terminal"}


def test_a_cached_url_fetched_without_a_token_is_caught(civitai_mock: CivitaiMock) -> None:
    _, video = finished(civitai_mock)
    civitai_mock.advance(3600)
    with civitai_mock.sync_client() as anonymous:
        anonymous.headers.pop("Authorization")
        assert [anonymous.get(video["url"]).status_code for _ in range(2)] == [403, 403]
    assert rules(civitai_mock) == {"refresh-expired-url"}


def test_refreshing_then_fetching_the_old_url_is_caught(civitai_mock: CivitaiMock) -> None:
    _, video = finished(civitai_mock)
    civitai_mock.advance(3600)
    assert civitai_mock.client.get(video["url"]).status_code == 403
    fresh = civitai_mock.client.post(f"/v2/consumer/blobs/{video['id']}/refresh").json()["url"]
    assert civitai_mock.client.get(video["url"]).status_code == 403  # the old one, although it had a fresh one
    assert rules(civitai_mock) == {"refresh-expired-url"}
    civitai_mock.clear_log()
    assert civitai_mock.client.get(fresh).status_code == 200
    assert rules(civitai_mock) == set()


def test_getblob_redirects_are_followed_by_blob_id(civitai_mock: CivitaiMock) -> None:
    _, video = finished(civitai_mock)
    civitai_mock.advance(3600)
    assert civitai_mock.client.get(video["url"]).status_code == 403
    fresh = civitai_mock.client.get(f"/v2/consumer/blobs/{video['id']}").headers["location"]
    assert civitai_mock.client.get(fresh).status_code == 200
    assert rules(civitai_mock) == set()
    assert civitai_mock.client.get(video["url"]).status_code == 403
    assert rules(civitai_mock) == {"refresh-expired-url"}


def test_ephemeral_rules(civitai_mock: CivitaiMock) -> None:
    civitai_mock.client.post(SUBMIT, params={"wait": 0}, json=body(V3, ephemeral=True))
    assert rules(civitai_mock) == {"ephemeral-needs-callback"}
    civitai_mock.reset()
    plain = [{"url": "https://hooks.example.com/h", "type": ["workflow:succeeded"]}]
    civitai_mock.client.post(SUBMIT, params={"wait": 0}, json=body(V3, ephemeral=True, callbacks=plain))
    assert [(v.rule, v.severity) for v in civitai_mock.lint()] == [("ephemeral-detailed-callback", "advisory")]
    civitai_mock.reset()
    detailed = [{**plain[0], "detailed": True}]
    civitai_mock.client.post(SUBMIT, params={"wait": 0}, json=body(V3, ephemeral=True, callbacks=detailed))
    assert rules(civitai_mock) == set()


def test_failing_webhook_receiver_is_flagged(civitai_mock: CivitaiMock) -> None:
    async def broken(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 500, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    civitai_mock.webhooks.route("https://hooks.example.com/", broken)
    callbacks = [{"url": "https://hooks.example.com/h", "type": ["workflow:succeeded"]}]
    civitai_mock.client.post(SUBMIT, params={"wait": 0}, json=body({**V3, "prompt": "[mock:runtime=5] x"},
                                                                     callbacks=callbacks))
    civitai_mock.advance(900)
    assert rules(civitai_mock) == {"webhook-2xx-promptly"}


def test_unknown_properties_are_advisories_named_by_path(civitai_mock: CivitaiMock) -> None:
    sent = body({**V3, "aspect_ratio": "9:16", "cameraControl": {"config": {"zoom": 1, "spin": 2}}}, priority="high")
    civitai_mock.client.post(SUBMIT, params={"wait": 0}, json=sent)
    [advice] = civitai_mock.lint()
    assert advice.severity == "advisory" and advice.rule == "unknown-input-property"
    assert advice.message.endswith("priority, steps[0].input.aspect_ratio, steps[0].input.cameraControl")
    civitai_mock.assert_client_conforms()  # advisories never fail by default
    with pytest.raises(AssertionError, match="unknown-input-property"):
        civitai_mock.assert_client_conforms(strict=True)


def test_every_documented_property_is_known() -> None:
    every = {f.alias or name: None for name, f in KlingV3Input.model_fields.items()}
    log = [{"seq": 1, "at": 0.0, "method": "POST", "path": SUBMIT, "query": {}, "status": 400,
            "body": body({**every, "engine": "kling-v3"}, tags=["a"], callbacks=[{"url": "u", "type": [],
                                                                                "detailed": True}])}]
    assert lint(log) == []


def test_unknown_properties_of_an_image_input_are_reported_too() -> None:
    image = {"engine": "google", "model": "imagen4", "prompt": "p", "numImage": 2, "aspectRatio": "1:1"}
    log = [{"seq": 1, "at": 0.0, "method": "POST", "path": SUBMIT, "query": {}, "status": 400,
            "body": {"steps": [{"$type": "imageGen", "input": image}, {"$type": "videoGen", "input": {**V3, "spin": 1}}]}}]
    [advice] = lint(log)
    assert advice.rule == "unknown-input-property"
    assert advice.message.endswith("steps[0].input.numImage, steps[1].input.spin")


@pytest.mark.parametrize("flag", ["True", "TRUE", " true "])
def test_query_flags_are_read_as_the_service_reads_them(flag: str) -> None:
    kling = {"seq": 1, "at": 0.0, "method": "POST", "path": SUBMIT, "query": {"whatif": flag, "wait": "30"},
             "status": 200, "body": body(V3)}
    recipe = {"seq": 2, "at": 1.0, "method": "POST", "path": "/v2/consumer/recipes/kling", "status": 202,
              "query": {"ephemeral": flag, "whatif": "false"}, "body": V3}
    assert [v.rule for v in lint([kling, recipe])] == ["ephemeral-needs-callback"]


def test_ignore_severities_and_unknown_rule_ids(civitai_mock: CivitaiMock) -> None:
    civitai_mock.client.post(SUBMIT, params={"wait": 10}, json=body({**V3, "seed": 3}))
    assert rules(civitai_mock) == {"kling-wait-zero", "unknown-input-property"}
    assert {v.rule for v in civitai_mock.lint(include_advisories=False)} == {"kling-wait-zero"}
    assert {v.rule for v in civitai_mock.lint(ignore=["kling-wait-zero"])} == {"unknown-input-property"}
    civitai_mock.assert_client_conforms(ignore=["kling-wait-zero"])
    with pytest.raises(AssertionError):
        civitai_mock.assert_client_conforms()
    with pytest.raises(ValueError, match="poll-cadense"):
        civitai_mock.lint(ignore=["poll-cadense"])


@pytest.mark.civitai_mock(lint_ignore=["kling-wait-zero"])
def test_the_marker_skips_rules_for_one_test(civitai_mock: CivitaiMock) -> None:
    civitai_mock.client.post(SUBMIT, params={"wait": 10}, json=body(V3))
    civitai_mock.assert_client_conforms()
    assert civitai_mock.lint_ignore == ("kling-wait-zero",)


def test_without_the_marker_nothing_is_skipped(civitai_mock: CivitaiMock) -> None:
    assert civitai_mock.lint_ignore == ()


def test_everyone_or_one_tenant_each_judged_on_its_own_traffic(civitai_mock: CivitaiMock) -> None:
    mine = submit(civitai_mock, runtime=300)
    with civitai_mock.sync_client(token="other") as other:
        theirs = other.post(SUBMIT, params={"wait": 10}, json=body(V3)).json()["id"]
        civitai_mock.advance(10)
        civitai_mock.client.get(f"{SUBMIT}/{mine}")
        other.get(f"{SUBMIT}/{theirs}")  # 0 s after my read: not a poll of *their* workflow
    assert civitai_mock.lint() == []
    assert [(v.rule, v.tenant) for v in civitai_mock.lint("other")] == [("kling-wait-zero", "other")]
    assert [(v.rule, v.tenant) for v in civitai_mock.lint(everyone=True)] == [("kling-wait-zero", "other")]
    with pytest.raises(ValueError):
        civitai_mock.lint("other", everyone=True)


def test_reports_group_repeats_and_have_a_json_form(civitai_mock: CivitaiMock) -> None:
    for wait in (5, 10, 15, 20):
        civitai_mock.client.post(SUBMIT, params={"wait": wait}, json=body({**V3, "prompt": f"{wait}"}))
    violations = civitai_mock.lint()
    text = report(violations)
    assert text.startswith("4 contract violation(s) of 1 rule(s):")
    seqs = [v.requests[0]["seq"] for v in violations]
    assert text.count("[kling-wait-zero]") == 1 and f"… and 3 more like it (#{seqs[1]}, #{seqs[2]}, #{seqs[3]})" in text
    assert report(violations, every=True).count("[kling-wait-zero]") == 4
    data = report_json(violations)
    assert data["conforms"] is False and data["errors"] == 4 and data["advisories"] == 0
    assert [(g["rule"], g["count"], g["severity"]) for g in data["rules"]] == [("kling-wait-zero", 4, "error")]
    assert data["rules"][0]["first"]["requests"][0]["query"] == {"wait": "5"}
    assert len(report_json(violations, every=True)["rules"][0]["violations"]) == 4
    assert json.loads(json.dumps(report_json(violations, every=True))) == report_json(violations, every=True)
    civitai_mock.reset()
    civitai_mock.client.post(SUBMIT, params={"wait": 0}, json=body({**V3, "seed": 1}))
    advice = civitai_mock.lint()
    assert report(advice).startswith("client conforms; 1 advisory note(s):") and report_json(advice)["conforms"]
    assert failing(violations) == violations and report_json([])["conforms"] is True


def test_a_log_and_an_inbox_filtered_to_one_tenant_are_judged_together(civitai_mock: CivitaiMock) -> None:
    workflow_id = submit_with_webhooks(civitai_mock)
    civitai_mock.advance(5)
    civitai_mock.client.get(f"{SUBMIT}/{workflow_id}")  # answers the webhook: no poll
    log = [{**e.to_json(), "tenant": "test…oken"} for e in civitai_mock.requests]  # as /_mock/requests masks it
    inbox = civitai_mock.webhooks.inbox(civitai_mock.token)
    assert civitai_mock.lint() == [] and lint(log, inbox) == []
    assert [v.rule for v in lint(log, [{**a, "tenant": "someone-else"} for a in inbox] + inbox)] == ["poll-cadence"]


def test_lint_reads_plain_json_logs_from_any_language() -> None:
    log = [{"seq": 1, "at": 0.0, "wall": 0.0, "method": "POST", "path": SUBMIT, "query": {"wait": "5"},
            "status": 202, "body": body(V3), "headers": {}}]
    violations = lint(log, [])
    assert [v.rule for v in violations] == ["kling-wait-zero"]
    assert "1 contract violation" in report(violations) and report([]).startswith("client conforms")
    assert_conforms([])
    with pytest.raises(AssertionError, match=r"POST /v2/consumer/workflows\?wait=5"):
        assert_conforms(violations)
