"""Engine edges: lock order between clock and state, durable flushes, refused submissions, webhook rendering."""

from __future__ import annotations

import threading
from typing import Any

from civitai_mock.mock_server.clock import VirtualClock
from civitai_mock.mock_server.engine.service import Engine, EngineConfig

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
