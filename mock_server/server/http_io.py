"""Reading requests the way the service does: bearer tokens, JSON bodies, typed query parameters."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse as StarletteJSONResponse

from civitai_mock.contracts import jsontext
from civitai_mock.contracts.casing import read_flag
from civitai_mock.contracts.validation import ContractViolation
from civitai_mock.mock_server.server.fake import Fake

JSON_TYPES = ("application/json", "text/json")
JSON_PATCH_TYPE = "application/json-patch+json"
#: The scope key where routes leave what the client saw (for the request log and the linter).
SEEN = "civitai_mock.seen"
#: The scope key where the middleware leaves the bearer token it read (None: none, or a malformed one).
TOKEN = "civitai_mock.token"
#: The scope key where the middleware leaves the parsed query (each key's last value).
QUERY = "civitai_mock.query"
#: The scope key where the middleware leaves the fake serving the request.
FAKE = "civitai_mock.fake"
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="civitai-mock"'}


_JSON_CONTENT_TYPE = (b"content-type", StarletteJSONResponse.media_type.encode("latin-1"))


class JSONResponse(StarletteJSONResponse):
    """A JSON response rendered with orjson (stdlib json for what orjson refuses, e.g. huge integers)."""

    def init_headers(self, headers: Any = None) -> None:
        """Starlette's headers; those of a plain JSON answer (its length and type) are built at once, as
        every answer of the hot path takes them (``test_json_answers_carry_the_headers_starlette_would_give_them``)."""
        status = self.status_code
        if headers is None and self.media_type == StarletteJSONResponse.media_type and status >= 200 \
                and status not in (204, 304):
            self.raw_headers = [(b"content-length", str(len(self.body)).encode()), _JSON_CONTENT_TYPE]
        else:
            super().init_headers(headers)

    def render(self, content: Any) -> bytes:
        """Compact UTF-8 JSON."""
        try:
            return orjson.dumps(content)
        except TypeError:
            return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode()


class HttpProblem(Exception):
    """An error answered as a problem+json with this status."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None, title: str | None = None):
        super().__init__(detail)
        self.status, self.detail, self.headers, self.title = status, detail, headers or {}, title


def header(scope: Any, name: bytes) -> str | None:
    """A request header's first value (``name`` in lower case, as ASGI servers give them), as Starlette's
    ``request.headers.get`` reads it, without building its header map."""
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


def parse_query(raw: bytes) -> dict[str, str]:
    """A query string as ``dict(parse_qsl(text, keep_blank_values=True))`` reads it (each key's last value);
    split by hand when nothing in it is escaped, where that is what ``parse_qsl`` gives."""
    if not raw:
        return {}
    text = raw.decode("latin-1")
    if "%" in text or "+" in text:
        return dict(parse_qsl(text, keep_blank_values=True))
    query = {}
    for pair in text.split("&"):
        if pair:
            key, _, value = pair.partition("=")
            query[key] = value
    return query


