"""The lifecycle engine (no HTTP): clock-driven status, determinism, outcomes, refunds, money, tenants."""

from __future__ import annotations

import statistics
import time
from datetime import datetime

import pytest

from civitai_mock.contracts.outcomes import Outcome
from civitai_mock.contracts.workflow import TERMINAL_STATUSES
from civitai_mock.mock_server.clock import SystemClock, VirtualClock
from civitai_mock.mock_server.engine.accounts import InsufficientBuzz
from civitai_mock.mock_server.engine.service import Engine, EngineConfig, NotFound

ORDER = ["unassigned", "preparing", "scheduled", "processing", "succeeded"]


def body(prompt: str = "a fox", **input_fields: object) -> dict:
    return {"steps": [{"$type": "videoGen", "input": {"engine": "kling-v3", "prompt": prompt, **input_fields}}]}


def engine(seed: int = 0) -> tuple[Engine, VirtualClock]:
    clock = VirtualClock()
    return Engine(clock, config=EngineConfig(seed=seed)), clock


def sample(e: Engine, clock: VirtualClock, workflow_id: str, step: float = 5, until: float = 3600) -> list[dict]:
    seen = []
    for _ in range(int(until / step)):
        view = e.view("t", workflow_id)
        seen.append({"workflow": view["status"], "step": view["steps"][0]["status"],
                     "job": view["steps"][0]["jobs"][0]["status"],
                     "progress": view["steps"][0]["jobs"][0].get("estimatedProgressRate")})
        clock.advance(step)
    return seen


def test_lifecycle_is_monotone_for_workflow_step_and_job() -> None:
    e, clock = engine()
    workflow_id = e.submit("t", body())
    seen = sample(e, clock, workflow_id)
    for level in ("workflow", "step", "job"):
        ranks = [ORDER.index(s[level]) for s in seen]
        assert ranks == sorted(ranks) and set(ranks) == set(range(5)), level
    progress = [s["progress"] for s in seen if s["job"] == "processing"]
    assert progress == sorted(progress) and progress[0] < 0.2 and progress[-1] > 0.8


def test_a_five_minute_job_completes_under_virtual_time_in_milliseconds() -> None:
    e, clock = engine()
    workflow_id = e.submit("t", body("[mock:runtime=300] a fox"))
    started = time.perf_counter()
    clock.advance(400)
    assert time.perf_counter() - started < 10, "advancing the virtual clock waited in real time"  # bench: ~0.1 ms
    view = e.view("t", workflow_id)
    assert view["status"] == "succeeded"
    assert view["steps"][0]["output"]["video"]["duration"] == 5.0


def test_same_seed_same_ids_and_timings_different_seed_different() -> None:
    def run(seed: int) -> list:
        e, clock = engine(seed)
        ids = [e.submit("t", body(f"p{i}", duration=3 + i)) for i in range(5)]
        clock.advance(3600)
        views = [e.view("t", i) for i in ids]
        return [(v["id"], v["steps"][0]["jobs"][0]["id"], v["steps"][0]["output"]["video"]["id"], v["completedAt"])
                for v in views]

    assert run(1) == run(1)
    assert run(1) != run(2)


def test_terminal_states_never_change() -> None:
    e, clock = engine()
    ids = [e.submit("t", body(p)) for p in ("ok", "[mock:fail=no_provider_available]", "[mock:expire]",
                                             "[mock:block=gore]")]
    clock.advance(7200)
    first = [e.view("t", i) for i in ids]
    clock.advance(86400 * 30)
    e.cancel("t", ids[0])
    assert [e.view("t", i)["status"] for i in ids] == [v["status"] for v in first]
    assert [v["status"] for v in first] == ["succeeded", "failed", "expired", "failed"]


def test_timings_follow_the_docs() -> None:
    def total(**fields: object) -> list[float]:
        spans = []
        for seed in range(40):
            e, clock = engine(seed)
            workflow_id = e.submit("t", body(**fields))
            clock.advance(3 * 3600)
            view = e.view("t", workflow_id)
            spans.append((datetime.fromisoformat(view["completedAt"]) - datetime.fromisoformat(view["createdAt"]))
                         .total_seconds())
        return spans

    standard = total()
    assert all(110 <= s <= 310 for s in standard), (min(standard), max(standard))
    for slower in ({"mode": "Professional"}, {"duration": 10}, {"generateAudio": True}):
        assert statistics.mean(total(**slower)) > statistics.mean(standard) * 1.15, slower


