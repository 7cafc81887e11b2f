"""README, "Code that hard-codes the real URL (respx) and sleeps (autojump)": production code runs unchanged."""

from __future__ import annotations

import time

from tests.examples import my_module


def test_production_code(civitai_mock):
    with civitai_mock.respx(), civitai_mock.autojump():    # real URL -> the fake; time.sleep -> virtual time
        workflow = my_module.generate_video("a fox")
    assert workflow["status"] == "succeeded"
    civitai_mock.assert_client_conforms(everyone=True)     # whichever token my_module used


def test_the_example_takes_virtual_minutes_and_real_milliseconds(civitai_mock):
    started = time.perf_counter()
    with civitai_mock.respx(), civitai_mock.autojump():
        my_module.generate_video("a fox")
    assert civitai_mock.clock.now() - civitai_mock.clock.start >= 60  # a Kling job takes minutes of clock time
    assert time.perf_counter() - started < 1.0
