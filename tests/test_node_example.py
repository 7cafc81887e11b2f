"""examples/node: its ``node --test`` suite passes against ``civitai-mock serve --clock virtual``.

The suite starts the served fake itself (``CIVITAI_MOCK_CLI``, here this venv's ``civitai-mock``), runs
the app built on the unmodified official ``@civitai/client`` and asserts success, a failure, an expired
URL refreshed and a clean lint. Needs node and npm; the packages are installed once into
``examples/node/node_modules`` (git-ignored) and reused.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "node"
CLI = Path(sys.executable).with_name("civitai-mock")
pytestmark = pytest.mark.skipif(not (shutil.which("node") and shutil.which("npm")),
                                reason="node and npm are not installed: the Node example cannot run")


def installed() -> Path:
    """examples/node with its packages installed (once; node_modules is kept between runs)."""
    modules = EXAMPLE / "node_modules"
    if not ((modules / "esbuild").is_dir() and (modules / "@civitai" / "client").is_dir()):
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"], cwd=EXAMPLE, check=True,
                       capture_output=True, timeout=300)
    return EXAMPLE


def test_node_example_suite_passes_against_the_served_fake() -> None:
    assert CLI.is_file(), f"{CLI} is missing: install the package into this interpreter (make install)"
    env = {key: value for key, value in os.environ.items() if not key.startswith("CIVITAI_MOCK_")}
    run = subprocess.run(["npm", "test"], cwd=installed(), env={**env, "CIVITAI_MOCK_CLI": str(CLI)},
                         capture_output=True, text=True, timeout=120)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    # the TAP reporter prints "# tests 4", the spec reporter "ℹ tests 4" (node's default depends on version / TTY)
    counts = dict(re.findall(r"^(?:#|ℹ) (tests|pass|fail) (\d+)$", output, re.MULTILINE))
    assert counts == {"tests": "4", "pass": "4", "fail": "0"}, output
