"""Issue 13 — faithful to production: what real clients send is accepted, what they read is answered.

Every test drives the fake over HTTP only (the ``civitai_mock`` fixture's in-process client, the
``/_mock`` control API, prompt directives) and names its source next to the assertion it makes.
Sources, with details and quotes in ``notes/fidelity.md``:

- SCHEMA  ../shared/reference/openapi/v2-consumers-subset.json (official OpenAPI 3.1 subset)
- GUIDE   ../shared/reference/guide/*.md;  RECIPE ../shared/reference/kling-recipe.md
- SAMPLE  ../shared/reference/samples/failed-workflow-redacted.json (a real response)
- WEBAPP  github.com/civitai/civitai (snapshot ebed661630d3): kling.handler.ts, workflows.ts,
          orchestration-new.service.ts, orchestrator.service.ts, endpoint-helpers.ts, …
- CLIENT  npm @civitai/client 0.2.0-beta.86 (dist/generated/types.gen.d.ts, dist/client/CivitaiClient.js)

No product module is imported (they are being renamed).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.fidelity_helpers import (
    KLING_V3_STANDARD_5S,
    SUBMIT,
    WEBAPP_KLING_LEGACY,
    WEBAPP_KLING_V3,
    Receiver,
    assert_balances,
    balances,
    get,
    set_balances,
    submit,
    v3,
    video_of,
    webapp_workflow,
    workflow,
)

# --- 1. accept what production accepts -----------------------------------------------------

@pytest.mark.parametrize("step_input", [WEBAPP_KLING_LEGACY, WEBAPP_KLING_V3], ids=["kling", "kling-v3"])
def test_webapp_kling_body_with_seed_quantity_prompt_enhancer_is_accepted(civitai_mock: Any,
                                                                          step_input: dict[str, Any]) -> None:
    # WEBAPP kling.handler.ts sends quantity/seed (+ enablePromptEnhancer on legacy) on every Kling step;
    # the .NET service ignores unknown JSON members (issue 13 §1; SCHEMA README quirk #1).
    civitai_mock.webhooks.route("https://signals.test/", Receiver(200).app)
    wf = submit(civitai_mock, webapp_workflow(dict(step_input)))
    echoed = wf["steps"][0]["input"]
    assert echoed["engine"] == step_input["engine"]
    assert echoed["mode"] == step_input["mode"] and echoed["duration"] == step_input["duration"]
    # CLIENT/SCHEMA: upgradeMode and currencies come back as submitted (canonical lowercase).
    assert wf["upgradeMode"] == "manual" and wf["currencies"] == ["blue", "green"]


def test_unknown_properties_at_every_level_are_ignored_not_400(civitai_mock: Any) -> None:
    # Historic web-app inputs also carried `process`, `workflow`, `baseModel` (WEBAPP
    # src/server/orchestrator/kling/kling.schema.ts before 590bb1ba26: `return { ...data, baseModel: 'Kling' }`).
    # SCHEMA WorkflowTemplate documents `downloadPriority`; step templates pass `outputFormat`
    # into every step input (WEBAPP orchestration-new.service.ts wrappedSteps).
    body = workflow(v3(process="txt2vid", baseModel="Kling", outputFormat="mp4", enablePromptEnhancer=True),
                    step={"someFutureStepField": 1}, downloadPriority="low", someFutureField={"x": 1})
    submit(civitai_mock, body)


@pytest.mark.parametrize("where, field, sent, canonical", [
    ("step", "priority", "High", "high"),                # SCHEMA Priority enum is lowercase
    ("top", "upgradeMode", "Manual", "manual"),          # SCHEMA WorkflowUpgradeMode
    ("top", "currencies", ["Blue", "GREEN"], ["blue", "green"]),  # SCHEMA BuzzClientAccount
    ("input", "model", "V2", "v2"),                      # SCHEMA KlingModel
    ("input", "mode", "Professional", "professional"),   # RECIPE writes "Professional"; SCHEMA README quirk #3
])
def test_enums_are_read_case_insensitively_and_echoed_canonical(civitai_mock: Any, where: str, field: str,
                                                                sent: Any, canonical: Any) -> None:
    step_input = ({"engine": "kling", "model": "v2", "prompt": "a fox", "duration": "5"}
                  if field == "model" else v3())
    body = workflow(step_input)
    target = {"top": body, "step": body["steps"][0], "input": step_input}[where]
    target[field] = sent
    wf = submit(civitai_mock, body)
    echoed = {"top": wf, "step": wf["steps"][0], "input": wf["steps"][0]["input"]}[where]
    assert echoed[field] == canonical


def test_template_nsfw_level_in_any_case_is_accepted(civitai_mock: Any) -> None:
    # SCHEMA NSFWLevel enum `pg|pg13|…`; WEBAPP private generation sends `nsfwLevel: 'pg13'`.
    wf = submit(civitai_mock, workflow(v3(), nsfwLevel="PG13"))
    assert wf.get("nsfwLevel") is None or wf["nsfwLevel"] == wf["nsfwLevel"].lower()


@pytest.mark.parametrize("step_input, path, words", [
    # RECIPE Troubleshooting: "400 with 'duration must be one of' (kling)", "'model is required'",
    # "'sourceImage is required'", "'videoUrl is required'" — still reported when web-app extras are present.
    ({"engine": "kling", "model": "v2", "prompt": "x", "duration": 5}, "steps[0].input.duration",
     "duration must be one of"),
    ({"engine": "kling", "prompt": "x", "duration": "5"}, "steps[0].input.model", "model is required"),
    ({"engine": "kling-v3", "operation": "image-to-video", "prompt": "x"}, "steps[0].input.sourceImage",
     "sourceImage is required"),
    ({"engine": "kling-v3", "operation": "video-to-video-edit", "prompt": "x"}, "steps[0].input.videoUrl",
     "videoUrl is required"),
    ({"engine": "kling-v3", "prompt": "x", "duration": 16}, "steps[0].input.duration", "duration"),
    ({"engine": "kling-v3", "prompt": "x", "mode": "Ultra"}, "steps[0].input.mode", "mode must be one of"),
])
def test_documented_400s_keep_their_paths_and_words(civitai_mock: Any, step_input: dict[str, Any], path: str,
                                                    words: str) -> None:
    body = workflow({**step_input, "seed": 7, "quantity": 1, "enablePromptEnhancer": True})
    answer = civitai_mock.client.post(SUBMIT, params={"wait": 0}, json=body)
    assert answer.status_code == 400, answer.text
    # GUIDE errors-and-retries.md: RFC 7807 application/problem+json with an `errors` map.
    assert answer.headers["content-type"].startswith("application/problem+json")
    errors = answer.json()["errors"]
    assert path in errors and any(words in message for message in errors[path]), errors
    assert set(errors) == {path}, f"only the documented error, no unknown-property errors: {errors}"


# --- 2. insufficient Buzz is a 403 ---------------------------------------------------------

def test_insufficient_buzz_is_403_with_the_schema_body_and_content_type(civitai_mock: Any) -> None:
    set_balances(civitai_mock, 0, 0, 0)
    answer = civitai_mock.client.post(SUBMIT, params={"wait": 0}, json=workflow(v3()))
    # SCHEMA SubmitWorkflow responses."403": content application/json, schema {"type": "string"};
    # CLIENT SubmitWorkflowErrors { 403: string }; WEBAPP workflows.ts `case 403: throw throwInsufficientFundsError(message)`.
    assert answer.status_code == 403, answer.text
    assert answer.headers["content-type"].split(";")[0].strip() == "application/json"
    assert isinstance(answer.json(), str) and answer.json().strip()
    assert balances(civitai_mock)["blue"] == 0
    assert civitai_mock.client.get(SUBMIT).json()["items"] == []  # nothing was created


def test_restricted_currencies_that_cannot_pay_answer_403(civitai_mock: Any) -> None:
    # GUIDE submitting-work.md: "If none of them cover the cost, the submission is rejected with a payment error."
    set_balances(civitai_mock, 100_000, 0, 100_000)
    answer = civitai_mock.client.post(SUBMIT, params={"wait": 0}, json=workflow(v3(), currencies=["green"]))
    assert answer.status_code == 403, answer.text
    assert_balances(civitai_mock, blue=100_000, green=0, yellow=100_000)


def test_whatif_still_previews_insufficient_buzz_with_200(civitai_mock: Any) -> None:
    # SCHEMA TransactionSummary.insufficientBuzz: "returned with whatif requests".
    set_balances(civitai_mock, 0, 0, 0)
    answer = civitai_mock.client.post(SUBMIT, params={"whatif": "true"}, json=workflow(v3()))
    assert answer.status_code == 200, answer.text
    assert answer.json()["transactions"]["insufficientBuzz"] is True


# --- 3. mature content and upgradeMode -----------------------------------------------------

MATURE = "[mock:runtime=30] [mock:nsfw=x] a fox"


@pytest.mark.parametrize("allow", [None, False], ids=["unset", "false"])
def test_manual_upgrade_withholds_mature_output_until_put_allow_mature_content(civitai_mock: Any,
                                                                              allow: bool | None) -> None:
    set_balances(civitai_mock, 5000, 0, 5000)
    top = {"upgradeMode": "manual"} | ({} if allow is None else {"allowMatureContent": allow})
    wf = submit(civitai_mock, workflow(v3(MATURE), **top))
    civitai_mock.advance(600)
    done = get(civitai_mock, wf["id"])
    video = video_of(done)
    # GUIDE submitting-work.md upgradeMode "manual": "the mature output is withheld and the workflow waits on you";
    # SCHEMA Blob.available / url nullable; SCHEMA WorkflowTemplate.allowMatureContent "will not return any content
    # that is marked as mature".
    assert video is not None and video["available"] is False and not video.get("url"), video
    assert_balances(civitai_mock, blue=5000 - KLING_V3_STANDARD_5S, yellow=5000)
    # WEBAPP QueueItem.tsx CanUpgradeBlock / comics.router.ts unlock: PUT {"allowMatureContent": true}.
    # SCHEMA UpdateWorkflow → 200 Workflow; CLIENT UpdateWorkflowResponses → 204: either is fine.
    answer = civitai_mock.client.put(f"{SUBMIT}/{wf['id']}", json={"allowMatureContent": True})
    assert answer.status_code in (200, 204), answer.text
    # GUIDE: "The orchestrator refunds the blue/green Buzz and charges yellow."
    assert_balances(civitai_mock, blue=5000, yellow=5000 - KLING_V3_STANDARD_5S)
    after = get(civitai_mock, wf["id"])
    video = video_of(after)
    assert video["available"] is True and video["url"]
    moves = [(t["type"], t["accountType"], t["amount"]) for t in after["transactions"]["list"]]
    assert ("credit", "blue", KLING_V3_STANDARD_5S) in moves and ("debit", "yellow", KLING_V3_STANDARD_5S) in moves


def test_manual_upgrade_with_too_little_yellow_is_400_and_moves_nothing(civitai_mock: Any) -> None:
    set_balances(civitai_mock, 5000, 0, 100)
    wf = submit(civitai_mock, workflow(v3(MATURE), upgradeMode="manual"))
    civitai_mock.advance(600)
    before = balances(civitai_mock)
    answer = civitai_mock.client.put(f"{SUBMIT}/{wf['id']}", json={"allowMatureContent": True})
    # GUIDE: "If your yellow balance is insufficient, the update returns 400."
    assert answer.status_code == 400, answer.text
    assert balances(civitai_mock) == before
    video = video_of(get(civitai_mock, wf["id"]))
    assert video["available"] is False and not video.get("url")


def test_automatic_upgrade_swaps_blue_for_yellow_by_itself(civitai_mock: Any) -> None:
    set_balances(civitai_mock, 5000, 0, 5000)
    wf = submit(civitai_mock, workflow(v3(MATURE), upgradeMode="automatic"))
    civitai_mock.advance(600)
    done = get(civitai_mock, wf["id"])
    # GUIDE upgradeMode "automatic": "the orchestrator does that swap for you inline, charging … yellow Buzz and
    # delivering the mature output".
    assert done["status"] == "succeeded"
    video = video_of(done)
    assert video["available"] is True and video["url"]
    assert_balances(civitai_mock, blue=5000, yellow=5000 - KLING_V3_STANDARD_5S)


def test_automatic_upgrade_without_enough_yellow_fails_the_workflow_and_refunds(civitai_mock: Any) -> None:
    set_balances(civitai_mock, 5000, 0, 100)
    wf = submit(civitai_mock, workflow(v3(MATURE), upgradeMode="automatic"))
    civitai_mock.advance(600)
    done = get(civitai_mock, wf["id"])
    # GUIDE: "(or failing the workflow if yellow is insufficient)"; SAMPLE: a failure is refunded with a credit.
    assert done["status"] == "failed"
    assert not (video_of(done) or {}).get("url")
    assert_balances(civitai_mock, blue=5000, yellow=100)


def test_mature_output_paid_in_yellow_with_allow_unset_is_delivered(civitai_mock: Any) -> None:
    # GUIDE: unset allowMatureContent — "if it settled with yellow, mature content is allowed".
    set_balances(civitai_mock, 0, 0, 5000)
    wf = submit(civitai_mock, workflow(v3(MATURE)))
    civitai_mock.advance(600)
    video = video_of(get(civitai_mock, wf["id"]))
    assert video["available"] is True and video["url"]


def test_allow_mature_content_true_pays_yellow_and_delivers(civitai_mock: Any) -> None:
    # GUIDE: "Setting allowMatureContent: true forces payment in yellow Buzz".
    set_balances(civitai_mock, 5000, 5000, 5000)
    wf = submit(civitai_mock, workflow(v3(MATURE), allowMatureContent=True))
    assert {t["accountType"] for t in wf["transactions"]["list"]} == {"yellow"}
    civitai_mock.advance(600)
    video = video_of(get(civitai_mock, wf["id"]))
    assert video["available"] is True and video["url"]


def test_unset_allow_mature_content_is_left_unset_in_the_response(civitai_mock: Any) -> None:
    # SCHEMA Workflow.allowMatureContent is `null | boolean` and not required; issue 13 §3.
    wf = submit(civitai_mock, workflow(v3()))
    assert wf.get("allowMatureContent") is None
    civitai_mock.advance(600)
    assert get(civitai_mock, wf["id"]).get("allowMatureContent") is None


def test_template_nsfw_level_is_honoured(civitai_mock: Any) -> None:
    # SCHEMA WorkflowTemplate.nsfwLevel; WEBAPP private generation submits `nsfwLevel: 'pg13'` as a ceiling
    # ("Private generation restrictions", orchestration-new.service.ts:1597) and maps blob blockedReason
    # 'NSFWLevel' to "cannot generate mature content" (poll-iteration.ts). Yellow pays, mature allowed — yet the
    # x-rated output above the pg13 ceiling must not be handed out.
    set_balances(civitai_mock, 0, 0, 5000)
    wf = submit(civitai_mock, workflow(v3(MATURE), nsfwLevel="pg13", allowMatureContent=True))
    civitai_mock.advance(600)
    video = video_of(get(civitai_mock, wf["id"]))
    assert not (video and video.get("url")), video
