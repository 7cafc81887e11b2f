"""The unmodified official JS client (``@civitai/client``) works against the fake with only ``baseUrl``.

Needs node and npm (the npm registry is reachable in CI); the package is installed once into
``tests/node_client/node_modules`` (git-ignored) and bundled with esbuild, as an app build would.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from civitai_mock import civitai_fake
from civitai_mock.kit.live import LiveServer

HERE = Path(__file__).resolve().parent / "node_client"
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
    # the script's own shortcuts are what the linter reports: the deliberate integer duration for kling,
    # and reading the canceled workflow right after submitting it
    assert {v.rule for v in violations} == {"kling-duration-type", "poll-cadence"}
