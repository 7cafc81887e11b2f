"""ASGI middleware: the request log (what the client linter judges) and injected faults / rate limits."""

from __future__ import annotations

import json
import logging
import time
from typing import Any
from urllib.parse import parse_qsl

from civitai_mock.contracts.paths import BLOB_PATH, CONTROL_PREFIX, SIGNATURE_PARAM, fault_target
from civitai_mock.mock_server.server.http_io import BODY, SEEN, bearer_token
from civitai_mock.mock_server.server.problems import problem_body
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("civitai_mock.requests")
#: Request bodies larger than this are logged as their size only.
LOGGED_BODY_LIMIT = 64_000
_KEPT_HEADERS = ("content-type", "retry-after", "location")


def _token(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            return bearer_token(value.decode("latin-1"))
    return None


class FakeMiddleware:
    """Logs every request with its tenant, query, JSON body and status; answers injected faults first."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        fake = scope["app"].state.fake if "app" in scope else None
        method, path = scope["method"], scope["path"]
        token = _token(scope)
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

        status_holder: dict[str, Any] = {"status": 500, "headers": {}}

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                status_holder["headers"] = {
                    k.decode("latin-1"): v.decode("latin-1")
                    for k, v in message.get("headers", []) if k.decode("latin-1") in _KEPT_HEADERS
                }
            await send(message)

        started = time.perf_counter()
        target = fault_target(method, path)
        fault = None
        if fake is not None and target is not None and token:
            fault = fake.engine.faults.take(token, target, fake.clock.now())
        if fault is not None:
            await self._answer_fault(fault.status, fault.retry_after, recording_send)
        else:
            await self.app(scope, recording_receive, recording_send)
        if fake is None or path.startswith(CONTROL_PREFIX):
            return
        body: Any = scope.get(BODY)
        if body is None and size:
            raw = b"".join(chunks)
            if size <= LOGGED_BODY_LIMIT:
                try:
                    body = json.loads(raw)
                except (ValueError, UnicodeDecodeError):
                    body = {"$raw": raw[:200].decode("utf-8", "replace")}
            else:
                body = {"$size": size}
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))
        if SIGNATURE_PARAM in query and BLOB_PATH.match(path):  # a signed URL names its tenant, not a token
            token = fake.engine.tenant_of_url(query.get("tenant")) or token
        fake.engine.requests.add(
            at=fake.clock.now(), wall=time.time(), tenant=token, method=method, path=path, query=query,
            status=status_holder["status"], body=body, headers=status_holder["headers"],
            seen=scope.get(SEEN),
        )
        if log.isEnabledFor(logging.INFO):
            query_text = scope.get("query_string", b"").decode("latin-1")
            log.info("%s %s%s -> %s (%.1f ms)", method, path, "?" + query_text if query_text else "",
                     status_holder["status"], (time.perf_counter() - started) * 1000)

    @staticmethod
    async def _answer_fault(status: int, retry_after: int | None, send: Send) -> None:
        body = problem_body(status, detail="Injected by the fake's control API (POST /_mock/faults).")
        payload = json.dumps(body).encode()
        headers = [(b"content-type", b"application/problem+json"), (b"content-length", str(len(payload)).encode())]
        if retry_after is not None:
            headers.append((b"retry-after", str(retry_after).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
