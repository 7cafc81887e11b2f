"""Reading the fake's request log and webhook inbox: what each logged request was, in the API's terms.

Shared by the linter's checks (``contracts.rule_checks``) and the narration of timeline failures.
Entries are plain dicts as ``/_mock/requests`` serves them (seq, at, wall, tenant, method, path,
query, status, body, headers, seen).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from civitai_mock.contracts.paths import (
    BLOB_PATH,
    BLOB_REFRESH_PATH,
    RECIPE_PATH,
    SIGNATURE_PARAM,
    WORKFLOWS,
    is_submit,
    workflow_id_of,
)
from civitai_mock.contracts.template import VIDEO_GEN

Entry = dict[str, Any]


@dataclass
class Finding:
    """What a check found: a message, the requests (or webhook attempts) that show it, an optional severity."""

    message: str
    requests: list[Entry] = field(default_factory=list)
    severity: str | None = None


def query(entry: Entry) -> dict[str, str]:
    """The request's query parameters."""
    return entry.get("query") or {}


def wait_of(entry: Entry) -> float:
    """The ``wait`` a request asked for (0 when absent or unreadable)."""
    try:
        return float(query(entry).get("wait") or 0)
    except ValueError:
        return 0.0


def epoch(stamp: Any) -> float | None:
    """ISO 8601 (``2026-01-01T00:00:00.000Z``) or epoch seconds -> epoch seconds; None when unreadable."""
    if isinstance(stamp, (int, float)):
        return float(stamp)
    try:
        return datetime.fromisoformat(str(stamp)).timestamp()
    except ValueError:
        return None


#: The throttling answers, which the service sends with a Retry-After.
THROTTLE_STATUSES = (429, 503)


def is_throttled(entry: Entry) -> bool:
    """A 429 or a 5xx: an answer the guide says to retry after backing off (honouring Retry-After)."""
    return entry["status"] == 429 or entry["status"] >= 500


def is_content(entry: Entry) -> bool:
    """A fetch of a signed blob URL (the blob path with a signature; no bearer token needed)."""
    return bool(BLOB_PATH.match(entry["path"])) and SIGNATURE_PARAM in query(entry)


def is_blob_api(entry: Entry) -> bool:
    """GetBlob / HeadBlob / RefreshBlob (the blob paths without a signature)."""
    return bool(BLOB_REFRESH_PATH.match(entry["path"]) or BLOB_PATH.match(entry["path"])) and not is_content(entry)


def is_workflow_submit(entry: Entry) -> bool:
    """SubmitWorkflow or a recipe (a request that creates a workflow)."""
    return is_submit(entry["method"], entry["path"])


def is_read(entry: Entry) -> bool:
    """A GetWorkflow that answered the workflow."""
    return entry["method"] == "GET" and entry["status"] in (200, 202) and workflow_id_of(entry["path"]) is not None


def is_mutation(entry: Entry) -> str | None:
    """The workflow id a successful PUT / PATCH / DELETE / POST under ``/workflows/{id}`` changed, else None."""
    if entry["method"] == "GET" or entry["status"] >= 400 or not entry["path"].startswith(WORKFLOWS + "/"):
        return None
    return entry["path"][len(WORKFLOWS) + 1:].split("/")[0] or None


def created(entry: Entry) -> str | None:
    """The id of the workflow a submit created (``seen``, or the recipe's ``Location``)."""
    if not is_workflow_submit(entry) or entry["status"] >= 400:
        return None
    seen = entry.get("seen") or {}
    if seen.get("id"):
        return str(seen["id"])
    location = (entry.get("headers") or {}).get("location")
    return workflow_id_of(location) if location else None


def seen_status(entry: Entry) -> str | None:
    """The workflow status the response showed (reads and submits)."""
    return (entry.get("seen") or {}).get("status")


def request_key(entry: Entry) -> str:
    """Identity of a request: method, path, query and body."""
    return json.dumps([entry["method"], entry["path"], entry.get("query"), entry.get("body")], sort_keys=True)


def waited(before: Entry, after: Entry) -> float:
    """Seconds between two requests, by the fake's clock or the wall, whichever passed more."""
    return max(after.get("at", 0) - before.get("at", 0), after.get("wall", 0) - before.get("wall", 0))


def retry_after(entry: Entry) -> float | None:
    """The response's ``Retry-After`` in seconds (None when absent or a date)."""
    raw = (entry.get("headers") or {}).get("retry-after")
    try:
        return float(raw) if raw not in (None, "") else None
    except ValueError:
        return None


def step_inputs(entry: Entry) -> list[tuple[str, Any, dict[str, Any]]]:
    """(JSON path, step ``$type``, input) of every step input in a submit body (a recipe's body is a videoGen input)."""
    body = entry.get("body")
    if not isinstance(body, dict):
        return []
    if RECIPE_PATH.match(entry["path"]):
        return [("", VIDEO_GEN, body)]
    steps = body.get("steps") if isinstance(body.get("steps"), list) else []
    return [(f"steps[{i}].input", s.get("$type"), s["input"]) for i, s in enumerate(steps)
            if isinstance(s, dict) and isinstance(s.get("input"), dict)]


def url_key(path: str, params: dict[str, str]) -> str:
    """Identity of a signed URL: its path and query, order-insensitive."""
    return path + "?" + json.dumps(params, sort_keys=True)


def handed_out(entry: Entry) -> str | None:
    """The signed URL a GetBlob (308 ``Location``) or a response noted in ``seen.url`` handed out, if logged."""
    url = (entry.get("seen") or {}).get("url") or (entry.get("headers") or {}).get("location")
    if not url or SIGNATURE_PARAM not in url:
        return None
    parts = urlsplit(url)
    return url_key(parts.path, dict(parse_qsl(parts.query, keep_blank_values=True)))


def event_identity(attempt: Entry) -> tuple[Any, ...]:
    """What makes a webhook event the same event when delivered again: target, scope, step/job, status, time."""
    event = attempt.get("event") or {}
    return (attempt.get("url"), event.get("$type"), event.get("name") or event.get("stepName"),
            event.get("jobId"), event.get("status"), event.get("timestamp"))


def first_deliveries(inbox: list[Entry]) -> dict[str, list[float]]:
    """Per workflow id, when each distinct webhook event was first acknowledged (clock seconds, in order)."""
    seen: set[tuple[Any, ...]] = set()
    found: dict[str, list[float]] = {}
    for attempt in inbox:
        moment, identity = epoch(attempt.get("at")), event_identity(attempt)
        if attempt.get("delivered") and moment is not None and identity not in seen and attempt.get("workflowId"):
            seen.add(identity)
            found.setdefault(str(attempt["workflowId"]), []).append(moment)
    return found


def notified_between(times: list[float], start: float, end: float, slack: float = 1e-3) -> bool:
    """True when a new webhook event arrived after ``start`` and by ``end`` (a read answering it is no poll)."""
    return any(start - slack < moment <= end + slack for moment in times)
