"""autojump: sleeps inside the block advance the virtual clock instead of blocking, within documented limits."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import httpx
import pytest

from civitai_mock import CivitaiMock, civitai_fake

BODY = {"steps": [{"$type": "videoGen", "input": {"engine": "kling-v3", "prompt": "a fox", "duration": 5}}]}
TERMINAL = ("succeeded", "failed", "expired", "canceled")


def poll_with_hard_coded_sleep(http: httpx.Client) -> tuple[dict[str, Any], int]:
    """Production-style loop: submit, then ``time.sleep(10)`` between polls; returns the workflow and the polls."""
    workflow = http.post("/v2/consumer/workflows", params={"wait": 0}, json=BODY).json()
    polls = 0
    while workflow["status"] not in TERMINAL:
        time.sleep(10)
        workflow = http.get(f"/v2/consumer/workflows/{workflow['id']}").json()
        polls += 1
    return workflow, polls


def test_a_hard_coded_ten_second_poll_loop_finishes_a_kling_v3_job_in_well_under_a_second(
        civitai_mock: CivitaiMock) -> None:
    started, clock_before = time.perf_counter(), civitai_mock.clock.now()
    with civitai_mock.autojump():
        workflow, polls = poll_with_hard_coded_sleep(civitai_mock.client)
    wall = time.perf_counter() - started
    assert workflow["status"] == "succeeded" and polls >= 12  # Kling V3 Standard 5 s: 2–5 minutes of clock time
    assert civitai_mock.clock.now() - clock_before == 10 * polls
    assert wall < 5, f"{wall:.1f} s of wall time: at least one 10 s sleep really happened"  # ~0.01 s here
    civitai_mock.assert_client_conforms()


def test_asyncio_sleep_in_a_loop_run_inside_the_block_advances_the_clock(civitai_mock: CivitaiMock) -> None:
    async def main() -> str:
        async with civitai_mock.async_client() as http:
            workflow = (await http.post("/v2/consumer/workflows", params={"wait": 0}, json=BODY)).json()
            while workflow["status"] not in TERMINAL:
                assert await asyncio.sleep(30, result="slept") == "slept"
                workflow = (await http.get(f"/v2/consumer/workflows/{workflow['id']}")).json()
            return str(workflow["status"])

    started = time.perf_counter()
    with civitai_mock.autojump():
        assert asyncio.run(main()) == "succeeded"
    assert time.perf_counter() - started < 15, "a 30 s asyncio.sleep really happened"  # ~0.01 s here


def test_sleeps_are_real_again_after_the_block_even_when_it_raises(civitai_mock: CivitaiMock) -> None:
    real_sleep, real_async_sleep = time.sleep, asyncio.sleep
    with pytest.raises(RuntimeError), civitai_mock.autojump():
        assert time.sleep is not real_sleep and asyncio.sleep is not real_async_sleep
        raise RuntimeError("boom")
    assert time.sleep is real_sleep and asyncio.sleep is real_async_sleep


def test_other_threads_and_captured_functions_sleep_for_real(civitai_mock: CivitaiMock) -> None:
    captured = time.sleep  # code that took sleep before the block keeps the real one (a documented limit)
    before = civitai_mock.clock.now()
    with civitai_mock.autojump():
        started = time.perf_counter()
        worker = threading.Thread(target=time.sleep, args=(0.05,))
        worker.start()
        worker.join()
        captured(0.02)
        assert time.perf_counter() - started >= 0.07
        assert civitai_mock.clock.now() == before
        time.sleep(0)  # zero still only yields
        assert civitai_mock.clock.now() == before


def test_autojump_needs_the_virtual_clock() -> None:
    with civitai_fake(speed=60) as mock, pytest.raises(RuntimeError, match="virtual clock"), mock.autojump():
        pass


def test_blocks_on_two_threads_that_end_out_of_order_leave_the_real_sleeps_behind() -> None:
    real_sleep, real_async_sleep = time.sleep, asyncio.sleep
    a_entered, b_entered, a_left = threading.Event(), threading.Event(), threading.Event()
    advanced: dict[str, float] = {}

    def run(name: str, mock: CivitaiMock, entered: threading.Event, then: Any) -> None:
        with mock.autojump():
            entered.set()
            then()
            before = mock.clock.now()
            time.sleep(30)  # each thread's sleep advances its own fake, whatever the other does
            advanced[name] = mock.clock.now() - before

    with civitai_fake() as first, civitai_fake() as second:
        a = threading.Thread(target=run, args=("a", first, a_entered, lambda: b_entered.wait(5)))
        b = threading.Thread(target=run, args=("b", second, b_entered, lambda: a_left.wait(5)))
        a.start()
        a_entered.wait(5)
        b.start()
        a.join(5)
        a_left.set()  # b leaves its block only after a left its own: the blocks overlap, not nest
        b.join(5)
    assert advanced == {"a": 30, "b": 30}
    assert time.sleep is real_sleep and asyncio.sleep is real_async_sleep
