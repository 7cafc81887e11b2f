"""The CLI speaks plainly: bad input gives one clear line and a non-zero exit, never a traceback; the
banner comes once the socket is bound, with the real address; every serve flag has an environment
variable; a served fake's linter sees a client that caches blob URLs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.hardening_helpers import SUBMIT, Served, free_port, video_body

CLI = str(Path(sys.executable).with_name("civitai-mock"))


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run the CLI, expecting it to end by itself."""
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def served() -> Any:
    """One served fake (virtual clock) shared by the tests that need a live server; each uses its own tenant."""
    with Served("--clock", "virtual") as fake:
        yield fake


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The single stderr line of a refused command (no traceback, nothing on stdout)."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0, result
    assert "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1 and result.stdout.strip() == "", (result.stdout, result.stderr)
    return lines[0]


@pytest.mark.parametrize("port", ["99999", "-1", "http"])
def test_bad_ports_are_refused_before_anything_prints(port: str) -> None:
    line = one_line_error(run("serve", "--memory", "--port", port))
    assert "port" in line


def test_an_unusable_db_path_is_one_clear_line(tmp_path: Path) -> None:
    line = one_line_error(run("serve", "--port", str(free_port()), "--db", str(tmp_path / "missing" / "state.db")))
    assert "state.db" in line and "cannot open" in line


def test_a_port_in_use_is_one_clear_line(served: Any) -> None:
    line = one_line_error(run("serve", "--memory", "--port", str(served.port)))
    assert f":{served.port}" in line and "cannot listen" in line


def test_lint_and_verify_against_a_dead_server_say_cannot_reach() -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    for command in (["lint", "--base-url", dead], ["verify", "--base-url", dead]):
        result = run(*command)
        line = one_line_error(result)
        assert result.returncode == 2 and "cannot reach" in line and dead in line
        assert "DRIFT" not in result.stdout


def test_an_unknown_rule_id_is_one_clear_line(served: Any) -> None:
    line = one_line_error(run("lint", "--base-url", served.url, "--ignore", "no-such-rule"))
    assert "no-such-rule" in line


