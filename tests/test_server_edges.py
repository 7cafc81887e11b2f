"""Server-layer edges: reads nobody sees leave ``expire-next`` alone, a 500 is logged, 405s carry a sorted
Allow header, and each fake's app accepts its own exception handlers and middleware."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import parse_qsl

from hypothesis import given
from hypothesis import strategies as st

from civitai_mock import civitai_fake
from civitai_mock.mock_server.server.app import create_app
from civitai_mock.mock_server.server.http_io import parse_query

SUBMIT = "/v2/consumer/workflows"
BODY = {"steps": [{"$type": "videoGen", "input": {"engine": "kling-v3", "prompt": "[mock:runtime=20] a fox"}}]}


def _succeeded(mock: Any) -> str:
    """A succeeded video workflow of the handle's tenant; its id."""
    workflow_id = mock.client.post(SUBMIT, json=BODY).json()["id"]
    mock.advance(600)
    return workflow_id


def _video_url(view: dict[str, Any]) -> str:
    return view["steps"][0]["output"]["video"]["url"]


def test_a_held_get_signs_once_so_expire_next_reaches_the_client() -> None:
    with civitai_fake(token="t1") as mock:
        workflow_id = _succeeded(mock)
        mock.expire_next_urls(1, "t1")
        held = mock.client.get(f"{SUBMIT}/{workflow_id}", params={"wait": 5})
        assert held.status_code == 200
        assert mock.client.get(_video_url(held.json())).status_code == 403  # the expired one reached the client
        assert mock.client.get(_video_url(mock.client.get(f"{SUBMIT}/{workflow_id}").json())).status_code == 200


def test_a_held_get_of_an_unknown_workflow_is_404_at_once() -> None:
    with civitai_fake(token="t1") as mock:
        before = mock.clock.now()
        missing = mock.client.get(f"{SUBMIT}/no-such-workflow", params={"wait": 5})
        assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
        mock.use_token("t2")
        mine = mock.client.post(SUBMIT, json=BODY).json()["id"]
        mock.use_token("t1")
        assert mock.client.get(f"{SUBMIT}/{mine}", params={"wait": 5}).status_code == 404  # another tenant's
        assert mock.clock.now() == before  # nothing was held


def test_dashboard_polls_leave_expire_next_to_the_client() -> None:
    with civitai_fake(token="t1") as mock:
        workflow_id = _succeeded(mock)
        mock.expire_next_urls(1, "t1")
        for _ in range(3):
            assert mock.client.get("/_mock/ui/state", params={"workflow": workflow_id}).status_code == 200
        seen = mock.client.get(f"{SUBMIT}/{workflow_id}").json()
        assert mock.client.get(_video_url(seen)).status_code == 403


