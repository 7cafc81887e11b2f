"""README, "In-process (no socket)": submit, advance virtual time, read the result and the MP4."""

from __future__ import annotations


def test_submit_and_finish(civitai_mock):
    body = {"steps": [{"$type": "videoGen",
                       "input": {"engine": "kling-v3", "prompt": "a fox", "duration": 5}}]}
    r = civitai_mock.client.post("/v2/consumer/workflows", params={"wait": 0}, json=body)
    assert r.status_code == 202
    civitai_mock.advance(600)                      # virtual time: every transition and webhook runs now
    done = civitai_mock.client.get(f"/v2/consumer/workflows/{r.json()['id']}").json()
    assert done["status"] == "succeeded"
    video = civitai_mock.client.get(done["steps"][0]["output"]["video"]["url"])   # a real MP4
    assert video.headers["content-type"] == "video/mp4"
