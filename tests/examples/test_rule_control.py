"""README, "Judging the client": skip rules per test (marker) or per call (ignore); advisories fail only when strict."""

from __future__ import annotations

import pytest


@pytest.mark.civitai_mock(lint_ignore=["kling-wait-zero"])     # this test holds its submit on purpose
def test_rule_control(civitai_mock):
    body = {"steps": [{"$type": "videoGen", "input": {"engine": "kling-v3", "prompt": "a fox", "seed": 7}}]}
    civitai_mock.client.post("/v2/consumer/workflows", params={"wait": 30}, json=body)
    civitai_mock.assert_client_conforms()                        # skipped by the marker; advisories never fail
    with pytest.raises(AssertionError, match="unknown-input-property"):
        civitai_mock.assert_client_conforms(strict=True)         # unless asked: "seed" is not a documented input
    civitai_mock.assert_client_conforms(ignore=["unknown-input-property"], strict=True)


def test_without_the_marker_the_same_traffic_fails(civitai_mock):
    body = {"steps": [{"$type": "videoGen", "input": {"engine": "kling-v3", "prompt": "a fox"}}]}
    civitai_mock.client.post("/v2/consumer/workflows", params={"wait": 30}, json=body)
    with pytest.raises(AssertionError, match=r"\[kling-wait-zero\]"):
        civitai_mock.assert_client_conforms()
