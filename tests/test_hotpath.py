"""GetWorkflow and SubmitWorkflow skip Starlette's routing layers (server/hotpath.py): every answer, error
and request-log entry must be the one the routed app gives. Two fakes with the same seed get the same
requests, one through the hot path and one through the router only, and must agree byte for byte."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from starlette.middleware import Middleware

from civitai_mock.mock_server.server.app import create_app
from civitai_mock.mock_server.server.middleware import FakeMiddleware

SUBMIT = "/v2/consumer/workflows"
KLING = {"steps": [{"$type": "videoGen", "input": {"engine": "kling-v3", "prompt": "[mock:runtime=30] a fox"}}]}
AUTH = {"Authorization": "Bearer alice"}
JSON = {**AUTH, "Content-Type": "application/json"}

# (method, path, query, headers, body): every outcome the two endpoints have, errors included
REQUESTS: list[tuple[str, str, dict[str, str], dict[str, str], bytes | None]] = [
    ("POST", SUBMIT, {}, JSON, json.dumps(KLING).encode()),
    ("POST", SUBMIT, {"wait": "0"}, JSON, json.dumps(KLING).encode()),
    ("POST", SUBMIT, {"whatif": "true"}, JSON, json.dumps(KLING).encode()),
    ("POST", SUBMIT, {"wait": "40"}, JSON, json.dumps(KLING).encode()),
    ("POST", SUBMIT, {"wait": "-1"}, JSON, json.dumps(KLING).encode()),
    ("POST", SUBMIT, {"whatif": "maybe"}, JSON, json.dumps(KLING).encode()),
    ("POST", SUBMIT, {}, {"Content-Type": "application/json"}, json.dumps(KLING).encode()),
    ("POST", SUBMIT, {}, {**JSON, "Authorization": "Bearer a b"}, json.dumps(KLING).encode()),
    ("POST", SUBMIT, {}, {**AUTH, "Content-Type": "text/plain"}, json.dumps(KLING).encode()),
    ("POST", SUBMIT, {}, JSON, b"{not json"),
    ("POST", SUBMIT, {}, JSON, b""),
    ("POST", SUBMIT, {}, JSON, b"[" * 70 + b"]" * 70),
    ("POST", SUBMIT, {}, JSON, json.dumps({"steps": [{"$type": "videoGen", "input": {"engine": "kling-v3"}}]}).encode()),
    ("POST", SUBMIT, {}, JSON, json.dumps({**KLING, "callbacks": [{"url": "ftp://x"}]}).encode()),
    ("POST", SUBMIT, {}, {**JSON, "Authorization": "Bearer poor"}, json.dumps(KLING).encode()),
    ("POST", SUBMIT, {}, JSON, b"x" * 2_000),
    ("GET", "/v2/consumer/workflows/{id}", {}, AUTH, None),
    ("GET", "/v2/consumer/workflows/{id}", {"wait": "10", "until": "change"}, AUTH, None),
    ("GET", "/v2/consumer/workflows/{id}", {"hideMatureContent": "TRUE"}, AUTH, None),
    ("GET", "/v2/consumer/workflows/{id}", {"until": "never"}, AUTH, None),
    ("GET", "/v2/consumer/workflows/{id}", {}, {"Authorization": "Bearer bob"}, None),
    ("GET", "/v2/consumer/workflows/nope", {}, AUTH, None),
    ("GET", "/v2/consumer/workflows/{id}", {}, {}, None),
    ("GET", "/v2/consumer/workflows/{id}/", {}, AUTH, None),
    ("HEAD", "/v2/consumer/workflows/{id}", {}, AUTH, None),
    ("GET", "/v2/consumer/workflows/{id}", {"wait": "60"}, AUTH, None),
]


def _app(hot: bool) -> Any:
    app = create_app(seed=3, secret=b"s", max_body_bytes=1_000, balances={"blue": 10_000})
    app.state.fake.engine.accounts.set_balances("poor", {"blue": 0, "green": 0, "yellow": 0})
    if not hot:
        app.user_middleware = [Middleware(FakeMiddleware)]  # the routed app: no hot routes
    return app


async def _answers(hot: bool) -> tuple[list[tuple[int, list[tuple[str, str]], bytes]], list[dict[str, Any]]]:
    app = _app(hot)
    answers = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://fake") as client:
        first = await client.post(SUBMIT, json=KLING, headers=AUTH)
        workflow_id = first.json()["id"]
        for method, path, query, headers, content in REQUESTS:
            answer = await client.request(method, path.replace("{id}", workflow_id), params=query, headers=headers,
                                          content=content)
            answers.append((answer.status_code, sorted(answer.headers.items()), answer.content))
    log = [entry.to_json() for entry in app.state.fake.engine.requests.entries()]
    for entry in log:
        entry.pop("wall")  # the wall clock's reading differs between the two runs
    return answers, log


def test_the_hot_path_answers_exactly_as_the_routed_app() -> None:
    hot_answers, hot_log = asyncio.run(_answers(hot=True))
    routed_answers, routed_log = asyncio.run(_answers(hot=False))
    for request, hot, routed in zip(REQUESTS, hot_answers, routed_answers):
        assert hot == routed, request
    assert hot_log == routed_log
    statuses = {status for status, _, _ in hot_answers}
    assert {200, 202, 400, 401, 403, 404, 413, 415} <= statuses  # the table above reaches every outcome


@pytest.mark.parametrize("hot", [True, False])
def test_an_unexpected_error_is_a_logged_500_either_way(hot: bool) -> None:
    app = _app(hot)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    app.state.fake.engine.view = broken

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://fake") as client:
            return await client.get("/v2/consumer/workflows/x", headers=AUTH)

    answer = asyncio.run(get())
    assert answer.status_code == 500 and answer.headers["content-type"] == "application/problem+json"
    assert "RuntimeError" in answer.json()["detail"]
    assert [e.status for e in app.state.fake.engine.requests.entries()] == [500]
