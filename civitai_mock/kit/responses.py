"""Hypothesis strategies for what the service answers, rendered by the fake's own engine.

- ``workflow_responses(status)``: Workflow JSON in any (or one) status.
- ``webhook_events(scope, status, detailed)``: workflow / step / job webhook payloads.
Use them to test how a client parses responses, independent of any server.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from civitai_mock.contracts.outcomes import Outcome, ending_outcome
from civitai_mock.contracts.strategies import steps
from civitai_mock.contracts.workflow import FAILURE_REASONS, STATUSES, TERMINAL_STATUSES
from civitai_mock.mock_server.clock import VirtualClock
from civitai_mock.mock_server.engine.service import Engine

TENANT = "t"
_EVERY_EVENT = ["workflow:*", "step:*", "job:*"]


def _outcome(status: str, reason: str | None) -> Outcome | None:
    """The outcome to queue for a failed or expired run (a canceled one is canceled by ``run_until``)."""
    return ending_outcome(status, reason) if status in ("failed", "expired") else None


def run_until(template: dict[str, Any], status: str, reason: str | None = None) -> tuple[Engine, str]:
    """A private engine that ran one submission until its workflow is in ``status``; (engine, workflow id)."""
    clock = VirtualClock()
    engine = Engine(clock)
    outcome = _outcome(status, reason)
    if outcome is not None:
        engine.outcomes.push(TENANT, [outcome] * len(template["steps"]))
    workflow_id = engine.submit(TENANT, template)
    moments = iter(engine.moments(TENANT, workflow_id))
    while True:
        current = engine.view(TENANT, workflow_id)["status"]
        if status == "canceled" and current == "scheduled":
            engine.cancel(TENANT, workflow_id)
            return engine, workflow_id
        if current == status or current in TERMINAL_STATUSES:
            return engine, workflow_id
        due = next(moments, None)
        if due is None:
            return engine, workflow_id
        clock.advance_to(due)


def workflow_responses(status: str | None = None) -> st.SearchStrategy[dict[str, Any]]:
    """Workflow JSON as the service answers it, in ``status`` (or any status)."""
    statuses = st.just(status) if status else st.sampled_from(STATUSES)
    single = st.fixed_dictionaries({"steps": st.lists(steps(), min_size=1, max_size=1)})

    def render(template: dict[str, Any], wanted: str, reason: str) -> dict[str, Any]:
        engine, workflow_id = run_until(template, wanted, reason)
        return engine.view(TENANT, workflow_id)

    reasons = st.sampled_from([r for r in FAILURE_REASONS if r != "canceled"])
    return st.builds(render, single, statuses, reasons)


def webhook_events(scope: str | None = None, status: str | None = None,
                   detailed: bool | None = None) -> st.SearchStrategy[dict[str, Any]]:
    """Webhook payloads (workflow / step / job events) the fake would deliver."""
    ends = st.sampled_from(("succeeded", "failed", "expired", "canceled"))
    flags = st.just(detailed) if detailed is not None else st.booleans()

    def render(step: dict[str, Any], end: str, index: int, want_detail: bool) -> dict[str, Any] | None:
        template = {"steps": [step],
                    "callbacks": [{"url": "https://hooks.example.com/", "type": _EVERY_EVENT, "detailed": want_detail}]}
        engine, workflow_id = run_until(template, end, "no_provider_available")
        if end != "canceled":
            engine.clock.advance_to(engine.clock.now() + 1)  # type: ignore[attr-defined]
        events = [q["event"] for q in engine.webhooks.queued(TENANT)
                  if (scope is None or q["event"]["$type"] == scope) and (status is None or q["event"]["status"] == status)]
        return events[index % len(events)] if events else None

    return st.builds(render, steps(), ends, st.integers(0, 50), flags).filter(lambda e: e is not None)
