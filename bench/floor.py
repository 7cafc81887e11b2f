"""The floor of a submit on this stack: the engine's submit and view cut down to the least any fake must do
for the benchmark's body, to show how far the real engine is from it (``floor_fake.py`` serves it).

The cut-down submit validates the body in one pass, prices it, takes the Buzz, draws the step's plan and
ids, and keeps a small dict; the cut-down view answers the fields of a fresh single-step workflow. No
outcomes, callbacks, tips, references, tags or SQLite: it is right for the benchmark's body only
(``tests/test_bench_checks.py`` checks its answer has the shape of the real one) and serves no other purpose.
"""

from __future__ import annotations

from typing import Any

from civitai_mock.contracts.cost import step_cost
from civitai_mock.contracts.one_pass import validate_plain
from civitai_mock.contracts.outcomes import SUCCEED
from civitai_mock.contracts.template import VIDEO_GEN
from civitai_mock.contracts.timespan import format_timespan
from civitai_mock.mock_server.engine import lifecycle
from civitai_mock.mock_server.engine.accounts import charging_order, transactions
from civitai_mock.mock_server.engine.records import NO_TIPS
from civitai_mock.mock_server.engine.service import Engine
from civitai_mock.mock_server.engine.submission import step_timeout
from civitai_mock.mock_server.engine.timestamps import iso_text


class Floor:
    """A cut-down submit and view over an engine's clock, Buzz, ids and RNG (``install`` puts them in place)."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.kept: dict[tuple[str, str], dict[str, Any]] = {}

    def install(self) -> None:
        """Answer the engine's submits and views with the cut-down ones."""
        engine = self.engine
        engine.submit, engine.view = self.submit, self.view  # type: ignore[method-assign]
        engine.submit_and_view = self.submit_and_view  # type: ignore[method-assign]

    def submit(self, tenant: str, body: Any, *, wait: float = 0) -> str:
        """Validate, charge, plan and keep the benchmark's single-step body."""
        with self.engine.state.changing():
            return self._store(tenant, body, self.engine.now())

    def view(self, tenant: str, workflow_id: str, base_url: str | None = None, hide_mature: bool = False,
             gone_too: bool = False, quiet: bool = False) -> dict[str, Any]:
        """The kept workflow as a fresh single-step workflow reads."""
        with self.engine.state.changing():
            return self._answer(tenant, workflow_id, self.engine.now())

    def submit_and_view(self, tenant: str, body: Any, base_url: str | None = None,
                        hide_mature: bool = False) -> dict[str, Any]:
        """Both in one hold of the lock, as the engine's own ``submit_and_view``."""
        with self.engine.state.changing():
            now = self.engine.now()
            return self._answer(tenant, self._store(tenant, body, now), now)

    def _store(self, tenant: str, body: Any, now: float) -> str:
        engine = self.engine
        plain = validate_plain(body)
        if plain is None or len(plain[1]) != 1:
            raise ValueError("the floor takes the benchmark's body only")
        step, parsed = plain[1][0]
        price = step_cost(parsed)
        order = charging_order(None, None)
        charges = engine.accounts.debit(tenant, price, order)
        timeout = step_timeout(step.timeout)
        plan = lifecycle.plan_step(parsed, SUCCEED, now, timeout, engine.rng, engine.scale)
        workflow_id = engine.ids.workflow_id(now)
        self.kept[(tenant, workflow_id)] = {
            "created": now, "input": parsed.to_json(), "plan": plan, "price": price, "order": order,
            "timeout": format_timespan(timeout), "job": engine.ids.uuid(),
            "blob": engine.ids.blob_id("mp4"), "transactions": transactions("debit", charges, engine.ids.uuid)}
        return workflow_id

    def _answer(self, tenant: str, workflow_id: str, now: float) -> dict[str, Any]:
        kept = self.kept[(tenant, workflow_id)]
        plan, price = kept["plan"], kept["price"]
        at = lifecycle.step_now(plan, now)
        starts, ends = iso_text(plan.processing), iso_text(plan.end)
        queue = {"support": "available", "precedingJobs": 1}
        job = {"id": kept["job"], "status": at.status, "queuePosition": {**queue, "startAt": starts,
                                                                        "completeAt": ends},
               "cost": price / 100, "estimatedProgressRate": at.progress}
        step = {"$type": VIDEO_GEN, "name": "$0", "priority": "normal", "timeout": kept["timeout"],
                "status": at.status, "metadata": {}, "estimatedProgressRate": at.progress, "input": kept["input"],
                "queuePosition": {**queue, "estimatedStartAt": starts, "estimatedCompleteAt": ends},
                "jobs": [job]}
        return {"id": workflow_id, "createdAt": iso_text(kept["created"]),
                "transactions": {"list": kept["transactions"]}, "metadata": {}, "status": at.status,
                "tags": [], "arguments": {}, "steps": [step], "callbacks": [], "tips": dict(NO_TIPS),
                "cost": {"base": price, "factors": {"base": float(price), "quantity": 1.0}, "fixed": {},
                         "tips": dict(NO_TIPS), "total": price},
                "upgradeMode": "manual", "currencies": list(kept["order"]), "forceRefunded": False}
