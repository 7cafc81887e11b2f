"""Helpers for the fidelity tests (issue 13): request builders, balance checks, the web app's real bodies."""


from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

SUBMIT = "/v2/consumer/workflows"
KLING_V3_STANDARD_5S = 1095  # RECIPE "Standard t2v, no audio, 5 s | ~1 095" (219 Buzz/s × 5)
TERMINAL = {"succeeded", "failed", "expired", "canceled"}
JOB_SUPPORT = {"unsupported", "unavailable", "available"}  # SCHEMA JobSupport; CLIENT JobSupport


# --- helpers -------------------------------------------------------------------------------

def parse_ts(value: str) -> datetime:
    """Parse an ISO-8601 UTC timestamp with 0–7 fractional digits (SAMPLE has 7: ...34.1849856Z)."""
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,7}))?(Z|[+-]\d\d:\d\d)", value)
    assert m, f"not an ISO-8601 timestamp: {value!r}"
    base = datetime.fromisoformat(m.group(1) + (m.group(3).replace("Z", "+00:00")))
    frac = (m.group(2) or "0").ljust(7, "0")
    return base + timedelta(microseconds=int(frac) / 10)


def v3(prompt: str = "[mock:runtime=30] a fox", **extra: Any) -> dict[str, Any]:
    return {"engine": "kling-v3", "prompt": prompt, "duration": 5, **extra}


def workflow(step_input: dict[str, Any], step: dict[str, Any] | None = None, **top: Any) -> dict[str, Any]:
    return {"steps": [{"$type": "videoGen", "input": step_input, **(step or {})}], **top}


def submit(mock: Any, body: dict[str, Any], expect: int = 202, **params: Any) -> dict[str, Any]:
    answer = mock.client.post(SUBMIT, params={"wait": 0, **params}, json=body)
    assert answer.status_code == expect, answer.text
    return answer.json()


def get(mock: Any, workflow_id: str) -> dict[str, Any]:
    answer = mock.client.get(f"{SUBMIT}/{workflow_id}")
    assert answer.status_code == 200, answer.text
    return answer.json()


def balances(mock: Any) -> dict[str, int]:
    return mock.client.get(f"/_mock/accounts/{mock.token}").json()


def assert_balances(mock: Any, **expected: int) -> None:
    actual = balances(mock)
    assert {k: actual[k] for k in expected} == expected, actual


def set_balances(mock: Any, blue: int, green: int, yellow: int) -> None:
    answer = mock.client.put(f"/_mock/accounts/{mock.token}", json={"blue": blue, "green": green, "yellow": yellow})
    assert answer.status_code == 200, answer.text


def anonymous(mock: Any) -> Any:
    """A client on the same app without an Authorization header (signed URLs need none)."""
    client = mock.sync_client()
    client.headers.pop("Authorization", None)
    return client


def video_of(wf: dict[str, Any]) -> dict[str, Any] | None:
    return ((wf["steps"][0].get("output") or {}).get("video"))


def until_status(mock: Any, workflow_id: str, wanted: str, step: float = 5, limit: float = 900) -> dict[str, Any]:
    waited = 0.0
    while waited <= limit:
        wf = get(mock, workflow_id)
        if wf["steps"][0]["status"] == wanted:
            return wf
        mock.advance(step)
        waited += step
    raise AssertionError(f"step never reached {wanted!r}")


class Receiver:
    """An in-process webhook receiver answering a fixed status and recording requests."""

    def __init__(self, status: int = 200):
        self.status = status
        self.requests: list[dict[str, Any]] = []
        self.app = Starlette(routes=[Route("/{path:path}", self.handle, methods=["POST"])])

    async def handle(self, request: Request) -> Response:
        self.requests.append({"url": str(request.url), "headers": dict(request.headers),
                              "body": await request.body()})
        return Response(status_code=self.status)


# The web app's real Kling bodies (WEBAPP src/server/services/orchestrator/ecosystems/kling.handler.ts
# createLegacyInput / createV3Input: `quantity: data.quantity ?? 1, seed: data.seed`, legacy also
# `enablePromptEnhancer`; values from src/shared/data-graph/generation/kling-graph.ts).
WEBAPP_KLING_LEGACY = {
    "engine": "kling", "model": "v2.5-turbo", "prompt": "a serene mountain lake at dawn",
    "negativePrompt": "blurry", "aspectRatio": "1:1", "mode": "professional", "duration": "5",
    "cfgScale": 0.5, "quantity": 1, "seed": 1105986134, "enablePromptEnhancer": True,
}
WEBAPP_KLING_V3 = {
    "engine": "kling-v3", "prompt": "a timelapse of a flower blooming", "operation": "text-to-video",
    "mode": "standard", "duration": 5, "aspectRatio": "1:1", "quantity": 1, "seed": 42,
}


def webapp_workflow(step_input: dict[str, Any]) -> dict[str, Any]:
    """The workflow envelope the web app submits (WEBAPP orchestration-new.service.ts generateFromGraph +
    workflows.ts submitWorkflow: tags prefixed 'civitai', `body.upgradeMode = 'manual'`, step priority /
    timeout / metadata, tips, experimental, metadata.params, callbacks `type: ['step:*']`, externalId)."""
    return {
        "tags": ["civitai", "gen", "video", "txt2vid", "Kling"],
        "steps": [{"$type": "videoGen", "input": step_input, "priority": "low", "timeout": "00:20:00",
                   "metadata": {"params": {"seed": step_input.get("seed"), "quantity": 1}}}],
        "tips": {"civitai": 0, "creators": 0},
        "experimental": False,
        "metadata": {"params": {"workflow": "txt2vid", "ecosystem": "Kling", "quantity": 1},
                     "resources": [{"id": 2623839, "strength": 1}], "isPrivateGeneration": False},
        "callbacks": [{"url": "https://signals.test/users/1/signals/orchestrator:text-to-image-update",
                       "type": ["step:*"]}],
        "allowMatureContent": False,
        "currencies": ["blue", "green"],
        "upgradeMode": "manual",
        "externalId": "gen-1105986134",
    }