def test_steps_are_named_by_position_and_zero_finds_dollar_zero() -> None:
    e, _ = engine()
    workflow_id = e.submit("t", {"steps": [body()["steps"][0], {**body()["steps"][0], "name": "clip"}]})
    assert [s["name"] for s in e.view("t", workflow_id)["steps"]] == ["$0", "clip"]
    assert [e.step_view("t", workflow_id, name)["name"] for name in ("0", "$0", "clip")] == ["$0", "$0", "clip"]


def test_failure_is_refunded_with_a_credit_transaction() -> None:
    e, clock = engine()
    before = dict(e.accounts.balances("t"))
    workflow_id = e.submit("t", body("[mock:fail=no_provider_available]"))
    assert e.accounts.balances("t")["blue"] == before["blue"] - 1095
    clock.advance(3600)
    view = e.view("t", workflow_id)
    job = view["steps"][0]["jobs"][0]
    assert view["status"] == "failed" and job["reason"] == "no_provider_available"
    debit, credit = view["transactions"]["list"]
    assert (debit["type"], credit["type"], debit["amount"], credit["amount"]) == ("debit", "credit", 1095, 1095)
    assert view["cost"]["base"] == view["cost"]["total"] == 0 and view["cost"]["factors"]["base"] == 1095
    assert e.accounts.balances("t") == before


@pytest.mark.parametrize("prompt,status,reason,blocked", [
    ("[mock:block=nudity]", "failed", "blocked", "nudity"),
    ("[mock:expire]", "expired", "timeout", None),
    ("[mock:cancel]", "canceled", "canceled", None),
])
def test_prompt_directives(prompt: str, status: str, reason: str, blocked: str | None) -> None:
    e, clock = engine()
    workflow_id = e.submit("t", body(prompt))
    clock.advance(7200)
    job = e.view("t", workflow_id)["steps"][0]["jobs"][0]
    assert (job["status"], job.get("reason"), job.get("blockedReason")) == (status, reason, blocked)


def test_a_short_timeout_expires_a_long_job() -> None:
    e, clock = engine()
    workflow_id = e.submit("t", {"steps": [{**body("[mock:runtime=120] x")["steps"][0], "timeout": "00:01:00"}]})
    clock.advance(600)
    view = e.view("t", workflow_id)
    assert view["status"] == "expired" and view["steps"][0]["timeout"] == "00:01:00"


def test_queued_outcomes_apply_to_the_next_submission_only() -> None:
    e, clock = engine()
    e.outcomes.push("t", [Outcome(kind="fail", reason="no_provider_available")])
    first, second, other = e.submit("t", body()), e.submit("t", body()), e.submit("u", body())
    clock.advance(3600)
    statuses = [e.view(t, i)["status"] for t, i in (("t", first), ("t", second), ("u", other))]
    assert statuses == ["failed", "succeeded", "succeeded"]


def test_cancel_refunds_and_stays_canceled() -> None:
    e, clock = engine()
    workflow_id = e.submit("t", body())
    clock.advance(60)
    e.cancel("t", workflow_id)
    clock.advance(3600)
    view = e.view("t", workflow_id)
    assert view["status"] == "canceled" and [t["type"] for t in view["transactions"]["list"]] == ["debit", "credit"]
    assert e.accounts.balances("t")["blue"] == e.accounts.defaults["blue"]


def test_charging_order_splits_blue_then_green_then_yellow() -> None:
    e, _ = engine()
    e.accounts.set_balances("t", {"blue": 100, "green": 500, "yellow": 10000})
    view = e.view("t", e.submit("t", body()))
    assert [(t["accountType"], t["amount"]) for t in view["transactions"]["list"]] == [
        ("blue", 100), ("green", 500), ("yellow", 495)]


