"""The client contract linter: each rule fires on the traffic that breaks it, and only then."""

from __future__ import annotations

from typing import Any

import pytest
from civitai_mock.contracts.rules import RULES, assert_conforms, lint, report

from examples.reference_client import KlingClient

V3 = {"engine": "kling-v3", "prompt": "a red fox in snow", "duration": 5}
SUBMIT = "/v2/consumer/workflows"


def body(video_input: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"steps": [{"$type": "videoGen", "input": video_input}], **fields}


def rules(mock: Any) -> set[str]:
    return {v.rule for v in mock.lint()}


def test_every_rule_has_a_stable_id_and_a_documented_source() -> None:
    ids = [rule.id for rule in RULES]
    assert len(ids) == len(set(ids)) >= 9
    assert all(rule.source and rule.summary for rule in RULES)


def test_the_reference_client_is_clean(civitai_mock: Any) -> None:
    result = KlingClient(civitai_mock.client, sleep=civitai_mock.advance).generate(V3)
    assert result.status == "succeeded" and result.video
    civitai_mock.assert_client_conforms()


def test_retrying_an_unchanged_400_is_flagged(civitai_mock: Any) -> None:
    bad = body({"engine": "kling", "model": "v2", "prompt": "x", "duration": 5})
    for _ in range(2):
        assert civitai_mock.client.post(SUBMIT, params={"wait": 0}, json=bad).status_code == 400
    violations = [v for v in civitai_mock.lint() if v.rule == "no-retry-after-4xx"]
    assert len(violations) == 1 and len(violations[0].requests) == 2
    assert "kling-duration-type" in rules(civitai_mock)


def test_fixing_the_body_after_a_400_is_fine(civitai_mock: Any) -> None:
    civitai_mock.client.post(SUBMIT, params={"wait": 0}, json=body({"engine": "kling", "model": "v2", "prompt": "x",
                                                                      "duration": 5}))
    civitai_mock.client.post(SUBMIT, params={"wait": 0}, json=body({"engine": "kling", "model": "v2", "prompt": "x",
                                                                      "duration": "5"}))
    assert "no-retry-after-4xx" not in rules(civitai_mock)


def test_retrying_before_retry_after_is_flagged_and_waiting_is_fine(civitai_mock: Any) -> None:
    civitai_mock.fail_next(429, count=2, retry_after=5)
    civitai_mock.client.post(SUBMIT, params={"wait": 0}, json=body(V3))
    civitai_mock.client.post(SUBMIT, params={"wait": 0}, json=body(V3))
    assert "backoff-on-429-5xx" in rules(civitai_mock)
    civitai_mock.reset()
    civitai_mock.fail_next(429, count=1, retry_after=5)
    civitai_mock.client.post(SUBMIT, params={"wait": 0}, json=body(V3))
    civitai_mock.advance(5)
    assert civitai_mock.client.post(SUBMIT, params={"wait": 0}, json=body(V3)).status_code == 202
    assert "backoff-on-429-5xx" not in rules(civitai_mock)


def test_more_than_five_retries_is_flagged(civitai_mock: Any) -> None:
    civitai_mock.fail_next(503, count=10, retry_after=1)
    for _ in range(7):
        civitai_mock.client.post(SUBMIT, params={"wait": 0}, json=body(V3))
        civitai_mock.advance(2)
    assert any("more than 5" in v.message for v in civitai_mock.lint())


def test_kling_submit_with_wait_is_flagged(civitai_mock: Any) -> None:
    civitai_mock.client.post(SUBMIT, params={"wait": 30}, json=body(V3))
    assert "kling-wait-zero" in rules(civitai_mock)


def test_wrong_duration_types_are_flagged_per_engine(civitai_mock: Any) -> None:
    civitai_mock.client.post(SUBMIT, params={"wait": 0}, json=body({**V3, "duration": "5"}))
    assert "kling-duration-type" in rules(civitai_mock)


def test_polling_too_fast_and_after_terminal_are_flagged(civitai_mock: Any) -> None:
    workflow = civitai_mock.client.post(SUBMIT, params={"wait": 0}, json=body({**V3, "prompt": "[mock:runtime=5] x"}))
    workflow_id = workflow.json()["id"]
    for _ in range(3):
        civitai_mock.advance(3)
        civitai_mock.client.get(f"{SUBMIT}/{workflow_id}")
    civitai_mock.advance(600)
    civitai_mock.client.get(f"{SUBMIT}/{workflow_id}")
    civitai_mock.advance(60)
    civitai_mock.client.get(f"{SUBMIT}/{workflow_id}")
    found = rules(civitai_mock)
    assert {"poll-cadence", "poll-until-terminal"} <= found


def test_repeating_an_expired_blob_url_is_flagged(civitai_mock: Any) -> None:
    workflow = civitai_mock.client.post(SUBMIT, params={"wait": 0}, json=body({**V3, "prompt": "[mock:runtime=5] x"}))
    civitai_mock.advance(900)
    done = civitai_mock.client.get(f"{SUBMIT}/{workflow.json()['id']}").json()
    url = done["steps"][0]["output"]["video"]["url"]
    civitai_mock.advance(3600)
    assert civitai_mock.client.get(url).status_code == 403
    assert civitai_mock.client.get(url).status_code == 403
    assert "refresh-expired-url" in rules(civitai_mock)


def test_ephemeral_without_a_way_to_the_result_is_flagged(civitai_mock: Any) -> None:
    civitai_mock.client.post(SUBMIT, params={"wait": 0}, json=body(V3, ephemeral=True))
    assert "ephemeral-needs-callback" in rules(civitai_mock)


def test_failing_webhook_receiver_is_flagged(civitai_mock: Any) -> None:
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    async def broken(request: Any) -> Response:
        return Response(status_code=500)

    civitai_mock.webhooks.route("https://hooks.example.com/", Starlette(routes=[Route("/h", broken, methods=["POST"])]))
    callbacks = [{"url": "https://hooks.example.com/h", "type": ["workflow:succeeded"]}]
    civitai_mock.client.post(SUBMIT, params={"wait": 0}, json=body({**V3, "prompt": "[mock:runtime=5] x"},
                                                                     callbacks=callbacks))
    civitai_mock.advance(900)
    assert "webhook-2xx-promptly" in rules(civitai_mock)


def test_assert_client_conforms_fails_with_a_readable_report(civitai_mock: Any) -> None:
    civitai_mock.client.post(SUBMIT, params={"wait": 10}, json=body(V3))
    with pytest.raises(AssertionError) as failure:
        civitai_mock.assert_client_conforms()
    text = str(failure.value)
    assert "[kling-wait-zero]" in text and "POST /v2/consumer/workflows?wait=10" in text and "documented in" in text


def test_lint_reads_plain_json_logs_from_any_language() -> None:
    log = [{"seq": 1, "at": 0.0, "wall": 0.0, "method": "POST", "path": SUBMIT, "query": {"wait": "5"},
            "status": 202, "body": body(V3), "headers": {}}]
    violations = lint(log, [])
    assert [v.rule for v in violations] == ["kling-wait-zero"]
    assert "1 contract violation" in report(violations)
    assert report([]).startswith("client conforms")
    assert_conforms([])