def test_lint_into_a_closed_pipe_is_quiet(served: Any) -> None:
    with served.client("piped") as http:
        for _ in range(30):  # many violations: a long report
            http.post(SUBMIT, params={"wait": 1}, json=video_body())
    result = subprocess.run(f"'{CLI}' lint --base-url {served.url} --token piped | head -1", shell=True,
                            capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() and "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr


def test_verify_progress_off_a_terminal_is_one_line_per_step(served: Any) -> None:
    result = run("verify", "--base-url", served.url, timeout=120)
    progress = [line for line in result.stderr.splitlines() if "probes" in line]
    assert result.returncode == 0 and len(progress) >= 5
    assert all(re.fullmatch(r"\d+/\d+ probes", line) for line in progress), progress


def test_serve_help_says_the_defaults() -> None:
    text = run("serve", "--help").stdout
    for default in ("default: 10.0", "default: system", "default: civitai-mock.db", "default: 8400", "CIVITAI_MOCK_"):
        assert default in text, default


def test_the_banner_names_the_bound_address_and_environment_variables_configure_serve() -> None:
    env = {"CIVITAI_MOCK_PORT": "0", "CIVITAI_MOCK_CLOCK": "virtual", "CIVITAI_MOCK_MEMORY": "1",
           "CIVITAI_MOCK_SEED": "3", "CIVITAI_MOCK_LOG_LEVEL": "warning"}
    process = subprocess.Popen([CLI, "serve"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, **env})
    try:
        banner = process.stdout.readline() if process.stdout else ""
        match = re.search(r"on (http://127\.0\.0\.1:(\d+)) \(virtual clock", banner)
        assert match and match.group(2) != "0", banner
        clock = httpx.get(f"{match.group(1)}/_mock/clock", timeout=5).json()  # it listens where it says
        assert clock["clock"] == "virtual" and "seed 3" in banner
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_bad_environment_variable_is_one_clear_line() -> None:
    line = one_line_error(run("serve", env={"CIVITAI_MOCK_PORT": "eighty"}))
    assert "CIVITAI_MOCK_PORT" in line


def _cache_forever(base_url: str, token: str) -> None:
    """A client that keeps the first video URL and fetches it again after it expired (no token: a plain GET)."""
    headers = {"Authorization": f"Bearer {token}"}
    workflow = httpx.post(f"{base_url}{SUBMIT}", params={"wait": 0}, json=video_body("[mock:runtime=20] x"),
                          headers=headers).json()
    httpx.post(f"{base_url}/_mock/clock/advance", json={"seconds": 600})
    done = httpx.get(f"{base_url}{SUBMIT}/{workflow['id']}", headers=headers).json()
    url = done["steps"][0]["output"]["video"]["url"]
    assert httpx.get(url).status_code == 200
    httpx.post(f"{base_url}/_mock/clock/advance", json={"seconds": 3600})
    for _ in range(2):
        assert httpx.get(url).status_code == 403


def test_served_lint_catches_a_client_that_caches_blob_urls(served: Any) -> None:
    _cache_forever(served.url, "cacher")
    result = run("lint", "--base-url", served.url, "--token", "cacher")
    assert result.returncode == 1 and "[refresh-expired-url]" in result.stdout, result.stdout
    report = httpx.get(f"{served.url}/_mock/lint", params={"token": "cacher"}).json()
    assert report["conforms"] is False and any(r["rule"] == "refresh-expired-url" for r in report["rules"])


def test_a_client_offering_an_h2c_upgrade_keeps_its_body(served: Any) -> None:
    """Java's HttpClient offers `Upgrade: h2c` on plain http; the fake answers over HTTP/1.1 with the body read."""
    import socket

    body = b'{"steps":[{"$type":"videoGen","input":{"engine":"kling-v3","prompt":"java"}}]}'
    request = (f"POST {SUBMIT}?wait=0 HTTP/1.1\r\nHost: 127.0.0.1:{served.port}\r\n"
               "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n"
               "Authorization: Bearer java\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as sock:
        sock.sendall(request)
        answer = sock.recv(65536).decode("latin-1")
    assert answer.startswith("HTTP/1.1 202"), answer[:300]


def test_lint_judges_tenants_whose_masked_names_collide_apart(capsys: pytest.CaptureFixture[str]) -> None:
    """alice1 and alice2 both mask to "a…": the command must agree with GET /_mock/lint that each conforms."""
    from civitai_mock import civitai_fake
    from civitai_mock.kit.live import LiveServer
    from civitai_mock.mock_server.server import cli

    with civitai_fake() as mock:
        server = LiveServer(mock).start()
        try:
            for token in ("alice1", "alice2"):  # the same 404 once each: no tenant resent anything
                httpx.get(f"{server.url}{SUBMIT}/no-such-workflow", headers={"Authorization": f"Bearer {token}"})
            served = httpx.get(f"{server.url}/_mock/lint").json()
            code = cli.main(["lint", "--base-url", server.url])
            text = capsys.readouterr().out
            json_code = cli.main(["lint", "--base-url", server.url, "--json"])
            report = capsys.readouterr().out
        finally:
            server.stop()
    assert served["conforms"] is True
    assert code == 0 and "no-retry-after-4xx" not in text, text
    assert json_code == 0 and '"conforms": true' in report


@pytest.mark.parametrize("name, value", [("CLOCK", "virtaul"), ("LOG_LEVEL", "verbose")])
def test_an_environment_value_outside_the_choices_is_one_clear_line(name: str, value: str) -> None:
    result = run("serve", "--memory", "--port", "0", env={f"CIVITAI_MOCK_{name}": value}, timeout=10)
    line = one_line_error(result)
    assert f"CIVITAI_MOCK_{name}" in line and value in line and result.returncode == 2


def test_lint_of_a_token_that_sent_nothing_fails_with_the_servers_words(served: Any) -> None:
    result = run("lint", "--base-url", served.url, "--token", "never-sent-anything")
    assert result.returncode == 1 and "nothing to judge" in result.stdout and "Traceback" not in result.stderr
