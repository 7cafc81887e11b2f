"""The unmodified official JS client (``@civitai/client``) works against the fake with only ``baseUrl``.

Needs node and npm (the npm registry is reachable in CI); the package is installed once into
``tests/node_client/node_modules`` (git-ignored) and bundled with esbuild, as an app build would.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest
from hypothesis import HealthCheck, given, settings

from civitai_mock import CivitaiMock, Timeline, civitai_fake, play, timelines
from civitai_mock.kit.live import LiveServer
from civitai_mock.kit.play import check

HERE = Path(__file__).resolve().parent / "node_client"
CLIENTS = Path(__file__).resolve().parent / "clients"
pytestmark = pytest.mark.skipif(not (shutil.which("node") and shutil.which("npm")), reason="node/npm not installed")


@pytest.fixture(scope="module")
def installed() -> Path:
    if not (HERE / "node_modules" / "esbuild").is_dir():
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"], cwd=HERE, check=True,
                       capture_output=True, timeout=300)
    subprocess.run(["npm", "run", "-s", "build"], cwd=HERE, check=True, capture_output=True, timeout=120)
    return HERE


def test_official_client_submits_polls_cancels_queries_tags_and_reads_errors(installed: Path) -> None:
    with civitai_fake() as mock:
        server = LiveServer(mock).start()
        try:
            run = subprocess.run(["node", "dist/client_check.mjs", server.url, "node-token"], cwd=installed,
                                 capture_output=True, text=True, timeout=120)
        finally:
            server.stop()
        assert run.returncode == 0, run.stderr
        report = json.loads(run.stdout)
        violations = mock.lint("node-token")
    assert report["submit"]["status"] == 202 and report["submit"]["workflowStatus"] == "unassigned"
    assert report["poll"] == {"status": 200, "workflowStatus": "succeeded", "videoUrl": report["poll"]["videoUrl"]}
    assert report["poll"]["videoUrl"].startswith(server.url)
    assert report["download"]["status"] == 200 and report["download"]["type"] == "video/mp4"
    assert report["download"]["bytes"] > 1000
    assert report["refresh"] == {"status": 200, "sameBlob": True} and report["step"] == {"status": 200, "name": "$0"}
    assert report["update"] == {"status": 200, "metadata": {"order": 42}} and report["patch"]["status"] == 204
    assert report["query"]["status"] == 200 and report["submit"]["id"] in report["query"]["ids"]
    assert report["query"]["tags"] == ["campaign-7", "patched"]
    assert report["cancel"] == {"status": 200, "workflowStatus": "canceled"}
    assert report["delete"] == {"status": 204, "after": 404}
    assert report["invalid"]["status"] == 400
    assert "steps[0].input.duration" in report["invalid"]["errors"]
    assert report["missing"]["status"] == 404
    # the official client's flows break no rule (reading a workflow right after canceling it is not a poll);
    # the one deliberate bad request, an integer duration for kling sent to read the 400, is flagged by
    # exactly the rule that describes it
    assert [(v.rule, [r["status"] for r in v.requests]) for v in violations] == [("kling-duration-type", [400])]


BODY = {"steps": [{"$type": "videoGen", "input": {"engine": "kling-v3", "operation": "text-to-video",
                                                  "prompt": "a lighthouse in a storm", "duration": 5}}]}


@pytest.fixture(scope="module")
def node_client(installed: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[CivitaiMock, Any]]:
    """tests/clients/node_timeline.mjs (the official client, correct retries and refresh) bundled, on a live fake."""
    bundle, modules = tmp_path_factory.mktemp("node") / "node_timeline.mjs", installed / "node_modules"
    subprocess.run([str(modules / ".bin" / "esbuild"), str(CLIENTS / "node_timeline.mjs"), "--bundle",
                    "--platform=node", "--format=esm", f"--outfile={bundle}", "--log-level=warning"],
                   check=True, capture_output=True, timeout=120, env={**os.environ, "NODE_PATH": str(modules)})
    with civitai_fake() as mock:
        server = LiveServer(mock).start()
        process = subprocess.Popen(["node", str(bundle), server.url, mock.token], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, text=True)
        try:
            yield mock, process
        finally:
            assert process.stdin is not None
            process.stdin.close()
            process.wait(timeout=30)
            server.stop()


def node_generates(node_client: tuple[CivitaiMock, Any], timeline: Timeline) -> None:
    """One generation by the official client on ``timeline``: the expected outcome and zero violations."""
    mock, process = node_client
    play(mock, timeline)
    process.stdin.write(json.dumps({"body": BODY}) + "\n")
    process.stdin.flush()
    answer = json.loads(process.stdout.readline())
    result = (answer["status"], answer["reason"], answer["video"]) if "error" not in answer else \
        RuntimeError(answer["error"])
    check(mock, timeline, result)
    assert mock.lint() == []


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(timeline=timelines())
def test_official_client_conforms_on_drawn_timelines(node_client: tuple[CivitaiMock, Any], timeline: Timeline) -> None:
    node_generates(node_client, timeline)


@pytest.mark.slow
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(timeline=timelines())
def test_official_client_conforms_on_200_timelines(node_client: tuple[CivitaiMock, Any], timeline: Timeline) -> None:
    node_generates(node_client, timeline)
