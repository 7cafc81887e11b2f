"""The soak's verdict: a workflow counts as delivered only with every event, in order."""

from __future__ import annotations

from bench.soak import complete


def test_a_workflow_with_only_its_last_event_is_not_delivered() -> None:
    assert not complete(["succeeded"])
    assert not complete(["unassigned", "processing", "succeeded"])
    assert not complete(["unassigned", "preparing", "scheduled", "processing"])
    assert not complete(["unassigned", "scheduled", "preparing", "processing", "succeeded"])


def test_every_event_in_order_with_any_ending_is_delivered() -> None:
    for end in ("succeeded", "failed", "expired", "canceled"):
        assert complete(["unassigned", "preparing", "scheduled", "processing", end])