def test_currencies_restrict_and_mature_content_forces_yellow() -> None:
    e, _ = engine()
    view = e.view("t", e.submit("t", {**body(), "currencies": ["green"]}))
    assert {t["accountType"] for t in view["transactions"]["list"]} == {"green"}
    view = e.view("t", e.submit("t", {**body(), "allowMatureContent": True}))
    assert {t["accountType"] for t in view["transactions"]["list"]} == {"yellow"}


def test_insufficient_buzz_creates_nothing_and_whatif_reports_it() -> None:
    e, _ = engine()
    e.accounts.set_balances("t", {"blue": 10, "green": 0, "yellow": 0})
    with pytest.raises(InsufficientBuzz):
        e.submit("t", body())
    preview = e.preview("t", body())
    assert preview["transactions"]["insufficientBuzz"] is True and "id" not in preview
    assert preview["cost"]["total"] == 1095 and e.store.last_seq() == 0
    assert e.accounts.balances("t")["blue"] == 10


def test_external_id_is_idempotent_per_tenant() -> None:
    e, _ = engine()
    first = e.submit("t", {**body(), "externalId": "order-42"})
    again = e.submit("t", {**body(), "externalId": "order-42"})
    other = e.submit("u", {**body(), "externalId": "order-42"})
    assert again == first and other != first and e.store.last_seq() == 2


def test_tenants_are_isolated() -> None:
    e, _ = engine()
    workflow_id = e.submit("t", body())
    with pytest.raises(NotFound):
        e.view("u", workflow_id)


def test_system_clock_tells_wall_time_and_speed_shortens_durations() -> None:
    clock = SystemClock(speed=100)
    assert abs(clock.now() - time.time()) < 0.5  # never ahead of the wall by itself
    assert clock.wall_seconds(300) == pytest.approx(3.0)
    before = clock.now()
    assert clock.advance(60) - before >= 60  # a jump forward on request
    with pytest.raises(ValueError):
        clock.advance(-1)
    with pytest.raises(ValueError):
        SystemClock(speed=0)
    e = Engine(SystemClock(speed=100))
    view = e.view("t", e.submit("t", body("[mock:runtime=300] x")))
    created = datetime.fromisoformat(view["createdAt"]).timestamp()
    assert abs(created - time.time()) < 1  # createdAt is the wall clock's


def test_virtual_clock_stops_at_every_due_moment_in_order() -> None:
    e, clock = engine()
    moments: list[float] = []
    clock.subscribe(lambda: None, moments.append)  # a listener that records every moment the clock stops at
    e.submit("t", {**body(), "callbacks": [{"url": "https://hooks.test/", "type": ["workflow:*", "job:*"]}]})
    clock.advance(3600)
    assert moments == sorted(moments) and len(moments) >= 8  # created, 3 queue states, processing, 3 marks, end
    last = e.webhooks.queued("t")[-1]["event"]
    assert last["$type"] == "workflow" and last["status"] in TERMINAL_STATUSES
    with pytest.raises(ValueError):
        clock.advance(-1)


def test_a_refused_submission_does_not_consume_a_queued_outcome() -> None:
    e, _ = engine()
    e.outcomes.push("t", [Outcome(kind="fail", reason="no_provider_available")])
    e.accounts.set_balances("t", {"blue": 0, "green": 0, "yellow": 0})
    with pytest.raises(InsufficientBuzz):
        e.submit("t", body())
    assert e.outcomes.pending("t") == [{"kind": "fail", "reason": "no_provider_available"}]


def test_the_external_id_of_a_deleted_workflow_can_be_used_again() -> None:
    e, clock = engine()
    first = e.submit("t", {**body("[mock:runtime=10] x"), "externalId": "order-42"})
    clock.advance(3600)
    e.delete("t", first)
    again = e.submit("t", {**body(), "externalId": "order-42"})
    assert again != first and e.view("t", again)["id"] == again


def test_unforced_slow_jobs_finish_within_the_default_timeout() -> None:
    slow = {"mode": "Professional", "duration": 15, "generateAudio": True}
    for seed in range(60):
        e, clock = engine(seed)
        workflow_id = e.submit("t", body(**slow))
        clock.advance(3 * 3600)
        assert e.view("t", workflow_id)["status"] == "succeeded", seed
