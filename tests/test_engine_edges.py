"""Engine edges: lock order between clock and state, durable flushes, refused submissions, webhook rendering."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from civitai_mock.mock_server.clock import VirtualClock
from civitai_mock.mock_server.engine.accounts import InsufficientBuzz
from civitai_mock.mock_server.engine.service import Engine, EngineConfig
from civitai_mock.mock_server.engine.sqlite_store import SqliteStore
from civitai_mock.mock_server.engine.store import MemoryStore

JOIN_SECONDS = 10.0


def body(prompt: str = "a fox", **input_fields: Any) -> dict[str, Any]:
    return {"steps": [{"$type": "videoGen", "input": {"engine": "kling-v3", "prompt": prompt, **input_fields}}]}


def test_reset_during_an_advance_finishes_instead_of_deadlocking() -> None:
    """/_mock/reset overlapping /_mock/clock/advance: both return (clock lock first, then state lock)."""
    clock = VirtualClock()
    in_tick, reset_holds_state = threading.Event(), threading.Event()

    def hold_the_advance(_now: float) -> None:  # runs inside advance, holding the clock's lock
        if not in_tick.is_set():
            in_tick.set()
            reset_holds_state.wait(0.5)  # with the old order the reset now holds the state lock

    clock.subscribe(lambda: None, hold_the_advance)  # before the engine's listener: its settle runs after
    e = Engine(clock, config=EngineConfig(secret=b"x"))
    e.submit("t", body())
    clear = e.faults.clear

    def clear_and_tell() -> None:  # runs inside reset, under the state lock
        reset_holds_state.set()
        clear()

    e.faults.clear = clear_and_tell  # type: ignore[method-assign]
    advancing = threading.Thread(target=clock.advance, args=(3600,), daemon=True)
    advancing.start()
    assert in_tick.wait(JOIN_SECONDS)
    resetting = threading.Thread(target=e.reset, daemon=True)
    resetting.start()
    advancing.join(JOIN_SECONDS)
    resetting.join(JOIN_SECONDS)
    assert not advancing.is_alive() and not resetting.is_alive(), "advance and reset deadlocked"
    assert clock.now() == clock.start and e.count("t") == 0


class _Observed:
    """A lock that reports each thread's attempt to take it."""

    def __init__(self, lock: Any, on_acquire: Any):
        self._lock, self._on_acquire = lock, on_acquire

    def __enter__(self) -> None:
        self._on_acquire()
        self._lock.acquire()

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


