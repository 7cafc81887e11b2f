"""The API's paths, defined once: route templates for the server, patterns for the log and the linter."""

from __future__ import annotations

import re

WORKFLOWS = "/v2/consumer/workflows"
WORKFLOW = WORKFLOWS + "/{workflowId}"
WORKFLOW_TAGS = WORKFLOW + "/tags"
WORKFLOW_TAG = WORKFLOW_TAGS + "/{tag}"
WORKFLOW_STEP = WORKFLOW + "/steps/{stepName}"
RECIPES = "/v2/consumer/recipes"
VIDEO_GEN_RECIPE = RECIPES + "/videoGen"
BLOBS = "/v2/consumer/blobs"
BLOB = BLOBS + "/{blobId}"
BLOB_REFRESH = BLOB + "/refresh"
CONSUMER_PREFIX = "/v2/consumer/"
CONTROL_PREFIX = "/_mock"
#: The query parameter that makes a blob URL a signed content URL (no bearer token needed).
SIGNATURE_PARAM = "sig"


def _pattern(template: str) -> re.Pattern[str]:
    """``/v2/consumer/workflows/{workflowId}`` -> a regex with one group per parameter, trailing slash allowed."""
    return re.compile("^" + re.sub(r"\{[^}]+\}", "([^/]+)", template) + "/?$")


SUBMIT_PATH = _pattern(WORKFLOWS)
WORKFLOW_PATH = _pattern(WORKFLOW)
RECIPE_PATH = _pattern(RECIPES + "/{recipe}")
BLOB_PATH = _pattern(BLOB)
BLOB_REFRESH_PATH = _pattern(BLOB_REFRESH)


def is_submit(method: str, path: str) -> bool:
    """True for SubmitWorkflow and the recipe endpoints (requests that create a workflow)."""
    return method == "POST" and bool(SUBMIT_PATH.match(path) or RECIPE_PATH.match(path))


def workflow_id_of(path: str) -> str | None:
    """The id in ``/v2/consumer/workflows/{id}``, or None for any other path."""
    match = WORKFLOW_PATH.match(path)
    return match.group(1) if match else None


def blob_id_of(path: str) -> str | None:
    """The blob id in ``/v2/consumer/blobs/{id}`` or ``…/{id}/refresh``, or None."""
    match = BLOB_PATH.match(path) or BLOB_REFRESH_PATH.match(path)
    return match.group(1) if match else None


def fault_target(method: str, path: str) -> str | None:
    """Which injected-fault target a request is: ``submit``, ``get``, ``other``; None outside the consumer API."""
    if not path.startswith(CONSUMER_PREFIX):
        return None
    if is_submit(method, path):
        return "submit"
    if method == "GET" and WORKFLOW_PATH.match(path):
        return "get"
    return "other"
