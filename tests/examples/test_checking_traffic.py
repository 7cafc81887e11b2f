"""README, "Checking a client's traffic": `civitai-mock lint --token T` on a served fake catches a client that
caches a blob URL and fetches it again, without a token, after it expired."""

from __future__ import annotations

import httpx

from civitai_mock.mock_server.server import cli

BODY = {"steps": [{"$type": "videoGen", "input": {"engine": "kling-v3", "prompt": "a fox", "duration": 5}}]}


def test_checking_traffic(civitai_mock_server, capsys):
    with httpx.Client(base_url=civitai_mock_server.url, headers={"Authorization": "Bearer dev-token"}) as app:
        workflow = app.post("/v2/consumer/workflows", params={"wait": 0}, json=BODY).json()
        civitai_mock_server.advance(600)
        done = app.get(f"/v2/consumer/workflows/{workflow['id']}").json()
        cached = done["steps"][0]["output"]["video"]["url"]            # kept "for later"
    civitai_mock_server.advance(3600)
    assert [httpx.get(cached).status_code for _ in range(2)] == [403, 403]   # no token, expired, repeated
    code = cli.main(["lint", "--base-url", civitai_mock_server.url, "--token", "dev-token"])
    assert code == 1 and "[refresh-expired-url]" in capsys.readouterr().out
