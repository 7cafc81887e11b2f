"""README, "Quick start": the curl command, run as written against a served fake (its URL swapped in)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_quick_start(civitai_mock_server):
    quick_start = README.read_text().split("## Quick start", 1)[1].split("\n## ", 1)[0]
    command = next(b for b in quick_start.split("```sh\n")[1:] if b.startswith("curl"))
    command = command.split("```", 1)[0].replace("http://127.0.0.1:8400", civitai_mock_server.url)
    answer = subprocess.run(["bash", "-c", command], capture_output=True, text=True, check=True, timeout=30)
    workflow = json.loads(answer.stdout)
    assert workflow["status"] == "unassigned" and workflow["steps"][0]["input"]["engine"] == "kling-v3"
    civitai_mock_server.assert_client_conforms(token="dev-token")