class _SlowCommit:
    """The database, with one thread's COMMIT held until ``go`` is set."""

    def __init__(self, db: sqlite3.Connection, thread: str, queued_elsewhere: threading.Event, go: threading.Event):
        self._db, self._thread, self._queued_elsewhere, self._go = db, thread, queued_elsewhere, go
        self.draining, self.committing = threading.Event(), threading.Event()

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        if threading.current_thread().name == self._thread:
            if sql == "BEGIN":
                self.draining.set()
                self._queued_elsewhere.wait(JOIN_SECONDS)  # the other thread's write is queued: this drain takes it
            elif sql == "COMMIT":
                self.committing.set()
                self._go.wait(JOIN_SECONDS)
        return self._db.execute(sql, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


def test_a_flush_returns_only_once_its_own_writes_are_committed(tmp_path: Path) -> None:
    """Another thread drained this thread's writes but has not committed: this flush waits for that commit."""
    path = str(tmp_path / "f.db")
    store = SqliteStore(path)
    e = Engine(VirtualClock(), store, EngineConfig(secret=b"x"))
    queued, progressed = threading.Event(), threading.Event()
    slow = _SlowCommit(store._db, "draining", queued, progressed)
    store._db = slow  # type: ignore[assignment]
    mine = threading.current_thread().name
    store._write = _Observed(store._write, lambda: progressed.set() if threading.current_thread().name == mine
                             else None)  # type: ignore[assignment]

    def other() -> None:
        with e.state.changing():
            store.set_meta("other", "1")

    draining = threading.Thread(target=other, name="draining", daemon=True)
    draining.start()
    assert slow.draining.wait(JOIN_SECONDS)
    with e.state.changing():
        store.set_meta("mine", "1")
        queued.set()
        assert slow.committing.wait(JOIN_SECONDS)  # both writes drained by the other thread, not yet committed
    on_disk = sqlite3.connect(path).execute("SELECT value FROM meta WHERE key = 'mine'").fetchone()
    progressed.set()
    draining.join(JOIN_SECONDS)
    assert not draining.is_alive()
    assert on_disk == ("1",), "the flush returned before its own write was committed"
    store.close()


def _ids_of(e: Engine, workflow_id: str) -> list[str]:
    record = e.store.get("t", workflow_id)
    assert record is not None
    return [record.id, *(s.job_id for s in record.steps), *(s.blob_id for s in record.steps),
            *(t["id"] for t in record.transactions)]


def test_a_refused_submission_leaves_later_ids_unchanged() -> None:
    """Insufficient Buzz at the same virtual moment: the next workflow gets the ids it would have got anyway."""
    config = {"secret": b"x", "balances": {"blue": 0, "green": 0, "yellow": 2000}}
    refused = Engine(VirtualClock(), config=EngineConfig(**config))  # type: ignore[arg-type]
    with pytest.raises(InsufficientBuzz):
        refused.submit("t", body(duration=15, mode="professional", generateAudio=True))
    fresh = Engine(VirtualClock(), config=EngineConfig(**config))  # type: ignore[arg-type]
    assert _ids_of(refused, refused.submit("t", body())) == _ids_of(fresh, fresh.submit("t", body()))


def test_a_submission_the_store_refuses_leaves_later_ids_unchanged() -> None:
    """The store fails to add the workflow: no charge, and the next workflow's ids are the ones it would have got."""
    class FailingOnce(MemoryStore):
        persistent = True  # what a store that writes to disk, whose add can fail, declares
        failed = False

        def add(self, record: Any) -> None:
            if not self.failed:
                self.failed = True
                raise OSError("disk full")
            super().add(record)

    store = FailingOnce()
    failing = Engine(VirtualClock(), store, EngineConfig(secret=b"x"))
    before = failing.accounts.balances("t")
    with pytest.raises(OSError):
        failing.submit("t", body())
    assert failing.accounts.balances("t") == before
    fresh = Engine(VirtualClock(), config=EngineConfig(secret=b"x"))
    assert _ids_of(failing, failing.submit("t", body())) == _ids_of(fresh, fresh.submit("t", body()))


def test_each_webhook_payload_variant_is_rendered_once_per_event() -> None:
    """Three callbacks (two detailed, one not): each event renders two payloads, shared by the callbacks."""
    clock = VirtualClock()
    e = Engine(clock, config=EngineConfig(secret=b"x"))
    rendered: list[bool] = []
    render = e.webhooks._render

    def counting(record: Any, event: Any, detailed: bool) -> dict[str, Any]:
        rendered.append(detailed)
        return render(record, event, detailed)

    e.webhooks._render = counting  # type: ignore[method-assign]
    hooks = [{"url": f"https://example.com/{n}", "type": ["workflow:*", "step:*", "job:*"], "detailed": detailed}
             for n, detailed in enumerate((True, False, True))]
    e.submit("t", {**body(), "callbacks": hooks})
    e.submit("t", body())  # no callbacks: nothing rendered
    clock.advance(3600)
    queued = e.webhooks.queued("t")
    events = len(queued) // len(hooks)
    assert events > 0 and len(queued) == events * len(hooks)
    assert sorted(rendered) == [False] * events + [True] * events
    by_url = {h["url"]: [q["event"] for q in queued if q["url"] == h["url"]] for h in hooks}
    assert by_url["https://example.com/0"] == by_url["https://example.com/2"] != by_url["https://example.com/1"]


class ManualClock:
    """A wall-like clock the test moves by hand: nothing settles until the engine asks for the time."""

    scale = 1.0

    def __init__(self) -> None:
        self.at = VirtualClock().now()

    def now(self) -> float:
        return self.at


def test_allowing_mature_content_settles_due_refunds_before_upgrading() -> None:
    """A failed workflow whose refund is due but not yet applied: the upgrade sees it refunded and charges nothing."""
    clock = ManualClock()
    e = Engine(clock, config=EngineConfig(secret=b"x"))
    start = e.accounts.balances("t")
    workflow_id = e.submit("t", body("[mock:fail=no_provider_available] a fox"))
    clock.at += 3600  # the step failed long ago; nothing has read the clock since
    e.update_workflow("t", workflow_id, {"allowMatureContent": True})
    assert e.accounts.balances("t") == start
    assert [(t["type"], t["accountType"]) for t in e.view("t", workflow_id)["transactions"]["list"]] == \
        [("debit", "blue"), ("credit", "blue")]


def _cached_events(e: Engine) -> list[str]:
    """Ids of stored workflows that still hold an event list."""
    return [r.id for r in e.store._records.values() if r._events is not None]  # type: ignore[attr-defined]


def test_finished_workflows_keep_no_event_list_after_a_restart(tmp_path: Path) -> None:
    """Memory: the events of a finished workflow are dropped, however the engine came to look at it."""
    path = str(tmp_path / "done.db")
    first = Engine(VirtualClock(), SqliteStore(path), EngineConfig(secret=b"x", balances={"blue": 10**9}))
    for _ in range(5):
        first.submit("t", body("[mock:runtime=10] a fox"))
    first.clock.advance(3600)  # type: ignore[attr-defined]
    first.store.close()
    again = Engine(VirtualClock(), SqliteStore(path), EngineConfig(secret=b"x"))
    assert _cached_events(again) == []


def test_a_canceled_workflow_keeps_no_event_list_once_its_stale_schedule_comes_due() -> None:
    e = Engine(VirtualClock(), config=EngineConfig(secret=b"x", balances={"blue": 10**9}))
    workflow_id = e.submit("t", body("[mock:runtime=300] a fox"))
    e.clock.advance(2)  # type: ignore[attr-defined]
    e.cancel("t", workflow_id)
    e.clock.advance(3600)  # type: ignore[attr-defined]
    assert _cached_events(e) == []


def test_a_workflow_nothing_listens_to_is_not_scheduled_but_still_moves_and_refunds() -> None:
    """No callbacks, every step succeeds: none of its events has an effect, so none is scheduled (no work
    per event for a busy served fake); status, timeline and a cancel's refund still come out right."""
    clock = VirtualClock()
    e = Engine(clock, config=EngineConfig(secret=b"x"))
    quiet = e.submit("t", body("[mock:runtime=60] a fox"))
    assert e.next_due() is None
    clock.advance(30)
    assert e.view("t", quiet)["status"] in ("preparing", "scheduled", "processing")
    statuses = [item["status"] for item in e.timeline("t", quiet) if item["scope"] == "workflow"]
    assert statuses[0] == "unassigned" and len(statuses) == len(set(statuses)) >= 2
    before = e.accounts.balances("t")["blue"]
    e.cancel("t", quiet)
    assert e.view("t", quiet)["status"] == "canceled"
    assert e.accounts.balances("t")["blue"] > before  # refunded
    listened = e.submit("t", {**body(), "callbacks": [{"url": "https://example.com/hook", "type": ["workflow:*"]}]})
    assert e.next_due() is not None and e.moments("t", listened)


def test_an_unscheduled_workflow_moves_on_after_a_restart(tmp_path: Path) -> None:
    """A workflow that was never scheduled (nothing listens to it) is still read from its plan after a
    restart: it finishes when its time comes, with every transition in its timeline."""
    path = str(tmp_path / "quiet.db")
    first = Engine(VirtualClock(), SqliteStore(path), EngineConfig(secret=b"x", balances={"blue": 10**9}))
    workflow_id = first.submit("t", body("[mock:runtime=40] a fox"))
    first.clock.advance(5)  # type: ignore[attr-defined]
    running = first.view("t", workflow_id)["status"]
    first.store.close()
    again = Engine(VirtualClock(), SqliteStore(path), EngineConfig(secret=b"x"))
    again.clock.advance(5)  # type: ignore[attr-defined]
    assert again.view("t", workflow_id)["status"] == running
    again.clock.advance(3600)  # type: ignore[attr-defined]
    assert again.view("t", workflow_id)["status"] == "succeeded"
    statuses = [item["status"] for item in again.timeline("t", workflow_id) if item["scope"] == "workflow"]
    assert statuses == ["unassigned", "preparing", "scheduled", "processing", "succeeded"]


def test_a_forced_ending_survives_a_restart_and_a_patch(tmp_path: Path) -> None:
    """The ending a prompt forced is stored with the step: after a restart, a step patched before it runs
    is re-planned with the same ending (and the same reason)."""
    path = str(tmp_path / "forced.db")
    first = Engine(VirtualClock(), SqliteStore(path), EngineConfig(secret=b"x", balances={"blue": 10**9}))
    workflow_id = first.submit("t", body("[mock:fail=gpu_on_fire] a fox"))
    first.store.close()
    again = Engine(VirtualClock(), SqliteStore(path), EngineConfig(secret=b"x"))
    again.patch_step("t", workflow_id, "$0", [{"op": "replace", "path": "/input/duration", "value": 10}])
    again.clock.advance(3600)  # type: ignore[attr-defined]
    step = again.view("t", workflow_id)["steps"][0]
    assert step["input"]["duration"] == 10
    assert (step["status"], step["jobs"][0]["reason"]) == ("failed", "gpu_on_fire")


def test_every_record_field_comes_from_its_part_of_the_submission() -> None:
    """A submission with every option set: each stored field holds its own value (records are built by
    position, so a field moved in the record's definition is caught here)."""
    e = Engine(VirtualClock(), config=EngineConfig(secret=b"x", balances={"blue": 0, "green": 0, "yellow": 10**6}))
    template = {
        "steps": [{"$type": "videoGen", "name": "clip", "priority": "high", "timeout": "00:10:00", "retries": 2,
                   "metadata": {"step": "m"}, "input": {"engine": "kling-v3", "prompt": "a fox"}}],
        "metadata": {"workflow": "m"}, "tags": ["t1"], "arguments": {"a": 1},
        "callbacks": [{"url": "https://hooks.example.com/x", "type": ["workflow:*"]}],
        "tips": {"civitai": 0.1, "creators": 0.2}, "experimental": True, "allowMatureContent": False,
        "upgradeMode": "automatic", "currencies": ["yellow"], "ephemeral": False, "externalId": "ext-1",
        "nsfwLevel": "r",
    }
    record = e.store.get("t", e.submit("t", template))
    assert record is not None
    step = record.steps[0]
    assert (step.name, step.priority, step.timeout, step.retries, step.metadata) == \
        ("clip", "high", "00:10:00", 2, {"step": "m"})
    assert step.input["prompt"] == "a fox" and step.type_ == "videoGen" and step.depends_on == ()
    assert step.nsfw_level == "pg" and step.outcome.kind == "succeed" and step.draft is None
    assert len(step.job_id) == 36 and step.blob_id.endswith(".mp4") and step.plan.status == "succeeded"
    assert step.price == record.base_price > 0
    assert record.id.startswith(str(2026)) and record.tenant == "t" and record.seq == 1
    assert (record.metadata, record.tags, record.arguments) == ({"workflow": "m"}, ["t1"], {"a": 1})
    assert record.callbacks == [{"url": "https://hooks.example.com/x", "type": ["workflow:*"]}]
    assert record.tips == {"civitai": 0.1, "creators": 0.2}
    assert (record.experimental, record.allow_mature_content, record.upgrade_mode) == (True, False, "automatic")
    assert (record.currencies, record.ephemeral, record.external_id, record.nsfw_ceiling) == \
        (["yellow"], False, "ext-1", "r")
    assert [t["type"] for t in record.transactions] == ["debit"]


def test_workflows_submitted_without_options_share_nothing_a_change_or_a_view_could_leak_through() -> None:
    """Two bare submissions: tagging one, or changing what a view of it holds (as code given a view
    by the kit might), leaves the other exactly as it was."""
    e = Engine(VirtualClock(), config=EngineConfig(secret=b"x"))
    body = {"steps": [{"$type": "videoGen", "input": {"engine": "kling-v3", "prompt": "a fox"}}]}
    first, second = e.submit("t", body), e.submit("t", body)
    before = e.view("t", second)
    e.add_tag("t", first, "mine")
    view = e.view("t", first)
    view["metadata"]["x"] = 1
    view["arguments"]["x"] = 1
    view["callbacks"].append({"url": "https://hooks.example.com"})
    view["tips"]["civitai"] = 0.5
    view["currencies"].append("red")
    view["tags"].append("leaked")
    view["steps"][0]["metadata"]["x"] = 1
    view["transactions"]["list"].append({"type": "credit"})
    after = e.view("t", second)
    assert after == before
    assert (after["tags"], after["metadata"], after["arguments"], after["callbacks"]) == ([], {}, {}, [])
    assert after["tips"] == {"civitai": 0, "creators": 0} and after["currencies"] == ["blue", "green", "yellow"]
    assert "mine" in e.view("t", first)["tags"]
