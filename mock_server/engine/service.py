"""The engine: submit, read, query and change workflows; apply due lifecycle events. No HTTP here."""

from __future__ import annotations

import hashlib
import heapq
import json
import random
import threading
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Callable

from contracts.cost import step_cost
from contracts.kling import is_http_url
from contracts.timespan import DEFAULT_STEP_TIMEOUT_SECONDS, format_timespan, parse_timespan
from contracts.validation import ContractViolation, Submission, validate_submission
from contracts.workflow import FAILED_STATUSES, TERMINAL_STATUSES
from mock_server.clock import Clock, VirtualClock
from mock_server.engine import lifecycle
from mock_server.engine.accounts import Accounts, Charge, charging_order
from mock_server.engine.blobs import DEFAULT_URL_TTL, BlobSigner
from mock_server.engine.faults import Faults
from mock_server.engine.ids import IdFactory
from mock_server.engine.lifecycle import Transition
from mock_server.engine.outcomes import Outcome, OutcomeError, OutcomeQueues, parse_directives
from mock_server.engine.records import StepRecord, WorkflowRecord
from mock_server.engine.requestlog import RequestLog
from mock_server.engine.store import MemoryStore, Store
from mock_server.engine.views import Renderer

Listener = Callable[[WorkflowRecord, Transition], None]
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


class NotFound(Exception):
    """No such workflow, step or blob for this tenant."""


class Conflict(Exception):
    """The workflow's state blocks this change (e.g. updating a step that already started)."""


