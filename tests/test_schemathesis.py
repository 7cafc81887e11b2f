"""Schemathesis against the fake's own /openapi.json: thousands of generated requests, every check but one.

No 5xx, every response (problems included) valid against the schema the fake publishes, status codes
and content types as documented, invalid data refused, unknown tokens refused (the fake runs with
``tokens`` set, so another token is not simply another tenant). ``positive_data_acceptance`` is the one
check left out: JSON Schema cannot say what the fake enforces across fields (an ephemeral workflow
needs a callback or ``wait``; a JSON Patch must apply to the current document; ``15.0`` is not the
integer the .NET reader wants), so schema-valid requests may still be refused with a 400.
Runs in CI (slow marker); ``SCHEMATHESIS_EXAMPLES`` bounds the examples per operation.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from civitai_mock import civitai_fake
from civitai_mock.kit.live import LiveServer

ST = Path(sys.executable).with_name("st")
EXAMPLES = os.environ.get("SCHEMATHESIS_EXAMPLES", "50")


@pytest.mark.slow
@pytest.mark.skipif(not ST.exists(), reason="schemathesis is installed by `make test` (dev extra)")
def test_schemathesis_finds_nothing_on_the_consumer_api(tmp_path: Path) -> None:
    with civitai_fake(tokens=frozenset({"st-token"})) as mock:
        mock.set_balances("st-token", blue=10**12)
        server = LiveServer(mock).start()
        try:
            run = subprocess.run(
                [str(ST), "run", f"{server.url}/openapi.json", "--checks", "all",
                 "--exclude-checks", "positive_data_acceptance", "--max-examples", EXAMPLES,
                 "--generation-deterministic", "--header", "Authorization: Bearer st-token",
                 "--include-path-regex", "^/v2/", "--workers", "1", "--no-color"],
                capture_output=True, text=True, timeout=900, cwd=tmp_path)
        finally:
            server.stop()
    summary = run.stdout[-3000:]
    print(summary)
    assert run.returncode == 0, run.stdout[-12000:] + run.stderr[-2000:]
    assert "generated" in summary
