"""The drift check: 100 % against the fake, and exact differences against an altered fake."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from civitai_mock import civitai_fake
from civitai_mock.contracts import drift
from civitai_mock.mock_server.engine import records
from civitai_mock.mock_server.server import cli


def test_the_fake_conforms_to_every_probe() -> None:
    with civitai_fake() as mock:
        results = drift.verify(mock.client)
        assert all(r.status is not None for r in results)
        assert [r.probe.name for r in results if r.drift] == []
        assert "(100.0 %)" in drift.table(results)
        # whatif only: nothing was created and no Buzz moved
        assert mock.engine.store.last_seq() == 0
        assert mock.engine.accounts.balances(mock.token)["blue"] == mock.engine.accounts.defaults["blue"]


def test_probes_cover_every_price_cell_and_troubleshooting_case() -> None:
    names = [p.name for p in drift.all_probes()]
    assert sum(n.startswith("cost kling ") for n in names) == 5 * 2 * 2
    assert sum(n.startswith("cost kling-v3 ") for n in names) == 5 * 2 * 2 * 13
    words = {p.words for p in drift.validation_probes() if p.words}
    assert {"duration must be one of", "model is required", "sourceImage is required", "videoUrl is required"} <= words


def test_an_altered_fake_is_reported_with_the_exact_differences(monkeypatch: pytest.MonkeyPatch) -> None:
    original = records.step_cost

    def overcharging(video_input: Any) -> int:
        extra = 1 if getattr(video_input, "mode", "") == "professional" and video_input.engine == "kling-v3" else 0
        return original(video_input) + extra * video_input.seconds

    monkeypatch.setattr(records, "step_cost", overcharging)
    monkeypatch.setattr("civitai_mock.contracts.kling.MSG_REQUIRED", "{field} missing")
    with civitai_fake() as mock:
        results = drift.verify(mock.client)
    drifted = {r.probe.name: r.drift for r in results if r.drift}
    pro_v3 = [n for n in drifted if n.startswith("cost kling-v3") and " professional" in n]
    assert len(pro_v3) == 5 * 2 * 13
    assert drifted["cost kling-v3 text-to-video professional 5s"] == ["cost 1465, contract says 1460"]
    assert any("lacks 'model is required'" in d for d in drifted["kling without model"])
    assert not any(n.startswith("cost kling ") for n in drifted)  # original engine untouched
    assert "DRIFT" in drift.table(results)


def test_verify_command_exits_zero_on_the_live_fake(capsys: pytest.CaptureFixture[str]) -> None:
    from civitai_mock.kit.live import LiveServer

    with civitai_fake() as mock:
        server = LiveServer(mock).start()
        try:
            code = cli.main(["verify", "--base-url", server.url, "--token", "ci"])
        finally:
            server.stop()
    out = capsys.readouterr().out
    assert code == 0 and "(100.0 %)" in out


def test_lint_command_reports_a_clients_violations(capsys: pytest.CaptureFixture[str]) -> None:
    from civitai_mock.kit.live import LiveServer

    with civitai_fake() as mock:
        server = LiveServer(mock).start()
        try:
            import httpx

            body = {"steps": [{"$type": "videoGen", "input": {"engine": "kling-v3", "prompt": "x", "duration": 5}}]}
            httpx.post(f"{server.url}/v2/consumer/workflows?wait=20", json=body,
                       headers={"Authorization": "Bearer node-app"})
            code = cli.main(["lint", "--base-url", server.url, "--token", "node-app"])
        finally:
            server.stop()
    assert code == 1 and "[kling-wait-zero]" in capsys.readouterr().out
    assert threading.active_count() >= 1
