"""ASGI middleware: the control token, the request log (what the client linter judges), injected faults."""

from __future__ import annotations

import hmac
import logging
import time
from functools import lru_cache
from typing import Any

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from civitai_mock.contracts.paths import BLOB_PATH, CONTROL_PREFIX, SIGNATURE_PARAM, fault_target
from civitai_mock.mock_server.engine.requestlog import LOGGED_BODY_LIMIT
from civitai_mock.mock_server.server.fake import Fake
from civitai_mock.mock_server.server.hotpath import HotRoutes
from civitai_mock.mock_server.server.http_io import (
    CHALLENGE,
    FAKE,
    QUERY,
    SEEN,
    TOKEN,
    bearer_token,
    header,
    parse_query,
)
from civitai_mock.mock_server.server.problems import problem
from civitai_mock.mock_server.server.redact import redacted_query

log = logging.getLogger("civitai_mock.requests")
_KEPT_HEADERS = (b"content-type", b"retry-after", b"location")
#: The request log's status of a request whose client hung up before it arrived whole (nginx's 499).
CLIENT_CLOSED_REQUEST = 499
#: The header a control client may send its token in (``Authorization: Bearer`` works too).
CONTROL_HEADER = b"x-control-token"


def _token(scope: Scope) -> str | None:
    return bearer_token(header(scope, b"authorization"))


def control_allowed(scope: Scope, control_token: str | None) -> bool:
    """True when the control API is open, or the request carries its token (bearer or X-Control-Token)."""
    if not control_token:
        return True
    query = parse_query(scope.get("query_string", b""))
    offered = (_token(scope), header(scope, CONTROL_HEADER), query.get("control_token"))  # the last: the dashboard
    return any(value is not None and hmac.compare_digest(value.encode(), control_token.encode()) for value in offered)


def _recording(send: Send, status_holder: dict[str, Any]) -> Send:
    """``send``, noting the status of the answer and the response headers the log keeps."""
    async def recording_send(message: Message) -> None:
        if message["type"] == "http.response.start":
            _answered(status_holder, message["status"], message.get("headers", []))
        await send(message)

    return recording_send


def _answered(status_holder: dict[str, Any], status: int, headers: Any) -> None:
    """Note the status of the answer and the response headers the log keeps."""
    status_holder["status"] = status
    status_holder["answered"] = True
    kept: tuple[tuple[bytes, bytes], ...] = ()
    for name, value in headers:
        if name in _KEPT_HEADERS:
            kept += ((name, value),)
    status_holder["headers"] = kept_headers(kept)


@lru_cache(maxsize=256)
def kept_headers(kept: tuple[tuple[bytes, bytes], ...]) -> dict[str, str]:
    """The log's dict of these kept response headers: one dict for every answer that carried the same ones
    (most carry only ``content-type``), so never changed (``RequestEntry.to_json`` hands out copies)."""
    return {name.decode("latin-1"): value.decode("latin-1") for name, value in kept}


async def _read_for_the_log(receive: Receive) -> None:
    """Read a request's body through ``receive`` (which logs it), up to what the log keeps."""
    read = 0
    while read <= LOGGED_BODY_LIMIT:
        message = await receive()
        if message["type"] != "http.request":
            return
        read += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


class FakeMiddleware:
    """Logs every request with its tenant, query, JSON body and status; answers injected faults first."""

    def __init__(self, app: ASGIApp, hot: HotRoutes | None = None, fake: Fake | None = None):
        self.app = app
        self.hot = hot
        #: the fake of the app this middleware serves (None: read from the app in each request's scope)
        self.fake = fake

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        fake = self.fake if self.fake is not None else scope["app"].state.fake if "app" in scope else None
        method, path = scope["method"], scope["path"]
        if fake is not None and path.startswith(CONTROL_PREFIX) and \
                not control_allowed(scope, fake.config.control_token):
            await self._answer(401, "The control API needs the control token (serve --control-token, printed in "
                                    "the banner): send it as 'Authorization: Bearer <token>' or 'X-Control-Token'.",
                               scope, receive, send, {"www-authenticate": CHALLENGE["WWW-Authenticate"]})
            return
        token = scope[TOKEN] = _token(scope)
        # parsed once, for the routes and the log (the last value of a repeated key, as Starlette's get gives)
        query = scope[QUERY] = parse_query(scope.get("query_string", b""))
        if fake is not None:
            scope[FAKE] = fake
        chunks: list[bytes] = []
        size = 0

        async def recording_receive() -> Message:
            nonlocal size
            message = await receive()
            if message["type"] == "http.request":
                body = message.get("body", b"")
                size += len(body)
                if size <= LOGGED_BODY_LIMIT:
                    chunks.append(body)
            return message

        status_holder: dict[str, Any] = {"status": 500, "headers": {}, "answered": False}
        started = time.perf_counter()
        fault = None
        if fake is not None and token and not fake.engine.faults.idle():
            target = fault_target(method, path)
            if target is not None:
                fault = fake.engine.faults.take(token, target, fake.clock.now())
        logged = fake is not None and not path.startswith(CONTROL_PREFIX)
        try:
            if fault is not None:
                await _read_for_the_log(recording_receive)  # the linter judges what was sent, refused or not
                retry = {"retry-after": str(fault.retry_after)} if fault.retry_after is not None else {}
                await self._answer(fault.status, "Injected by the fake's control API (POST /_mock/faults).",
                                   scope, receive, _recording(send, status_holder), retry)
            elif (found := self.hot.find(scope) if self.hot is not None else None) is not None:
                response = await self.hot.respond(found, scope, recording_receive)
                _answered(status_holder, response.status_code, response.raw_headers)  # noted, not wrapped
                await response(scope, receive, send)
            else:
                await self.app(scope, recording_receive, _recording(send, status_holder))
        except Exception as exc:
            if not isinstance(exc, ClientDisconnect) or status_holder["answered"]:
                # answered 500 further out (status stays 500 when no response started): logged too
                if logged:
                    self._record(fake, scope, token, query, status_holder, b"".join(chunks), size, started)
                raise
            # the client hung up before its request arrived whole: nobody to answer, nothing went wrong here
            status_holder["status"] = CLIENT_CLOSED_REQUEST
        if logged:
            self._record(fake, scope, token, query, status_holder, b"".join(chunks), size, started)

    @staticmethod
    def _record(fake: Any, scope: Scope, token: str | None, query: dict[str, str], status_holder: dict[str, Any],
                raw: bytes, size: int, started: float) -> None:
        """Add the answered request to the request log (and the access log at INFO)."""
        method, path = scope["method"], scope["path"]
        if SIGNATURE_PARAM in query and BLOB_PATH.match(path):  # a signed URL names its tenant, not a token
            token = fake.engine.tenant_of_url(query.get("tenant")) or token
        fake.engine.requests.add(fake.clock.now(), time.time(), token, method, path, query, status_holder["status"],
                                 raw, size, status_holder["headers"], scope.get(SEEN))
        if log.isEnabledFor(logging.INFO):
            query_text = redacted_query(scope.get("query_string", b"").decode("latin-1"))
            log.info("%s %s%s -> %s (%.1f ms)", method, path, "?" + query_text if query_text else "",
                     status_holder["status"], (time.perf_counter() - started) * 1000)

    @staticmethod
    async def _answer(status: int, detail: str, scope: Scope, receive: Receive, send: Send,
                      extra: dict[str, str] | None = None) -> None:
        """Answer a problem+json before the app runs (control token refused, injected fault)."""
        await problem(status, detail=detail, headers=extra)(scope, receive, send)
