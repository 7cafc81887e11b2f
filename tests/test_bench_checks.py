"""Bench checks: the soak's verdict (a workflow counts as delivered only with every event, in order), and the floor
the POST figure is compared with (it answers what the fake answers)."""

from __future__ import annotations

from typing import Any

from bench.soak import complete


def test_a_workflow_with_only_its_last_event_is_not_delivered() -> None:
    assert not complete(["succeeded"])
    assert not complete(["unassigned", "processing", "succeeded"])
    assert not complete(["unassigned", "preparing", "scheduled", "processing"])
    assert not complete(["unassigned", "scheduled", "preparing", "processing", "succeeded"])


def test_every_event_in_order_with_any_ending_is_delivered() -> None:
    for end in ("succeeded", "failed", "expired", "canceled"):
        assert complete(["unassigned", "preparing", "scheduled", "processing", end])


def test_the_floor_answers_the_benchmark_body_as_the_fake_does() -> None:
    """The floor's POST is comparable to the fake's: same fields, order and value types, same status."""
    from bench.floor import Floor
    from bench.http_load import BODY
    from civitai_mock.mock_server.clock import VirtualClock
    from civitai_mock.mock_server.engine.service import Engine, EngineConfig

    def shape(value: Any) -> Any:
        if isinstance(value, dict):
            return [(key, shape(item)) for key, item in value.items()]
        if isinstance(value, list):
            return [shape(item) for item in value]
        return type(value).__name__

    real = Engine(VirtualClock(), config=EngineConfig(secret=b"x"))
    cut = Engine(VirtualClock(), config=EngineConfig(secret=b"x"))
    floor = Floor(cut)
    expected = real.submit_and_view("bench", BODY)
    answered = floor.submit_and_view("bench", BODY)
    assert floor.view("bench", answered["id"]) == answered
    assert shape(answered) == shape(expected)
    assert answered["status"] == expected["status"]
    assert answered["steps"][0]["input"] == expected["steps"][0]["input"]
    assert answered["cost"] == expected["cost"]
    assert cut.accounts.balances("bench") == real.accounts.balances("bench")