def fake_of(request: Request) -> Fake:
    """The fake serving this app."""
    scope = request.scope
    return scope[FAKE] if FAKE in scope else request.app.state.fake


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header value; None when absent or malformed."""
    scheme, _, token = (header or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        return None
    return token


def tenant(request: Request) -> str:
    """The tenant (bearer token) of a consumer request; 401 when missing, malformed or not allowed."""
    scope = request.scope
    token = scope[TOKEN] if TOKEN in scope else bearer_token(header(scope, b"authorization"))
    if token is None:
        raise HttpProblem(401, "Send your token as 'Authorization: Bearer <token>'.", CHALLENGE)
    allowed = fake_of(request).config.tokens
    if allowed is not None and token not in allowed:
        raise HttpProblem(401, "This token is not accepted by this fake (see --tokens).", CHALLENGE)
    return token


def base_url(request: Request) -> str:
    """Scheme and host the client used, for signed blob URLs it can follow."""
    scope = request.scope
    host = header(scope, b"host") or "{}:{}".format(*scope.get("server") or ("localhost", 80))
    return f"{scope.get('scheme', 'http')}://{host}{scope.get('root_path', '')}"


def _media_type(request: Request) -> str:
    return (header(request.scope, b"content-type") or "").split(";")[0].strip().lower()


async def json_body(request: Request, patch: bool = False) -> Any:
    """The parsed JSON body; 415 for a wrong content type, 413 when too large, 400 when malformed."""
    media = _media_type(request)
    if patch:
        if media != JSON_PATCH_TYPE:
            raise HttpProblem(415, f"Send a JSON Patch document with Content-Type: {JSON_PATCH_TYPE}.")
    elif media not in JSON_TYPES and not (media.startswith("application/") and media.endswith("+json")):
        raise HttpProblem(415, "Send the body as JSON with Content-Type: application/json.")
    raw = await _read_limited(request, fake_of(request).config.max_body_bytes)
    if not raw.strip():
        raise ContractViolation({"$": ["A non-empty request body is required."]})
    parsed = parse_json(raw)
    return parsed


async def _read_limited(request: Request, limit: int) -> bytes:
    """The body, read while streaming; 413 as soon as it passes ``limit`` (chunked bodies included)."""
    declared = header(request.scope, b"content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks, size = [], 0
    while True:  # what Starlette's request.stream() does, without an async generator per request
        message = await request.receive()
        if message["type"] == "http.request":
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)
        elif message["type"] == "http.disconnect":
            raise ClientDisconnect()


def _too_large(limit: int) -> HttpProblem:
    return HttpProblem(413, f"The body is larger than the {limit} bytes this API accepts.")


def parse_json(raw: bytes) -> Any:
    """JSON as the service's reader takes it: 400 for malformed text, huge numbers or nesting deeper than 64."""
    try:
        return jsontext.loads(raw)
    except jsontext.JsonTextError as exc:
        raise ContractViolation({"$": [str(exc)]}) from None


def _query_value(request: Request, name: str) -> str | None:
    """A query parameter's (last) value; None when absent (the middleware parsed the query once)."""
    scope = request.scope
    if QUERY in scope:
        return scope[QUERY].get(name)
    return request.query_params.get(name) if scope.get("query_string") else None


def query_int(request: Request, name: str, default: int, low: int | None = None, high: int | None = None) -> int:
    """An integer query parameter; 400 when it is not one or out of range."""
    raw = _query_value(request, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ContractViolation({name: [f"The value '{raw}' is not valid for {name}: an integer is required."]}) from None
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"from {low}" + (f" to {high}" if high is not None else "")
        raise ContractViolation({name: [f"{name} must be an integer {bounds}."]})
    return value


def query_bool(request: Request, name: str, default: bool = False) -> bool:
    """A boolean query parameter as the service reads it (``read_flag``: true / false, any case); 400 otherwise."""
    raw = _query_value(request, name)
    if raw is None:
        return default
    value = read_flag(raw)
    if value is None:
        raise ContractViolation({name: [f"The value '{raw}' is not valid for {name}: use true or false."]})
    return value


def query_choice(request: Request, name: str, choices: tuple[str, ...], default: str) -> str:
    """An enum query parameter (case-insensitive); 400 for anything else."""
    raw = _query_value(request, name)
    if raw is None or (raw == "" and default == ""):
        return default
    for choice in choices:
        if raw.lower() == choice.lower():
            return choice
    raise ContractViolation({name: [f"The value '{raw}' is not valid for {name}: use one of {', '.join(choices)}."]})


def query_date(request: Request, name: str) -> datetime | None:
    """An ISO 8601 date-time query parameter; 400 when unparsable."""
    raw = _query_value(request, name)
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ContractViolation({name: [f"The value '{raw}' is not a valid date-time for {name}."]}) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def query_list(request: Request, name: str) -> list[str]:
    """A repeated query parameter (``tags=a&tags=b``)."""
    return [v for v in request.query_params.getlist(name) if v]


# --- control bodies (/_mock) --------------------------------------------------------------

def json_object(body: Any) -> dict[str, Any]:
    """The body as a JSON object; 400 otherwise."""
    if not isinstance(body, dict):
        raise ContractViolation({"$": ["A JSON object is required."]})
    return body


def count_of(body: Any) -> int:
    """``{"count": n}``: a non-negative integer; 400 otherwise."""
    count = json_object(body).get("count")
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ContractViolation({"count": ["count must be a non-negative integer"]})
    return count


def token_of(body: dict[str, Any]) -> str | None:
    """The optional ``token`` of a control body: one tenant, or (absent) everyone; 400 when not a string."""
    token = body.get("token")
    if token is not None and (not isinstance(token, str) or not token):
        raise ContractViolation({"token": ["token must be a tenant's bearer token (omit it for every tenant)"]})
    return token
