"""README, "Live server (any language or HTTP library)": a Node app (app.js, beside this file), served fake."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")


@pytest.fixture(autouse=True)
def beside_app_js(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(Path(__file__).parent)


def test_node_app(civitai_mock_server):
    subprocess.run(["node", "app.js"], env={**os.environ, "CIVITAI_BASE_URL": civitai_mock_server.url},
                   check=True)
    civitai_mock_server.assert_client_conforms(token="the-token-app-js-uses")


def test_the_app_really_submitted_a_job(civitai_mock_server):
    subprocess.run(["node", "app.js"], env={**os.environ, "CIVITAI_BASE_URL": civitai_mock_server.url},
                   check=True, capture_output=True)
    submits = [e for e in civitai_mock_server.engine.requests.entries("the-token-app-js-uses") if e.method == "POST"]
    assert [(e.path, e.query, e.status) for e in submits] == [("/v2/consumer/workflows", {"wait": "0"}, 202)]
