"""The dashboard (``/_mock/ui``): what a developer's app did, live — tenants, workflows and their
timelines, the request that made each, its JSON and video, webhook attempts, the request log with
lint marks, Buzz balances and transactions, and the clock with advance buttons on a virtual clock.

One static page (HTML, CSS and a little plain JavaScript shipped in the package, no build step, no
CDN) polls ``/_mock/ui/state``, which reads the engine through the same public functions the routes
use. Tokens are shown masked and chosen by an opaque key; every string reaches the page as JSON and
is put in with ``textContent``, so prompts, metadata and tags can never become markup.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from civitai_mock.contracts import rules
from civitai_mock.mock_server.engine.blobs import tenant_key
from civitai_mock.mock_server.engine.errors import NotFound
from civitai_mock.mock_server.engine.requestlog import masked
from civitai_mock.mock_server.engine.timestamps import iso
from civitai_mock.mock_server.server.http_io import JSONResponse, base_url, fake_of
from civitai_mock.mock_server.server.linting import judge
from civitai_mock.mock_server.server.routes import resource

ASSETS = "civitai_mock.mock_server.server.ui"
#: How many workflows, requests and webhook attempts the page shows (newest first).
SHOWN = 100
_TYPES = {"js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8"}


@lru_cache(maxsize=None)
def asset(name: str) -> str:
    """A file of the dashboard, read once from the package."""
    return resources.files(ASSETS).joinpath(name).read_text(encoding="utf-8")


async def page(request: Request) -> Response:
    """The dashboard page."""
    return HTMLResponse(asset("dashboard.html"))


async def static(request: Request) -> Response:
    """The page's script and style sheet."""
    name = request.path_params["name"]
    kind = name.rsplit(".", 1)[-1]
    if name not in ("dashboard.js", "dashboard.css"):
        raise NotFound(f"No dashboard file '{name}'.")
    return Response(asset(name), media_type=_TYPES[kind], headers={"Cache-Control": "no-cache"})


def _summary(view: dict[str, Any]) -> dict[str, Any]:
    """One row of the workflows table."""
    steps = view.get("steps") or [{}]
    first = steps[0].get("input") or {}
    kind = first.get("engine") or steps[0].get("$type", "")
    if first.get("operation"):
        kind = f"{kind} / {first['operation']}"
    return {"id": view.get("id"), "status": view["status"], "kind": kind, "steps": len(steps),
            "cost": (view.get("cost") or {}).get("total"), "createdAt": view.get("createdAt"),
            "prompt": first.get("prompt")}


def _detail(request: Request, token: str, workflow_id: str, log: list[dict[str, Any]],
            inbox: list[dict[str, Any]]) -> dict[str, Any] | None:
    engine = fake_of(request).engine
    try:
        view = engine.view(token, workflow_id, base_url(request), gone_too=True, quiet=True)
    except NotFound:
        return None
    created = next((e for e in log if e["method"] == "POST" and (e.get("seen") or {}).get("id") == workflow_id), None)
    videos = [{"step": s["name"], "blobId": s["output"]["video"]["id"], "url": s["output"]["video"].get("url")}
              for s in view["steps"] if (s.get("output") or {}).get("video")]
    return {"id": workflow_id, "json": view, "timeline": engine.timeline(token, workflow_id),
            "dependsOn": engine.dependencies(token, workflow_id),
            "request": created and {"seq": created["seq"], "method": created["method"], "path": created["path"],
                                    "query": created["query"], "body": created["body"]},
            "videos": videos, "attempts": [a for a in inbox if a["workflowId"] == workflow_id]}


async def state(request: Request) -> Response:
    """Everything the page shows, for the tenant (and workflow) it has selected."""
    fake = fake_of(request)
    engine = fake.engine
    known = fake.tenants()
    keys = {tenant_key(row["token"]): row["token"] for row in known}
    tenants = [{"key": tenant_key(row["token"]), "name": masked(row["token"]), "balances": row["balances"],
                "workflows": row["workflows"]} for row in known]
    chosen = keys.get(request.query_params.get("tenant", "")) or next(iter(keys.values()), None)
    clock = fake.clock_json()
    if chosen is None:
        return JSONResponse({"clock": clock, "tenants": tenants, "tenant": None})
    judged = judge(engine, chosen)  # the whole log, as /_mock/lint judges it; only the newest are listed
    log, inbox, marks = judged.log, judged.inbox, judged.marks()
    views, _ = engine.query(chosen, take=SHOWN, base_url=base_url(request), quiet=True)
    workflow_id = request.query_params.get("workflow") or (views[0]["id"] if views else None)
    return JSONResponse({
        "clock": clock, "tenants": tenants, "tenant": tenant_key(chosen),
        "balances": engine.accounts.balances(chosen),
        "workflows": [_summary(v) for v in views],
        "transactions": [{"workflowId": v["id"], **t} for v in views for t in v["transactions"]["list"]],
        "workflow": _detail(request, chosen, workflow_id, log, inbox) if workflow_id else None,
        "inbox": [{k: a[k] for k in ("workflowId", "eventType", "attempt", "statusCode", "latencyMs", "error", "at",
                                     "delivered", "gaveUp", "url")} for a in inbox][-SHOWN:],
        "requests": [{"seq": e["seq"], "method": e["method"], "path": e["path"], "query": e["query"],
                      "status": e["status"], "at": iso(e["at"]), "rules": marks.get(e["seq"], [])}
                     for e in log[-SHOWN:]],
        "lint": rules.report_json(judged.violations),
    })


routes = [
    resource("/_mock/ui", GET=page),
    resource("/_mock/ui/state", GET=state),
    resource("/_mock/ui/{name}", GET=static),
]
