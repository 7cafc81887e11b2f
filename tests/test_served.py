"""The served fake is the whole kit for any language: virtual time over HTTP, honest wall-clock
timestamps, scenarios, every control over HTTP and in /openapi.json and README."""

from __future__ import annotations

import re
import time
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from civitai_mock.mock_server.server.openapi_control import CONTROL_API
from civitai_mock.mock_server.server.routes import control, inbox, judging
from tests.hardening_helpers import SUBMIT, Receiver, Served, video_body
from tests.mp4info import read
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[1]
ORDER = ["unassigned", "preparing", "scheduled", "processing", "succeeded"]


def stamp(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def test_a_virtual_clock_served_over_http_runs_everything_before_advance_returns() -> None:
    with Receiver() as receiver, Served("--clock", "virtual", "--url-ttl", "300") as fake, \
            fake.client("node-suite") as http:
        assert fake.control("GET", "/_mock/clock").json()["clock"] == "virtual"
        body = video_body("[mock:runtime=120] a fox", [{"url": receiver.url, "type": ["workflow:*"]}])
        workflow = http.post(SUBMIT, params={"wait": 0}, json=body).json()
        assert workflow["status"] == "unassigned"
        fake.control("POST", "/_mock/clock/advance", json={"seconds": 900})
        # every webhook was delivered, in order, before advance answered
        assert [e["status"] for e in receiver.snapshot() if e.get("workflowId") == workflow["id"]] == ORDER
        done = http.get(f"{SUBMIT}/{workflow['id']}").json()
        video = done["steps"][0]["output"]["video"]
        served = httpx.get(video["url"])
        assert done["status"] == "succeeded" and served.status_code == 200
        assert abs(read(served.content).duration - 5) < 0.2  # a real, playable MP4
        fake.control("POST", "/_mock/clock/advance", json={"seconds": 301})
        assert httpx.get(video["url"]).status_code == 403  # the URL expired after the TTL
        fresh = http.post(f"/v2/consumer/blobs/{video['id']}/refresh").json()
        assert httpx.get(fresh["url"]).status_code == 200


def test_a_persisted_virtual_clock_keeps_its_time(tmp_path: Path) -> None:
    db = tmp_path / "virtual.db"
    with Served("--clock", "virtual", db=db) as fake:
        before = stamp(fake.control("POST", "/_mock/clock/advance", json={"seconds": 5000}).json()["now"])
    with Served("--clock", "virtual", db=db) as again:
        assert stamp(again.control("GET", "/_mock/clock").json()["now"]) >= before


def test_a_system_clock_jumps_forward_on_advance_and_never_back() -> None:
    with Served("--speed", "10") as fake:
        before = stamp(fake.control("GET", "/_mock/clock").json()["now"])
        after = stamp(fake.control("POST", "/_mock/clock/advance", json={"seconds": 3600}).json()["now"])
        assert after - before >= 3600
        assert fake.control("POST", "/_mock/clock/advance", json={"seconds": -5}).status_code == 400


@pytest.mark.slow
def test_system_clock_timestamps_stay_with_the_wall_clock_however_long_the_fake_runs() -> None:
    """At the default speed (x10) a new workflow's createdAt stays within 1 s of the wall, over 30 s of uptime."""
    with Served() as fake, fake.client("wall") as http:
        drift = []
        for sample in range(3):  # at 0, 15 and 30 s of uptime
            if sample:
                time.sleep(15)
            created = stamp(http.post(SUBMIT, params={"wait": 0}, json=video_body()).json()["createdAt"])
            drift.append(created - time.time())
        assert all(abs(d) < 1 for d in drift), drift
        assert max(drift) - min(drift) < 0.5, drift  # no growth with uptime


def test_speed_shortens_durations_not_the_calendar() -> None:
    with Served("--speed", "100") as fake, fake.client("quick") as http:
        workflow = http.post(SUBMIT, params={"wait": 0}, json=video_body("[mock:runtime=200] quick")).json()
        wait_until(lambda: http.get(f"{SUBMIT}/{workflow['id']}").json()["status"] == "succeeded", 15,
                   "a 200 s job to finish in about 2 s of wall time")
        done = http.get(f"{SUBMIT}/{workflow['id']}").json()
        took = stamp(done["completedAt"]) - stamp(done["createdAt"])
        assert took < 10 and abs(stamp(done["createdAt"]) - time.time()) < 15
        video = done["steps"][0]["output"]["video"]
        assert 1 <= stamp(video["urlExpiresAt"]) - time.time() <= 7  # 600 s of URL lifetime, shortened x100


SCENARIO = {
    "tenants": {
        "broke": {"balances": {"blue": 0, "green": 0, "yellow": 0}},
        "unlucky": {"outcomes": [{"kind": "fail", "reason": "no_provider_available"}],
                    "faults": [{"status": 429, "count": 1, "target": "submit", "retryAfter": 2}]},
    }
}


def test_a_scenario_over_http_sets_up_tenants_in_one_call() -> None:
    with Served("--clock", "virtual") as fake:
        loaded = fake.control("POST", "/_mock/scenario", json=SCENARIO)
        assert loaded.status_code == 200 and loaded.json()["tenants"]["unlucky"]["outcomes"] == 1
        with fake.client("broke") as http:
            assert http.post(SUBMIT, json=video_body()).status_code == 403
        with fake.client("unlucky") as http:
            throttled = http.post(SUBMIT, json=video_body())
            assert throttled.status_code == 429 and throttled.headers["retry-after"] == "2"
            workflow = http.post(SUBMIT, json=video_body()).json()
            fake.control("POST", "/_mock/clock/advance", json={"seconds": 3600})
            assert http.get(f"{SUBMIT}/{workflow['id']}").json()["status"] == "failed"
        bad = fake.control("POST", "/_mock/scenario", json={"tenants": {"x": {"outcomes": [{"kind": "explode"}]}}})
        assert bad.status_code == 400 and "tenants.x.outcomes" in bad.json()["errors"]["$"][0]


@pytest.mark.parametrize("path", sorted((ROOT / "examples" / "scenarios").glob("*.*")), ids=lambda p: p.name)
def test_shipped_scenarios_load_at_startup(path: Path) -> None:
    with Served("--clock", "virtual", "--scenario", str(path)) as fake:
        tenants = fake.control("GET", "/_mock/tenants").json()["items"]
        assert tenants, f"{path.name} set up no tenant"


def test_a_bad_scenario_file_is_one_clear_line(tmp_path: Path) -> None:
    from tests.hardening_helpers import run_serve

    bad = tmp_path / "broken.yaml"
    bad.write_text("tenants:\n  x:\n    balances: {purple: 3}\n")
    result = run_serve("--memory", "--scenario", str(bad))
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(lines) == 1 and "broken.yaml" in lines[0] and "purple" in lines[0]


def _served_control_routes() -> set[tuple[str, str]]:
    found = set()
    for route in [*control.routes, *inbox.routes, *judging.routes]:
        for method in route.methods or ():
            if method != "HEAD":
                found.add((method, route.path))
    return found


def test_every_control_route_is_described_once_in_openapi_and_readme() -> None:
    described = {(e.method, e.path) for e in CONTROL_API}
    assert described == _served_control_routes()
    with Served("--clock", "virtual") as fake:
        document = httpx.get(f"{fake.url}/openapi.json").json()
    for method, path in described:
        assert method.lower() in document["paths"][path], (method, path)
    readme = (ROOT / "README.md").read_text()
    table = readme.split("### Control API", 1)[1].split("\n### ", 1)[0]
    for method, path in described:
        assert re.search(rf"`{method} {re.escape(path)}`", table), f"README's control table lacks {method} {path}"


def test_expire_next_urls_and_duplicate_next_webhooks_over_http() -> None:
    with Receiver() as receiver, Served("--clock", "virtual") as fake, fake.client("kit") as http:
        fake.control("POST", "/_mock/urls/expire-next", json={"count": 1})
        fake.control("POST", "/_mock/webhooks/duplicate-next", json={"count": 1})
        body = video_body("[mock:runtime=30] x", [{"url": receiver.url, "type": ["workflow:succeeded"]}])
        workflow = http.post(SUBMIT, json=body).json()
        fake.control("POST", "/_mock/clock/advance", json={"seconds": 600})
        first = http.get(f"{SUBMIT}/{workflow['id']}").json()["steps"][0]["output"]["video"]["url"]
        assert httpx.get(first).status_code == 403  # handed out already expired
        again = http.get(f"{SUBMIT}/{workflow['id']}").json()["steps"][0]["output"]["video"]["url"]
        assert httpx.get(again).status_code == 200
        assert [e["status"] for e in receiver.snapshot()] == ["succeeded", "succeeded"]  # delivered twice
        assert fake.control("POST", "/_mock/urls/expire-next", json={"count": -1}).status_code == 400


def test_clearing_one_tenants_log_over_http_keeps_the_others() -> None:
    with Served("--clock", "virtual") as fake:
        for tenant in ("a", "b"):
            with fake.client(tenant) as http:
                http.get(SUBMIT)
        assert fake.control("DELETE", "/_mock/requests", params={"token": "a"}).status_code == 204
        left = fake.control("GET", "/_mock/requests").json()["items"]
        assert [e["tenant"] for e in left if e["tenant"]] == ["b…"]


def test_expire_next_and_duplicate_next_can_target_one_tenant() -> None:
    """Suites sharing one fake must not break each other: a token limits these to one tenant."""
    with Served("--clock", "virtual") as fake, fake.client("suite-a") as a, fake.client("suite-b") as b:
        fake.control("POST", "/_mock/urls/expire-next", json={"count": 1, "token": "suite-a"})
        ids = {name: http.post(SUBMIT, json=video_body("[mock:runtime=30] x")).json()["id"]
               for name, http in (("a", a), ("b", b))}
        fake.control("POST", "/_mock/clock/advance", json={"seconds": 600})
        url_b = b.get(f"{SUBMIT}/{ids['b']}").json()["steps"][0]["output"]["video"]["url"]
        url_a = a.get(f"{SUBMIT}/{ids['a']}").json()["steps"][0]["output"]["video"]["url"]
        assert httpx.get(url_b).status_code == 200 and httpx.get(url_a).status_code == 403
    with Receiver() as receiver, Served("--clock", "virtual") as fake, \
            fake.client("suite-a") as a, fake.client("suite-b") as b:
        answer = fake.control("POST", "/_mock/webhooks/duplicate-next", json={"count": 5, "token": "suite-a"})
        assert answer.status_code == 200, answer.text
        hooks = [{"url": receiver.url, "type": ["workflow:succeeded"]}]
        ids = {http.post(SUBMIT, json=video_body("[mock:runtime=30] x", hooks)).json()["id"]: name
               for name, http in (("a", a), ("b", b))}
        fake.control("POST", "/_mock/clock/advance", json={"seconds": 600})
        wait_until(lambda: len(receiver.snapshot()) >= 3, 10, "the webhooks")
        time.sleep(0.2)  # a stray extra delivery would arrive by now
        delivered = sorted(ids[event["workflowId"]] for event in receiver.snapshot())
        assert delivered == ["a", "a", "b"]  # only suite-a's event is delivered twice


def test_linting_a_token_that_sent_nothing_does_not_pass() -> None:
    with Served("--clock", "virtual") as fake:
        report = fake.control("GET", "/_mock/lint", params={"token": "no-such-tenant"}).json()
        assert report["conforms"] is False and report["judged"]["requests"] == 0 and "nothing to judge" in report["text"]