@dataclass
class EngineConfig:
    """Knobs of the fake; every one has a documented default."""

    seed: int = 0
    url_ttl: float = DEFAULT_URL_TTL
    secret: bytes | None = None
    allow_http_callbacks: bool = True
    public_url: str = "http://127.0.0.1:8000"
    balances: dict[str, int] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Engine:
    """All workflows of all tenants, driven by an injected clock."""

    def __init__(self, clock: Clock, store: Store | None = None, config: EngineConfig | None = None):
        self.clock = clock
        self.config = config or EngineConfig()
        self.store: Store = store if store is not None else MemoryStore()
        self.accounts = Accounts(self.config.balances)
        self.outcomes = OutcomeQueues()
        self.faults = Faults()
        self.requests = RequestLog()
        secret = self.config.secret or hashlib.sha256(f"civitai-mock:{self.config.seed}".encode()).digest()
        self.signer = BlobSigner(secret, self.config.url_ttl)
        self.render = Renderer(self.signer)
        self.listeners: list[Listener] = []
        self._lock = threading.RLock()
        self._heap: list[tuple[float, int, str, str]] = []
        self._reseed()
        for record in self.store.unfinished():
            self._schedule(record)
        if isinstance(clock, VirtualClock):
            clock.subscribe(self.next_due, self.settle)

    # --- time ------------------------------------------------------------------------------

    def _reseed(self) -> None:
        # a store that already holds workflows (SQLite after a restart) continues on a fresh stream,
        # so job, blob and transaction ids never repeat
        resume = self.store.last_seq()
        self.rng = random.Random(self.config.seed if resume == 0 else f"{self.config.seed}:{resume}")
        self.ids = IdFactory(self.rng)

    def now(self) -> float:
        """Current clock time, after applying every event due by then."""
        now = self.clock.now()
        self.settle(now)
        return now

    def next_due(self) -> float | None:
        """When the next lifecycle event of any workflow is due."""
        return self._heap[0][0] if self._heap else None

    def settle(self, now: float) -> None:
        """Apply every lifecycle event due by ``now``, in time order (refunds, webhooks, ephemeral cleanup)."""
        with self._lock:
            while self._heap and self._heap[0][0] <= now:
                _, _, tenant, workflow_id = heapq.heappop(self._heap)
                record = self.store.get(tenant, workflow_id)
                if record is not None:
                    self._apply_due(record, now)

    def _schedule(self, record: WorkflowRecord) -> None:
        due = record.next_event_at()
        if due is not None:
            heapq.heappush(self._heap, (due, record.seq, record.tenant, record.id))

    def _apply_due(self, record: WorkflowRecord, now: float) -> None:
        events = record.events()
        applied_any = False
        while record.applied < len(events) and events[record.applied].at <= now:
            event = events[record.applied]
            if event.scope == "workflow" and event.status in FAILED_STATUSES:
                self._refund(record)
            record.applied += 1
            applied_any = True
            for listener in self.listeners:
                listener(record, event)
        if not applied_any:
            return
        finished = record.applied >= len(events)
        if finished and record.ephemeral:
            self.store.remove(record.tenant, record.id)
            return
        self.store.save(record)
        if finished:
            record._events = None  # a finished workflow needs no event list: free its memory
        else:
            self._schedule(record)

    def _refund(self, record: WorkflowRecord) -> None:
        if record.refunded or record.price == 0:
            return
        debits = [t for t in record.transactions if t["type"] == "debit"]
        self.accounts.credit(record.tenant, [Charge(t["accountType"], t["amount"]) for t in debits])
        record.transactions += [
            {"type": "credit", "amount": t["amount"], "id": self.ids.uuid(), "accountType": t["accountType"]}
            for t in debits
        ]
        record.refunded = True

    # --- submit ----------------------------------------------------------------------------

    def submit(self, tenant: str, body: Any, *, whatif: bool = False, wait: float = 0) -> tuple[dict | WorkflowRecord, bool]:
        """Validate and create a workflow; return (record, created). With ``whatif`` return a preview dict."""
        with self._lock:
            now = self.now()
            submission = validate_submission(body)
            template = submission.template
            self._check_callbacks(submission)
            if template.ephemeral and not template.callbacks and wait <= 0:
                raise ContractViolation({"ephemeral": [
                    "An ephemeral workflow needs a callback or wait > 0: otherwise its result could never be read"]})
            if template.external_id and not whatif:
                existing = self.store.by_external_id(tenant, template.external_id)
                if existing is not None and not existing.deleted:
                    return existing, False
            price = sum(step_cost(s.input) for s in submission.steps)
            order = charging_order(template.currencies, template.allow_mature_content)
            if whatif:
                outcomes = self._outcomes(tenant, submission, consume=False)
                return self._preview(tenant, submission, outcomes, price, order, now), False
            self._outcomes(tenant, submission, consume=False)  # bad directives are a 400 before any money moves
            charges = self.accounts.debit(tenant, price, order)  # a refusal leaves the outcome queue untouched
            outcomes = self._outcomes(tenant, submission, consume=True)
            transactions = [{"type": "debit", "amount": c.amount, "id": self.ids.uuid(), "accountType": c.account}
                            for c in charges]
            record = self._build(tenant, submission, outcomes, price, order, transactions, now, self.ids, self.rng)
            record.seq = self.store.next_seq()
            self.store.add(record)
            self._schedule(record)
            return record, True

    def _check_callbacks(self, submission: Submission) -> None:
        errors: dict[str, list[str]] = {}
        for index, callback in enumerate(submission.template.callbacks or []):
            host = callback.url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[0]
            if callback.url.startswith("https://"):
                continue
            if self.config.allow_http_callbacks and (host in LOOPBACK_HOSTS or host.startswith("127.")):
                continue
            errors[f"callbacks[{index}].url"] = [
                "Callback URLs must use https (plain http is accepted for loopback hosts only when the fake "
                "runs locally with --allow-http-callbacks)"]
        if errors:
            raise ContractViolation(errors)

    def _outcomes(self, tenant: str, submission: Submission, consume: bool) -> list[Outcome]:
        found: list[Outcome] = []
        for index, step in enumerate(submission.steps):
            try:
                forced = parse_directives(step.input.prompt)
            except OutcomeError as exc:
                raise ContractViolation({f"steps[{index}].input.prompt": [str(exc)]}) from None
            if consume and (forced is None or forced.kind == "succeed"):
                queued = self.outcomes.pop(tenant)
                if queued is not None and forced is not None:  # timing/content directives refine a queued ending
                    queued = replace(queued, runtime=forced.runtime if forced.runtime is not None else queued.runtime,
                                     nsfw_level=forced.nsfw_level or queued.nsfw_level)
                forced = queued or forced
            found.append(forced or Outcome())
        return found

    def _build(self, tenant: str, submission: Submission, outcomes: list[Outcome], price: int, order: list[str],
               transactions: list[dict], now: float, ids: IdFactory, rng: random.Random) -> WorkflowRecord:
        template = submission.template
        steps = []
        for index, (step, outcome) in enumerate(zip(submission.steps, outcomes)):
            timeout = parse_timespan(step.template.timeout) if step.template.timeout else DEFAULT_STEP_TIMEOUT_SECONDS
            video_input = step.input
            steps.append(StepRecord(
                name=step.template.name or f"${index}", input=video_input.to_json(),
                priority=step.template.priority or "normal", timeout=format_timespan(timeout),
                retries=step.template.retries, metadata=step.template.metadata or {},
                job_id=ids.uuid(), blob_id=ids.blob_id(), aspect_ratio=video_input.aspect_ratio,
                seconds=video_input.seconds, audio=video_input.generates_audio,
                nsfw_level=outcome.nsfw_level or "pg", job_cost=round(step_cost(video_input) / 100, 2),
                plan=lifecycle.plan_step(video_input, outcome, now, timeout, rng),
            ))
        return WorkflowRecord(
            id=ids.workflow_id(now), tenant=tenant, seq=0, created=now, steps=steps,
            price=price, transactions=transactions, metadata=template.metadata or {}, tags=template.tags or [],
            arguments=template.arguments or {},
            callbacks=[c.to_json() for c in template.callbacks or []],
            tips={"civitai": template.tips.civitai, "creators": template.tips.creators} if template.tips
            else {"civitai": 0, "creators": 0},
            experimental=template.experimental, allow_mature_content=template.allow_mature_content,
            upgrade_mode=template.upgrade_mode or "manual", currencies=order,
            ephemeral=template.ephemeral, external_id=template.external_id,
        )

    def _preview(self, tenant: str, submission: Submission, outcomes: list[Outcome], price: int,
                 order: list[str], now: float) -> dict[str, Any]:
        charges, short = self.accounts.plan(tenant, price, order)
        scratch = random.Random(f"whatif:{self.config.seed}")
        record = self._build(tenant, submission, outcomes, price, order,
                             [{"type": "debit", "amount": c.amount, "accountType": c.account} for c in charges],
                             now, IdFactory(scratch), scratch)
        view = self.render.workflow(record, now, self.config.public_url)
        view.pop("id", None)
        view["transactions"]["insufficientBuzz"] = short
        return view

    # --- read ------------------------------------------------------------------------------

    def get(self, tenant: str, workflow_id: str) -> WorkflowRecord:
        """A tenant's workflow, or NotFound (another tenant's workflow is not found either)."""
        with self._lock:
            self.now()
            record = self.store.get(tenant, workflow_id)
            if record is None or record.deleted:
                raise NotFound(f"Workflow '{workflow_id}' was not found.")
            return record

    def view(self, record: WorkflowRecord, base_url: str | None = None, hide_mature: bool = False) -> dict[str, Any]:
        """The Workflow JSON of a record right now."""
        with self._lock:
            return self.render.workflow(record, self.now(), base_url or self.config.public_url, hide_mature)

    def status(self, record: WorkflowRecord) -> str:
        """The workflow status right now."""
        return self.render.workflow_status(record, self.now())

    def fingerprint(self, record: WorkflowRecord) -> tuple[str, ...]:
        """Workflow and step statuses right now (what ``until=change`` watches)."""
        now = self.now()
        return (self.render.workflow_status(record, now),
                *(self.render.step_status(record, s, now) for s in record.steps))

    def query(self, tenant: str, *, cursor: str | None = None, take: int = 100, tags: list[str] | None = None,
              exclude_tags: list[str] | None = None, ascending: bool = False, from_date: datetime | None = None,
              to_date: datetime | None = None, exclude_failed: bool = False,
              text: str | None = None) -> tuple[list[WorkflowRecord], str]:
        """A page of a tenant's workflows (newest first unless ``ascending``) and the next cursor ('' at the end)."""
        with self._lock:
            now = self.now()
            start = _decode_cursor(cursor)
            lo = from_date.timestamp() if from_date else None
            hi = to_date.timestamp() if to_date else None

            def keep(record: WorkflowRecord) -> bool:
                if tags and not all(t in record.tags for t in tags):
                    return False
                if exclude_tags and any(t in record.tags for t in exclude_tags):
                    return False
                if (lo is not None and record.created < lo) or (hi is not None and record.created > hi):
                    return False
                if exclude_failed and self.render.workflow_status(record, now) in FAILED_STATUSES:
                    return False
                return not text or text.lower() in json.dumps(record.metadata).lower()

            filtered = bool(tags or exclude_tags or lo or hi or exclude_failed or text)
            records, next_seq = self.store.page(tenant, start, take, ascending, keep if filtered else None)
            return records, ("" if next_seq is None else str(next_seq))

    # --- change ----------------------------------------------------------------------------

    def cancel(self, tenant: str, workflow_id: str) -> WorkflowRecord:
        """Cancel a running workflow (refunding it); a finished one is left as it is."""
        with self._lock:
            record = self.get(tenant, workflow_id)
            now = self.now()
            if self.render.workflow_status(record, now) not in TERMINAL_STATUSES:
                record.cancel(now)
                self._schedule(record)
                self.settle(now)
            return record

    def delete(self, tenant: str, workflow_id: str) -> None:
        """DeleteWorkflow: cancel a running workflow; hide a finished one from then on."""
        with self._lock:
            record = self.get(tenant, workflow_id)
            if self.status(record) in TERMINAL_STATUSES:
                record.deleted = True
                self.store.save(record)
            else:
                self.cancel(tenant, workflow_id)

    def save(self, record: WorkflowRecord) -> None:
        """Persist a changed record."""
        with self._lock:
            record._events = None
            self.store.save(record)

    def reset(self) -> None:
        """Forget every workflow, balance, outcome, fault and logged request; restart ids from the seed."""
        with self._lock:
            self.store.clear()
            self.accounts.clear()
            self.outcomes.clear()
            self.faults.clear()
            self.requests.clear()
            self.signer.expire_next(0)
            self._heap.clear()
            self._reseed()
            if isinstance(self.clock, VirtualClock):
                self.clock.reset()


def _decode_cursor(cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        return int(cursor)
    except ValueError:
        raise ContractViolation({"cursor": [f"'{cursor}' is not a cursor returned by QueryWorkflows"]}) from None
