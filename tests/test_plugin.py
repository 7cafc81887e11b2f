"""The pytest plugin: fixtures available to any project that installs the package, marker options,
in-process and live modes giving identical results, respx routing, and isolated fakes for Hypothesis."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from civitai_mock import civitai_fake

BODY = {"steps": [{"$type": "videoGen", "input": {"engine": "kling-v3", "prompt": "[mock:runtime=30] a fox",
                                                  "duration": 5}}]}

THROWAWAY_TEST = '''
import httpx
import pytest

BODY = {"steps": [{"$type": "videoGen", "input": {"engine": "kling", "model": "v2.5-turbo", "prompt": "lake",
                                                  "duration": "5"}}]}


def test_in_process(civitai_mock):
    r = civitai_mock.client.post("/v2/consumer/workflows", params={"wait": 0}, json=BODY)
    assert r.status_code == 202
    civitai_mock.advance(3600)
    done = civitai_mock.client.get(f"/v2/consumer/workflows/{r.json()['id']}").json()
    assert done["status"] == "succeeded"
    assert civitai_mock.client.get(done["steps"][0]["output"]["video"]["url"]).headers["content-type"] == "video/mp4"


def test_state_was_reset(civitai_mock):
    assert civitai_mock.client.get("/v2/consumer/workflows").json()["items"] == []


@pytest.mark.civitai_mock(balances={"blue": 0, "green": 0, "yellow": 0})
def test_marker(civitai_mock):
    r = civitai_mock.client.post("/v2/consumer/workflows", json=BODY)
    assert r.status_code == 403 and "Insufficient Buzz" in r.json()


def test_live_server(civitai_mock_server):
    headers = {"Authorization": "Bearer any-language"}
    r = httpx.post(f"{civitai_mock_server.url}/v2/consumer/workflows?wait=0", json=BODY, headers=headers)
    assert r.status_code == 202
    httpx.post(f"{civitai_mock_server.url}/_mock/clock/advance", json={"seconds": 3600})
    done = httpx.get(f"{civitai_mock_server.url}/v2/consumer/workflows/{r.json()['id']}", headers=headers)
    assert done.json()["status"] == "succeeded"
'''


def test_a_project_with_no_conftest_gets_the_fixtures(tmp_path: Path) -> None:
    project = tmp_path / "someone_elses_project"
    project.mkdir()
    (project / "test_uses_civitai_mock.py").write_text(textwrap.dedent(THROWAWAY_TEST))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=project,
                         capture_output=True, text=True, timeout=120, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "4 passed" in run.stdout


def scenario(mock: Any, live: bool) -> list[Any]:
    """Submit, advance, read: the observable results, in-process or over a socket."""
    if live:
        http = httpx.Client(base_url=mock.url, headers=mock.headers)

        def advance(seconds: float) -> None:
            http.post("/_mock/clock/advance", json={"seconds": seconds})
    else:
        http, advance = mock.client, mock.advance
    submitted = http.post("/v2/consumer/workflows", params={"wait": 0}, json=BODY)
    seen = [submitted.status_code, submitted.json()["id"], submitted.json()["status"]]
    for _ in range(4):
        advance(20)
        answer = http.get(f"/v2/consumer/workflows/{submitted.json()['id']}").json()
        seen.append((answer["status"], answer["steps"][0]["jobs"][0].get("estimatedProgressRate")))
    advance(600)
    final = http.get(f"/v2/consumer/workflows/{submitted.json()['id']}").json()
    video = final["steps"][0]["output"]["video"]
    seen += [final["status"], final["transactions"], video["id"], video["urlExpiresAt"],
             http.get(video["url"]).content, http.get("/v2/consumer/workflows/nope").json()]
    return seen


def test_in_process_and_live_server_give_identical_results(civitai_mock_server: Any) -> None:
    live = scenario(civitai_mock_server, live=True)
    civitai_mock_server.reset()
    in_process = scenario(civitai_mock_server, live=False)
    assert live == in_process


@pytest.mark.civitai_mock(seed=123, url_ttl=30)
def test_marker_sets_seed_and_url_ttl(civitai_mock: Any) -> None:
    first = civitai_mock.client.post("/v2/consumer/workflows", params={"wait": 0}, json=BODY).json()
    with civitai_fake(seed=123) as other:
        same = other.client.post("/v2/consumer/workflows", params={"wait": 0}, json=BODY).json()
    assert first["id"] == same["id"]
    civitai_mock.advance(900)
    video = civitai_mock.client.get(f"/v2/consumer/workflows/{first['id']}").json()["steps"][0]["output"]["video"]
    civitai_mock.advance(31)
    assert civitai_mock.client.get(video["url"]).status_code == 403


def test_default_marker_values_are_restored_after_a_marked_test(civitai_mock: Any) -> None:
    assert civitai_mock.engine.signer.ttl == 600
    assert civitai_mock.engine.accounts.balances(civitai_mock.token)["blue"] == 5000


def test_respx_routes_code_that_hard_codes_the_real_url(civitai_mock: Any) -> None:
    def production_code() -> dict[str, Any]:
        with httpx.Client(headers={"Authorization": "Bearer prod-token"}) as http:
            r = http.post("https://orchestration.civitai.com/v2/consumer/workflows?wait=0", json=BODY)
            return r.json()

    with civitai_mock.respx():
        workflow = production_code()
    assert workflow["status"] == "unassigned"
    assert civitai_mock.engine.view("prod-token", workflow["id"])["id"] == workflow["id"]


def test_async_client_shares_state_with_the_sync_one(civitai_mock: Any) -> None:
    async def submit() -> str:
        async with civitai_mock.async_client() as http:
            return (await http.post("/v2/consumer/workflows", json=BODY)).json()["id"]

    workflow_id = asyncio.run(submit())
    assert civitai_mock.client.get(f"/v2/consumer/workflows/{workflow_id}").status_code == 200


def test_controls_on_the_handle(civitai_mock: Any) -> None:
    civitai_mock.queue_outcome("fail", "no_provider_available")
    civitai_mock.fail_next(503, retry_after=2)
    assert civitai_mock.client.post("/v2/consumer/workflows", json=BODY).status_code == 503
    workflow = civitai_mock.client.post("/v2/consumer/workflows", json=BODY).json()
    civitai_mock.advance(3600)
    done = civitai_mock.client.get(f"/v2/consumer/workflows/{workflow['id']}").json()
    assert done["steps"][0]["jobs"][0]["reason"] == "no_provider_available"
    assert [e.status for e in civitai_mock.requests] == [503, 202, 200]
    civitai_mock.set_balances(yellow=0, blue=0, green=0)
    assert civitai_mock.client.post("/v2/consumer/workflows", json=BODY).status_code == 403


@settings(max_examples=10, deadline=None)
@given(st.integers(min_value=0, max_value=3))
def test_hypothesis_gets_a_fresh_isolated_fake_per_example(extra: int) -> None:
    with civitai_fake() as mock:
        for _ in range(extra):
            mock.client.post("/v2/consumer/workflows", json=BODY)
        assert len(mock.client.get("/v2/consumer/workflows").json()["items"]) == extra


@pytest.mark.civitai_mock(speed=60, balances={"blue": 0, "green": 0, "yellow": 0}, token="fast-and-broke")
def test_a_marker_with_speed_builds_its_own_fake_with_the_balances_and_token_it_names(civitai_mock: Any) -> None:
    r = civitai_mock.client.post("/v2/consumer/workflows", json=BODY)
    assert r.status_code == 403 and "Insufficient Buzz" in r.json()
    assert civitai_mock.requests[-1].tenant == "fast-and-broke"


def test_a_fake_in_a_test_process_leaves_the_collector_alone() -> None:
    """Only ``civitai-mock serve`` tunes the garbage collector; a fake inside someone's tests does not."""
    import gc

    from civitai_mock import civitai_fake

    before = gc.get_threshold()
    with civitai_fake() as mock:
        mock.client.post("/v2/consumer/workflows", json={"steps": [{"$type": "videoGen", "input": {
            "engine": "kling-v3", "prompt": "a fox"}}]})
    assert gc.get_threshold() == before
