"""What the linter judges, over HTTP: the request log (``/_mock/requests``) and the report (``/_mock/lint``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from civitai_mock.contracts import rules
from civitai_mock.contracts.validation import ContractViolation
from civitai_mock.mock_server.engine.requestlog import masked
from civitai_mock.mock_server.server.http_io import JSONResponse, fake_of, query_bool
from civitai_mock.mock_server.server.linting import judge
from civitai_mock.mock_server.server.routes import resource


async def requests_log(request: Request) -> Response:
    """GET: the request log, tokens masked (``token`` filters by tenant); DELETE clears it."""
    engine = fake_of(request).engine
    token = request.query_params.get("token")
    if request.method == "DELETE":
        engine.requests.clear(token)
        return Response(status_code=204)
    return JSONResponse({"items": [e.to_json(mask=True) for e in engine.requests.entries(token)]})


def ignored_rules(values: list[str]) -> tuple[str, ...]:
    """Rule ids from repeated or comma-separated ``ignore`` values; 400 naming unknown ones."""
    try:
        return rules.check_rule_ids(rule.strip() for value in values for rule in value.split(",") if rule.strip())
    except ValueError as exc:
        raise ContractViolation({"ignore": [str(exc)]}) from None


async def lint(request: Request) -> Response:
    """The linter's report on one tenant's traffic (or everyone's, each judged on its own), as JSON.

    The same report ``civitai-mock lint`` prints; ``conforms`` is false on errors (on advisories too
    with ``strict=true``), and ``text`` holds the printed form.
    """
    engine = fake_of(request).engine
    token = request.query_params.get("token")
    ignore = ignored_rules(request.query_params.getlist("ignore"))
    strict = query_bool(request, "strict")
    judged = judge(engine, token, ignore)
    log, inbox, violations = judged.log, judged.inbox, judged.violations
    report = rules.report_json(violations, every=query_bool(request, "every"))
    report["conforms"] = not rules.failing(violations, strict=strict)
    text = rules.report(violations)
    if token is not None and not log:  # a mistyped token must not pass as a clean client
        report["conforms"] = False
        text = f"no request from this token was logged: nothing to judge (is the token right?)\n{text}"
    return JSONResponse({**report, "judged": {"requests": len(log), "webhookAttempts": len(inbox)},
                         "token": masked(token), "strict": strict, "text": text})


routes = [
    resource("/_mock/requests", GET=requests_log, DELETE=requests_log),
    resource("/_mock/lint", GET=lint),
]
