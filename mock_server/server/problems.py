"""RFC 7807 ``application/problem+json`` responses: every error the fake answers goes through here."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

PROBLEM_JSON = "application/problem+json"
#: ``type`` URIs per status, as ASP.NET writes them.
TYPES: dict[int, str] = {
    400: "https://tools.ietf.org/html/rfc9110#section-15.5.1",
    401: "https://tools.ietf.org/html/rfc9110#section-15.5.2",
    403: "https://tools.ietf.org/html/rfc9110#section-15.5.4",
    404: "https://tools.ietf.org/html/rfc9110#section-15.5.5",
    405: "https://tools.ietf.org/html/rfc9110#section-15.5.6",
    409: "https://tools.ietf.org/html/rfc9110#section-15.5.10",
    413: "https://tools.ietf.org/html/rfc9110#section-15.5.14",
    415: "https://tools.ietf.org/html/rfc9110#section-15.5.16",
    429: "https://tools.ietf.org/html/rfc6585#section-4",
    500: "https://tools.ietf.org/html/rfc9110#section-15.6.1",
    502: "https://tools.ietf.org/html/rfc9110#section-15.6.3",
    503: "https://tools.ietf.org/html/rfc9110#section-15.6.4",
    504: "https://tools.ietf.org/html/rfc9110#section-15.6.5",
}
TITLES: dict[int, str] = {
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
    409: "Conflict", 413: "Payload Too Large", 415: "Unsupported Media Type", 429: "Too Many Requests",
    500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
}
VALIDATION_TITLE = "One or more validation errors occurred."


def problem_body(status: int, title: str | None = None, detail: str | None = None,
                 errors: dict[str, list[str]] | None = None, instance: str | None = None) -> dict[str, Any]:
    """The JSON of a problem (ProblemDetails, or ValidationProblemDetails when ``errors`` is given)."""
    body: dict[str, Any] = {"type": TYPES.get(status, "about:blank"), "title": title or TITLES.get(status, "Error"),
                            "status": status}
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    if errors is not None:
        body["errors"] = errors
    return body


def problem(status: int, title: str | None = None, detail: str | None = None,
            errors: dict[str, list[str]] | None = None, headers: dict[str, str] | None = None,
            instance: str | None = None) -> JSONResponse:
    """A problem+json response."""
    return JSONResponse(problem_body(status, title, detail, errors, instance), status_code=status,
                        headers=headers, media_type=PROBLEM_JSON)


def validation_problem(errors: dict[str, list[str]], title: str = VALIDATION_TITLE) -> JSONResponse:
    """A 400 ValidationProblemDetails response."""
    return problem(400, title=title, errors=errors)
