"""Bench checks: the soak's verdict (a workflow counts as delivered only with every event, in order), and the floor
the POST figure is compared with (it answers what the fake answers)."""

from __future__ import annotations

from typing import Any

from bench.soak import complete


def test_a_workflow_with_only_its_last_event_is_not_delivered() -> None:
    assert not complete(["succeeded"])
    assert not complete(["unassigned", "processing", "succeeded"])
    assert not complete(["unassigned", "preparing", "scheduled", "processing"])
    assert not complete(["unassigned", "scheduled", "preparing", "processing", "succeeded"])


def test_every_event_in_order_with_any_ending_is_delivered() -> None:
    for end in ("succeeded", "failed", "expired", "canceled"):
        assert complete(["unassigned", "preparing", "scheduled", "processing", end])


def test_the_floor_answers_the_benchmark_body_as_the_fake_does() -> None:
    """The floor's POST is comparable to the fake's: same fields, order and value types, same status."""
    from bench.floor import Floor
    from bench.http_load import BODY
    from civitai_mock.mock_server.clock import VirtualClock
    from civitai_mock.mock_server.engine.service import Engine, EngineConfig

    def shape(value: Any) -> Any:
        if isinstance(value, dict):
            return [(key, shape(item)) for key, item in value.items()]
        if isinstance(value, list):
            return [shape(item) for item in value]
        return type(value).__name__

    real = Engine(VirtualClock(), config=EngineConfig(secret=b"x"))
    cut = Engine(VirtualClock(), config=EngineConfig(secret=b"x"))
    floor = Floor(cut)
    expected = real.submit_and_view("bench", BODY)
    answered = floor.submit_and_view("bench", BODY)
    assert floor.view("bench", answered["id"]) == answered
    assert shape(answered) == shape(expected)
    assert answered["status"] == expected["status"]
    assert answered["steps"][0]["input"] == expected["steps"][0]["input"]
    assert answered["cost"] == expected["cost"]
    assert cut.accounts.balances("bench") == real.accounts.balances("bench")
    from civitai_mock.mock_server.engine.accounts import EVERY_CURRENCY
    from civitai_mock.mock_server.engine.records import NO_TIPS
    assert answered["currencies"] is not EVERY_CURRENCY and answered["tips"] is not NO_TIPS  # never the shared ones


def test_the_bare_app_answers_the_bodies_the_fake_gave(tmp_path: Any) -> None:
    """The baseline returns the very JSON the served fake answered (the issue's "same JSON body"), not a
    canned body of another size: the ratios compare the same bytes on the wire."""
    import asyncio
    import json

    import httpx

    from bench import bare_app

    answers = {"get": {"id": "from-the-fake-get", "status": "processing"},
               "post": {"id": "from-the-fake-post", "status": "unassigned", "steps": [{"name": "$0"}]}}
    path = tmp_path / "answers.json"
    path.write_text(json.dumps(answers))

    async def call() -> tuple[httpx.Response, httpx.Response]:
        transport = httpx.ASGITransport(bare_app.create(bare_app.read_answers(str(path))))
        async with httpx.AsyncClient(transport=transport, base_url="http://bare") as http:
            return (await http.get("/v2/consumer/workflows/any"),
                    await http.post("/v2/consumer/workflows", json={"steps": []}))

    got, posted = asyncio.run(call())
    assert (got.status_code, got.json()) == (200, answers["get"])
    assert (posted.status_code, posted.json()) == (202, answers["post"])
    assert got.content == json.dumps(answers["get"], separators=(",", ":")).encode()


def test_the_benchmark_keeps_what_the_served_fake_answered_for_the_bare_app() -> None:
    """``fake_answers`` submits the benchmark's body to a served fake and reads it back: the bare app's bodies."""
    from bench.http_load import BODY, fake_answers
    from civitai_mock.kit.live import ThreadServer
    from civitai_mock.mock_server.server.app import create_app

    with ThreadServer(create_app(speed=1.0)) as server:
        answers = fake_answers(server.port)
    posted, got = answers["post"], answers["get"]
    assert posted["id"] == got["id"] and posted["steps"][0]["input"]["prompt"] == BODY["steps"][0]["input"]["prompt"]
    assert posted["status"] == "unassigned" and posted["transactions"]["list"][0]["type"] == "debit"
    assert got["steps"][0]["jobs"][0]["id"] == posted["steps"][0]["jobs"][0]["id"]