def test_a_500_reaches_the_request_log(monkeypatch: Any) -> None:
    with civitai_fake(token="t1") as mock:
        def broken(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("a bug")

        monkeypatch.setattr(mock.fake.engine, "query", broken)
        try:
            answer = mock.client.get(SUBMIT)
            assert answer.status_code == 500 and answer.headers["content-type"] == "application/problem+json"
        except RuntimeError:  # the transport may re-raise what the app raised, as before
            pass
        logged = [e for e in mock.requests if e.path == SUBMIT]
        assert [e.status for e in logged] == [500] and logged[0].tenant == "t1"


def test_a_405_is_a_problem_with_the_sorted_allow_header() -> None:
    cases = [("PUT", SUBMIT, "GET, HEAD, POST"), ("TRACE", f"{SUBMIT}/abc", "DELETE, GET, HEAD, PATCH, PUT"),
             ("FOO", SUBMIT, "GET, HEAD, POST"), ("POST", "/v2/consumer/blobs/x.mp4", "GET, HEAD"),
             ("GET", f"{SUBMIT}/abc/tags", "DELETE, POST"), ("DELETE", "/_mock/lint", "GET, HEAD")]
    with civitai_fake(token="t1") as mock:
        for method, path, allow in cases:
            answer = mock.client.request(method, path)
            assert answer.status_code == 405 and answer.headers["content-type"] == "application/problem+json"
            assert answer.headers["allow"] == allow, (method, path, answer.headers["allow"])
            assert answer.json()["status"] == 405 and method in answer.json()["detail"]
        assert mock.client.head(SUBMIT).status_code == 200  # HEAD answers as GET does, without a body


def test_each_app_takes_its_own_exception_handlers_and_middleware(monkeypatch: Any) -> None:
    """``handle.app`` is a Starlette app like any other: handlers and middleware added to it apply to it only."""
    from starlette.responses import PlainTextResponse

    class Teapot(Exception):
        pass

    async def brew(request: Any, exc: Exception) -> PlainTextResponse:
        return PlainTextResponse("short and stout", status_code=418)

    class Tag:
        def __init__(self, app: Any) -> None:
            self.app = app

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            async def tagged(message: Any) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = [*message.get("headers", []), (b"x-tagged", b"1")]
                await send(message)
            await self.app(scope, receive, tagged)

    def boil(*args: Any, **kwargs: Any) -> Any:
        raise Teapot()

    with civitai_fake(token="t1") as mock, civitai_fake(token="t2") as other:
        mock.app.add_exception_handler(Teapot, brew)
        mock.app.add_middleware(Tag)
        monkeypatch.setattr(mock.fake.engine, "query", boil)
        answer = mock.client.get(SUBMIT)
        assert answer.status_code == 418 and answer.headers.get("x-tagged") == "1"
        assert other.client.get(SUBMIT).status_code == 200 and "x-tagged" not in other.client.get(SUBMIT).headers


@given(st.text(alphabet="ab=&;%+ 2Fé\u00ff", max_size=30))
def test_a_query_is_read_as_parse_qsl_reads_it(text: str) -> None:
    """The middleware's one parse of the query gives each key's last value, exactly as parse_qsl does."""
    raw = text.encode("latin-1")
    assert parse_query(raw) == dict(parse_qsl(raw.decode("latin-1"), keep_blank_values=True))


def test_a_client_that_hangs_up_mid_body_is_logged_as_gone_not_as_a_500(caplog: Any) -> None:
    """A client that disconnects before its body arrived never sees an answer: the fake sends none, logs
    no internal error, keeps nothing, and the request log says 499 (client closed the request), so the
    linter never judges the client for a 500 it was not sent."""
    app = create_app(speed=1.0)
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": SUBMIT, "raw_path": SUBMIT.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"fake"), (b"authorization", b"Bearer t1"),
                         (b"content-type", b"application/json")],
             "server": ("127.0.0.1", 8400), "client": ("127.0.0.1", 5555)}
    messages = [{"type": "http.request", "body": b'{"steps": [', "more_body": True}, {"type": "http.disconnect"}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    assert sent == []
    assert "internal error" not in caplog.text
    engine = app.state.fake.engine
    assert engine.count("t1") == 0
    assert [(e.path, e.status, e.raw) for e in engine.requests.entries()] == [(SUBMIT, 499, b'{"steps": [')]


def test_json_answers_carry_the_headers_starlette_would_give_them() -> None:
    """Our JSON answers (rendered with orjson) carry the headers Starlette builds for its own."""
    from starlette.responses import JSONResponse as StarletteJSONResponse

    from civitai_mock.mock_server.server.http_io import JSONResponse

    cases = [({"a": 1}, 200, None), ({"a": 1}, 202, None), ([], 204, None), ({"x": "é"}, 400, None),
             ({"a": 1}, 200, {"x-a": "b"}), (None, 304, None), ({"a": 1}, 101, None)]
    for content, status, headers in cases:
        ours = JSONResponse(content, status_code=status, headers=headers)
        theirs = StarletteJSONResponse(content, status_code=status, headers=headers)
        assert ours.raw_headers == theirs.raw_headers, (content, status, headers)


def test_the_dashboard_may_send_the_control_token_in_the_query() -> None:
    """The dashboard's pages pass ``control_token`` in the query: the right one opens the control API,
    a wrong, blank or missing one does not, and an escaped one is read unescaped."""
    from civitai_mock.mock_server.server.middleware import control_allowed

    def scope(query: bytes) -> dict:
        return {"type": "http", "headers": [], "query_string": query}

    assert control_allowed(scope(b"control_token=s3cret"), "s3cret")
    assert control_allowed(scope(b"tab=log&control_token=a%2Bb"), "a+b")
    assert not control_allowed(scope(b"control_token=wrong"), "s3cret")
    assert not control_allowed(scope(b"control_token="), "s3cret")
    assert not control_allowed(scope(b""), "s3cret")
    assert control_allowed(scope(b""), None)
