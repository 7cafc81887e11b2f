"""README, "Outcomes, faults, money, configuration": the marker, queued outcomes and injected faults."""

from __future__ import annotations

import pytest

BODY = {"steps": [{"$type": "videoGen", "input": {"engine": "kling-v3", "prompt": "a fox", "duration": 5}}]}


@pytest.mark.civitai_mock(seed=7, url_ttl=30, balances={"blue": 0, "green": 0, "yellow": 2000})
def test_unhappy_paths(civitai_mock):
    civitai_mock.queue_outcome("fail", "no_provider_available")    # next step fails (refunded)
    civitai_mock.fail_next(429, count=2, retry_after=3)             # next two submits are throttled
    for _ in range(2):
        throttled = civitai_mock.client.post("/v2/consumer/workflows", params={"wait": 0}, json=BODY)
        assert throttled.status_code == 429 and throttled.headers["retry-after"] == "3"
        civitai_mock.advance(3)                                     # honour Retry-After
    workflow = civitai_mock.client.post("/v2/consumer/workflows", params={"wait": 0}, json=BODY).json()
    civitai_mock.advance(900)
    done = civitai_mock.client.get(f"/v2/consumer/workflows/{workflow['id']}").json()
    assert (done["status"], done["steps"][0]["jobs"][-1]["reason"]) == ("failed", "no_provider_available")
    civitai_mock.assert_client_conforms()
