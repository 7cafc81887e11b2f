"""Issue 13 — faithful to production, continued: cancel and delete, failure details, queue positions,
webhook retries, blob URLs and the smaller fields. Sources as listed in test_fidelity.py.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse, urlunparse

import pytest

from tests.fidelity_helpers import (
    JOB_SUPPORT,
    KLING_V3_STANDARD_5S,
    SUBMIT,
    TERMINAL,
    WEBAPP_KLING_V3,
    Receiver,
    anonymous,
    balances,
    get,
    parse_ts,
    set_balances,
    submit,
    until_status,
    v3,
    video_of,
    workflow,
)

# --- 4. cancel and delete as the schema says -----------------------------------------------

def test_delete_unstarted_workflow_is_204_refunded_and_gone_everywhere(civitai_mock: Any) -> None:
    set_balances(civitai_mock, 5000, 0, 0)
    wf = submit(civitai_mock, workflow(v3("[mock:runtime=600] a fox")))
    assert balances(civitai_mock)["blue"] == 5000 - KLING_V3_STANDARD_5S
    answer = civitai_mock.client.delete(f"{SUBMIT}/{wf['id']}")
    # SCHEMA DeleteWorkflow: 204 No Content; "may trigger a refund if the work … has not yet started".
    assert answer.status_code == 204 and answer.content == b""
    assert balances(civitai_mock)["blue"] == 5000
    # SCHEMA Workflow.deletedAt: "consumer reads and queries treat the workflow as gone";
    # WEBAPP workflows.ts getWorkflow `case 404` — "a deleted/not-owned workflowId".
    client = civitai_mock.client
    assert client.get(f"{SUBMIT}/{wf['id']}").status_code == 404
    assert client.get(f"{SUBMIT}/{wf['id']}/steps/$0").status_code == 404
    assert client.put(f"{SUBMIT}/{wf['id']}", json={"status": "canceled"}).status_code == 404
    assert client.delete(f"{SUBMIT}/{wf['id']}").status_code == 404
    assert wf["id"] not in {item["id"] for item in client.get(SUBMIT).json()["items"]}
    civitai_mock.advance(900)
    assert client.get(f"{SUBMIT}/{wf['id']}").status_code == 404


def test_delete_processing_workflow_is_gone_without_refund(civitai_mock: Any) -> None:
    # SCHEMA DeleteWorkflow refunds only "if the work requested with this workflow has not yet started".
    set_balances(civitai_mock, 5000, 0, 0)
    wf = submit(civitai_mock, workflow(v3("[mock:runtime=600] a fox")))
    until_status(civitai_mock, wf["id"], "processing")
    answer = civitai_mock.client.delete(f"{SUBMIT}/{wf['id']}")
    assert answer.status_code == 204
    assert civitai_mock.client.get(f"{SUBMIT}/{wf['id']}").status_code == 404
    assert balances(civitai_mock)["blue"] == 5000 - KLING_V3_STANDARD_5S


def test_delete_another_tenants_workflow_is_404(civitai_mock: Any) -> None:
    wf = submit(civitai_mock, workflow(v3()))
    other = civitai_mock.sync_client(token="someone-else")
    assert other.delete(f"{SUBMIT}/{wf['id']}").status_code == 404
    assert get(civitai_mock, wf["id"])["id"] == wf["id"]


@pytest.mark.parametrize("status", ["canceled", "Canceled"])
def test_put_status_canceled_cancels_and_refunds(civitai_mock: Any, status: str) -> None:
    # WEBAPP workflows.ts cancelWorkflow: `clientUpdateWorkflow({ …, body: { status: 'canceled' } })`;
    # SCHEMA UpdateWorkflowStatus enum ["canceled"] (read case-insensitively, issue 13 §1).
    set_balances(civitai_mock, 5000, 0, 0)
    wf = submit(civitai_mock, workflow(v3("[mock:runtime=600] a fox")))
    answer = civitai_mock.client.put(f"{SUBMIT}/{wf['id']}", json={"status": status})
    assert answer.status_code in (200, 204), answer.text  # SCHEMA 200 Workflow; CLIENT 204
    after = get(civitai_mock, wf["id"])  # a canceled workflow stays readable
    assert after["status"] == "canceled" and after["steps"][0]["status"] == "canceled"
    assert balances(civitai_mock)["blue"] == 5000


def test_patch_json_patch_status_canceled_cancels(civitai_mock: Any) -> None:
    # SCHEMA PatchWorkflow: application/json-patch+json, "can currently be used to cancel", 204;
    # CLIENT patchWorkflow sets 'Content-Type': 'application/json-patch+json'.
    wf = submit(civitai_mock, workflow(v3("[mock:runtime=600] a fox")))
    answer = civitai_mock.client.patch(f"{SUBMIT}/{wf['id']}", headers={"Content-Type": "application/json-patch+json"},
                                       content=json.dumps([{"op": "replace", "path": "/status", "value": "canceled"}]))
    assert answer.status_code == 204, answer.text
    assert get(civitai_mock, wf["id"])["status"] == "canceled"


# --- 5. failure details where clients read them --------------------------------------------

@pytest.mark.parametrize("directive, reason, blocked", [
    ("[mock:fail=no_provider_available]", "no_provider_available", None),
    ("[mock:block=nudity]", "blocked", "nudity"),
])
def test_failed_step_carries_output_errors_and_job_reason(civitai_mock: Any, directive: str, reason: str,
                                                          blocked: str | None) -> None:
    wf = submit(civitai_mock, workflow(v3(f"{directive} a fox")))
    civitai_mock.advance(3600)
    done = get(civitai_mock, wf["id"])
    step = done["steps"][0]
    assert done["status"] == "failed" and step["status"] == "failed"
    # SAMPLE: failed step `output.errors: ["Could not generate images with the given prompts … different inputs."]`;
    # WEBAPP provider-errors.ts extractStepErrors reads `step.output.errors` and failed `jobs[].reason`,
    # and shows a message only if it "looks like plain prose".
    errors = (step.get("output") or {}).get("errors")
    assert isinstance(errors, list) and errors, step.get("output")
    assert all(isinstance(e, str) and " " in e.strip() and not re.search(r"https?://|[{}\[\]<>]", e) for e in errors)
    # GUIDE errors-and-retries.md: reason codes clients switch on.
    failed_jobs = [job for job in step["jobs"] if job["status"] == "failed"]
    assert failed_jobs and failed_jobs[-1]["reason"] == reason
    assert failed_jobs[-1].get("blockedReason") == blocked


def test_outcome_queued_over_http_also_yields_output_errors(civitai_mock: Any) -> None:
    answer = civitai_mock.client.post("/_mock/outcomes", json={"token": civitai_mock.token,
                                                               "outcomes": [{"kind": "fail", "reason": "no_provider_available"}]})
    assert answer.status_code in (200, 201, 204), answer.text
    wf = submit(civitai_mock, workflow(v3()))
    civitai_mock.advance(3600)
    step = get(civitai_mock, wf["id"])["steps"][0]
    assert step["status"] == "failed" and (step.get("output") or {}).get("errors")


# --- 6. queue position on jobs too ---------------------------------------------------------

def test_queued_jobs_carry_queue_position_and_the_step_keeps_its_own(civitai_mock: Any) -> None:
    wf = submit(civitai_mock, workflow(v3("[mock:runtime=600] a fox")))
    step = get(civitai_mock, wf["id"])["steps"][0]
    assert step["status"] not in TERMINAL | {"processing"}
    # SCHEMA WorkflowStep.queuePosition (required `support`).
    assert step["queuePosition"]["support"] in JOB_SUPPORT
    # CLIENT WorkflowStepJob.queuePosition: WorkflowStepJobQueuePosition {support, precedingJobs?, startAt?,
    # completeAt?}; WEBAPP orchestration-new.service.ts:2572 `queuePosition: step.jobs?.[0]?.queuePosition`,
    # QueueItem.tsx reads `.support`, `.precedingJobs`, `.startAt`.
    position = step["jobs"][0]["queuePosition"]
    assert position["support"] in JOB_SUPPORT
    assert position.get("precedingJobs") is None or isinstance(position["precedingJobs"], int)
    assert parse_ts(position["startAt"]) <= parse_ts(position["completeAt"])


def test_whatif_jobs_report_support_the_way_the_webapp_checks_readiness(civitai_mock: Any) -> None:
    # WEBAPP whatIfFromGraph: `for (const job of workflowStep.jobs ?? []) { … if (support !== 'available') ready = false }`.
    answer = civitai_mock.client.post(SUBMIT, params={"whatif": "true"}, json=workflow(v3()))
    assert answer.status_code == 200, answer.text
    jobs = answer.json()["steps"][0]["jobs"]
    assert jobs and all(job["queuePosition"]["support"] == "available" for job in jobs)


# --- 7. webhooks: retries only where a real sender retries ---------------------------------

def _hooked_submit(mock: Any, status: int, url: str = "https://hooks.test/cb?token=abc") -> tuple[str, Receiver]:
    receiver = Receiver(status)
    mock.webhooks.route("https://hooks.test/", receiver.app)
    wf = submit(mock, workflow(v3(), callbacks=[{"url": url, "type": ["workflow:succeeded"]}]))
    mock.advance(3600)
    return wf["id"], receiver


@pytest.mark.parametrize("status, retried", [
    # WEBAPP resource-training-v2/[modelVersionId].ts: the orchestrator's HttpClient "uses Polly's
    # StandardResilienceHandler — retries on 5xx/408/429/network but NOT on a 2xx"; receivers answer 400 on
    # purpose (text-moderation-result.ts, "Status type not supported"). Polly/.NET HttpClientResiliencePredicates
    # .IsTransientHttpFailure: status >= 500, 408, 429.
    (400, False), (401, False), (404, False), (408, True), (429, True), (503, True),
])
def test_webhook_retries_only_transient_answers(civitai_mock: Any, status: int, retried: bool) -> None:
    workflow_id, receiver = _hooked_submit(civitai_mock, status)
    attempts = [e for e in civitai_mock.webhooks.inbox()
                if e["workflowId"] == workflow_id and e["eventType"] == "workflow:succeeded"]
    assert len(receiver.requests) == len(attempts)
    if retried:
        assert len(attempts) > 1, attempts
    else:
        assert len(attempts) == 1, [(a["attempt"], a["statusCode"]) for a in attempts]


def test_webhook_deliveries_carry_no_invented_headers_and_keep_the_query_token(civitai_mock: Any) -> None:
    _, receiver = _hooked_submit(civitai_mock, 200)
    assert receiver.requests
    for request in receiver.requests:
        # GUIDE results-and-webhooks.md documents no delivery headers; WEBAPP reads none (endpoint-helpers.ts
        # authenticates with `req.query.token` only) — so no X-Civitai-Event.
        assert "x-civitai-event" not in request["headers"]
        assert request["headers"]["content-type"].startswith("application/json")
        # WEBAPP TokenSecuredEndpoint: `if (req.query.token !== token) res.status(401)`.
        assert parse_qs(urlparse(request["url"]).query) == {"token": ["abc"]}
        assert json.loads(request["body"])["status"] == "succeeded"


# --- 8. blob URLs shaped like the real ones ------------------------------------------------

def _finished_video(mock: Any) -> dict[str, Any]:
    wf = submit(mock, workflow(v3()))
    mock.advance(600)
    video = video_of(get(mock, wf["id"]))
    assert video and video["available"] and video["url"]
    return video


def test_signed_blob_urls_live_under_consumer_blobs_with_sig(civitai_mock: Any) -> None:
    video = _finished_video(civitai_mock)
    url = urlparse(video["url"])
    # SAMPLE: ".../v2/consumer/blobs/redacted-0.jpg?sig=REDACTED" with id "redacted-0.jpg";
    # WEBAPP workflows.ts CONSUMER_BLOB_RE = /\/v\d+\/consumer\/blobs\/(?<blobId>[a-zA-Z0-9_.-]+)/.
    assert url.path == f"/v2/consumer/blobs/{video['id']}" and video["id"].endswith(".mp4")
    assert re.fullmatch(r"[A-Za-z0-9_.-]+", video["id"])
    assert parse_qs(url.query).get("sig"), url.query
    assert parse_ts(video["urlExpiresAt"]) > datetime(2000, 1, 1, tzinfo=timezone.utc)
    fetched = anonymous(civitai_mock).get(video["url"])
    assert fetched.status_code == 200 and fetched.headers["content-type"].startswith("video/mp4")


def test_signed_blob_url_carries_an_iso_exp_matching_url_expires_at(civitai_mock: Any) -> None:
    # WEBAPP workflows.ts shouldRefreshBlobUrl: `if (!sig || !exp) return true` (refresh), `new Date(exp)`;
    # its fixtures: "…/v2/consumer/blobs/ABC123.jpeg?sig=x&exp=2030-01-01T00:00:00Z".
    video = _finished_video(civitai_mock)
    exp = parse_qs(urlparse(video["url"]).query).get("exp")
    assert exp, video["url"]
    assert abs((parse_ts(exp[0]) - parse_ts(video["urlExpiresAt"])).total_seconds()) < 1


def test_refresh_blob_returns_a_consumer_blob_url(civitai_mock: Any) -> None:
    # SCHEMA RefreshBlob: POST /v2/consumer/blobs/{blobId}/refresh → 200 Blob; WEBAPP refreshBlobUrlsInBody uses data.url.
    video = _finished_video(civitai_mock)
    answer = civitai_mock.client.post(f"/v2/consumer/blobs/{video['id']}/refresh")
    assert answer.status_code == 200, answer.text
    fresh = urlparse(answer.json()["url"])
    assert fresh.path == f"/v2/consumer/blobs/{video['id']}" and parse_qs(fresh.query).get("sig")


def _tampered(url: str) -> str:
    parts = urlparse(url)
    query = parse_qs(parts.query)
    sig = query["sig"][0]
    query["sig"] = [sig[:-1] + ("0" if sig[-1] != "0" else "1")]
    return urlunparse(parts._replace(query=urlencode(query, doseq=True)))


def test_tampered_or_expired_signed_blob_urls_answer_403(civitai_mock: Any) -> None:
    # GUIDE errors-and-retries.md: "Blob URLs 403 after a few minutes. The signed URL expired";
    # SCHEMA GetBlob 403 ProblemDetails.
    video = _finished_video(civitai_mock)
    anon = anonymous(civitai_mock)
    assert "/v2/consumer/blobs/" in video["url"]
    assert anon.get(_tampered(video["url"])).status_code == 403
    civitai_mock.advance((parse_ts(video["urlExpiresAt"]) - parse_ts(get_clock(civitai_mock))).total_seconds() + 5)
    assert anon.get(video["url"]).status_code == 403


def get_clock(mock: Any) -> str:
    return mock.client.get("/_mock/clock").json()["now"]


def test_same_blob_path_without_sig_and_with_bearer_is_getblob_308(civitai_mock: Any) -> None:
    # SCHEMA GetBlob: GET /v2/consumer/blobs/{blobId} → 308 Permanent Redirect; WEBAPP blob.ts fetches
    # `${baseUrl}/v2/consumer/blobs/${blobId}` with `Authorization: Bearer`.
    video = _finished_video(civitai_mock)
    bare = urlparse(video["url"])._replace(query="").geturl()
    answer = civitai_mock.client.get(bare, follow_redirects=False)
    assert answer.status_code == 308, answer.text
    location = urlparse(answer.headers["location"])
    assert location.path.startswith("/v2/consumer/blobs/") and parse_qs(location.query).get("sig")
    assert anonymous(civitai_mock).get(bare).status_code == 401  # SCHEMA GetBlob 401 without a token


# --- 9. the smaller ones -------------------------------------------------------------------

def test_tips_are_included_in_cost_total_and_charged(civitai_mock: Any) -> None:
    # SCHEMA WorkflowCost.total "The total cost of this request, including tips"; WorkflowTips are rates 0..2;
    # WorkflowCostTips are Buzz. WEBAPP generateFromGraph sends `tips: { civitai, creators }`.
    set_balances(civitai_mock, 100_000, 0, 0)
    wf = submit(civitai_mock, workflow(v3(), tips={"civitai": 0.1, "creators": 0.1}))
    cost = wf["cost"]
    tipped = cost["tips"]["civitai"] + cost["tips"]["creators"]
    assert tipped > 0 and cost["total"] == cost["base"] + tipped
    debits = sum(t["amount"] for t in wf["transactions"]["list"] if t["type"] == "debit")
    assert debits == cost["total"] and balances(civitai_mock)["blue"] == 100_000 - cost["total"]


def test_cost_has_fixed_and_quantity_factor(civitai_mock: Any) -> None:
    # SAMPLE cost: {"base": 0, "factors": {"base": 60, "quantity": 1}, …}; SCHEMA/CLIENT WorkflowCost.fixed
    # (map string → int, nullable).
    for body in (workflow(v3()), workflow(dict(WEBAPP_KLING_V3))):
        cost = submit(civitai_mock, body)["cost"]
        assert cost["factors"]["quantity"] == 1
        assert "fixed" in cost and (cost["fixed"] is None or all(isinstance(v, int) for v in cost["fixed"].values()))


def test_timestamps_with_seven_fractional_digits_are_read(civitai_mock: Any) -> None:
    # SAMPLE timestamps carry up to 7 fractional digits (.NET "o" format, e.g. 2027-08-11T00:15:34.1849856Z).
    wf = submit(civitai_mock, workflow(v3()))
    created = parse_ts(wf["createdAt"])
    before = (created - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S") + ".1234567Z"
    after = (created + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S") + ".1234567Z"
    listed = civitai_mock.client.get(SUBMIT, params={"fromDate": before})
    assert listed.status_code == 200, listed.text
    assert wf["id"] in {item["id"] for item in listed.json()["items"]}
    later = civitai_mock.client.get(SUBMIT, params={"fromDate": after})
    assert later.status_code == 200 and wf["id"] not in {item["id"] for item in later.json()["items"]}


def test_response_timestamps_parse_as_iso_with_at_most_seven_digits(civitai_mock: Any) -> None:
    wf = submit(civitai_mock, workflow(v3()))
    civitai_mock.advance(600)
    done = get(civitai_mock, wf["id"])
    for value in (done["createdAt"], done["startedAt"], done["completedAt"], video_of(done)["urlExpiresAt"]):
        parse_ts(value)


def test_external_id_is_an_idempotency_key_per_tenant(civitai_mock: Any) -> None:
    # SCHEMA WorkflowTemplate.externalId: "If a workflow with the same (userId, externalId) already exists … the
    # existing workflow is returned instead of creating a new one"; Workflow.externalId "Stored as
    # {userId}-{clientValue}". WEBAPP workflows.ts: "the orchestrator dedupes on (userId, externalId)".
    set_balances(civitai_mock, 100_000, 0, 0)
    body = workflow(v3(), externalId="gen-42_a")
    first = submit(civitai_mock, body)
    again = civitai_mock.client.post(SUBMIT, params={"wait": 0}, json=body)
    assert again.status_code in (200, 202) and again.json()["id"] == first["id"]
    assert balances(civitai_mock)["blue"] == 100_000 - KLING_V3_STANDARD_5S
    assert first["externalId"].endswith("gen-42_a")
    other = civitai_mock.sync_client(token="another-tenant").post(SUBMIT, params={"wait": 0}, json=body)
    assert other.status_code == 202 and other.json()["id"] != first["id"]


@pytest.mark.parametrize("value", ["has space", "x" * 129, "", "semi;colon"])
def test_external_id_outside_the_schema_pattern_is_400(civitai_mock: Any, value: str) -> None:
    # SCHEMA externalId: minLength 1, maxLength 128, pattern ^[A-Za-z0-9_-]+$.
    answer = civitai_mock.client.post(SUBMIT, params={"wait": 0}, json=workflow(v3(), externalId=value))
    assert answer.status_code == 400, answer.text
    assert "externalId" in answer.json()["errors"]
