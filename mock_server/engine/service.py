"""The engine: the one owner of a fake's state. Submit, read, query and change workflows; apply due
lifecycle events; hold balances, outcome queues, faults, the request log and the webhook book.

Every public method takes the one ``StateLock``; records never leave the engine (callers get JSON
views), and storage is written after the lock is released. No HTTP here. The class is assembled
from small parts: ``core`` (state, time, money), ``reading``, ``changing``, ``blob_access``.
"""

from __future__ import annotations

import random
from typing import Any

from civitai_mock.contracts.validation import ContractViolation, validate_submission
from civitai_mock.mock_server.engine import dependencies
from civitai_mock.mock_server.engine import submission as build
from civitai_mock.mock_server.engine.accounts import charging_order, transactions
from civitai_mock.mock_server.engine.blob_access import BlobAccess, BlobInfo
from civitai_mock.mock_server.engine.blobs import tenant_key
from civitai_mock.mock_server.engine.changing import WorkflowChanges
from civitai_mock.mock_server.engine.core import EngineConfig
from civitai_mock.mock_server.engine.errors import BlobRefused, Conflict, NotFound, UpgradeRefused
from civitai_mock.mock_server.engine.history import WorkflowHistory
from civitai_mock.mock_server.engine.ids import IdFactory
from civitai_mock.mock_server.engine.records import WorkflowRecord, price_with_tips

__all__ = ["BlobInfo", "BlobRefused", "Conflict", "Engine", "EngineConfig", "NotFound", "UpgradeRefused"]


class Engine(WorkflowChanges, BlobAccess, WorkflowHistory):
    """All workflows of all tenants, driven by an injected clock, behind one lock."""

    def submit(self, tenant: str, body: Any, *, wait: float = 0) -> str:
        """Validate, charge and store a workflow; return its id (an existing one for a known ``externalId``)."""
        with self.state.changing():
            return self._store_submission(tenant, body, wait, self.now()).id

    def submit_and_view(self, tenant: str, body: Any, base_url: str | None = None,
                        hide_mature: bool = False) -> dict[str, Any]:
        """``submit`` without waiting, answered with the workflow as it stands the moment it is stored."""
        with self.state.changing():
            now = self.now()
            record = self._store_submission(tenant, body, 0, now)
            return self.render.workflow(record, now, base_url or self.config.public_url, hide_mature)

    def _store_submission(self, tenant: str, body: Any, wait: float, now: float) -> WorkflowRecord:
        """The stored record of a submission (under the lock): a new one, or the one a known ``externalId`` names."""
        submission, order = self._validated(body, wait)
        template = submission.template
        if template.external_id:
            existing = self.store.by_external_id(tenant, template.external_id)
            if existing is not None and not existing.deleted:
                return existing
        forced = build.forced_outcomes(submission)
        queued = self.outcomes.peek(tenant, sum(map(build.takes_queued, forced)))
        outcomes = build.assign(forced, queued)
        prices, tips = build.step_prices(submission), build.tip_rates(submission)
        charges = self.accounts.debit(tenant, price_with_tips(sum(prices), tips), order)  # refused: nothing drawn
        drawn = self.ids.snapshot() if self.store.persistent else None  # self.ids draws from self.rng
        try:
            record = build.build_record(tenant, submission, outcomes, order, [], now, self.ids, self.rng,
                                        self.scale, prices, tips)
            record.transactions = transactions("debit", charges, self.ids.uuid)
            dependencies.compose(record, self.render.output_at)  # waiting steps: planned from their dependencies
            record.seq = self.store.next_seq()
            self.store.add(record)
        except Exception:
            self.accounts.credit(tenant, charges)  # nothing stored: nothing charged, no ids drawn
            if drawn is not None:
                self.ids.restore(drawn)
            raise
        if queued:
            self.outcomes.drop(tenant, len(queued))
        self._tenant_keys[tenant_key(tenant)] = tenant  # tenant_key caches its hash
        self._schedule(record)
        return record

    def preview(self, tenant: str, body: Any, *, wait: float = 0) -> dict[str, Any]:
        """The workflow a submission would create (``whatif``): cost, transactions, ``insufficientBuzz``."""
        with self.state.changing():
            now = self.now()
            submission, order = self._validated(body, wait)
            outcomes = build.assign(build.forced_outcomes(submission), [])
            scratch = random.Random(f"whatif:{self.config.seed}")
            record = build.build_record(tenant, submission, outcomes, order, [], now, IdFactory(scratch), scratch,
                                        self.scale)
            charges, short = self.accounts.plan(tenant, record.price, order)
            record.transactions = transactions("debit", charges, None)
            dependencies.compose(record, self.render.output_at)
            view = self.render.workflow(record, now, self.config.public_url)
            view.pop("id", None)
            view["transactions"]["insufficientBuzz"] = short
            return view

    def _validated(self, body: Any, wait: float) -> tuple[Any, list[str]]:
        submission = validate_submission(body)
        template = submission.template
        build.check_callbacks(submission, self.config.allow_http_callbacks)
        if template.ephemeral and not template.callbacks and wait <= 0:
            raise ContractViolation({"ephemeral": [
                "An ephemeral workflow needs a callback or wait > 0: otherwise its result could never be read"]})
        return submission, charging_order(template.currencies, template.allow_mature_content)
