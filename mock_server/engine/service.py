"""The engine: the one owner of a fake's state. Submit, read, query and change workflows; apply due
lifecycle events; hold balances, outcome queues, faults, the request log and the webhook book.

Every public method takes the one ``StateLock``; records never leave the engine (callers get JSON
views), and storage is written after the lock is released. No HTTP here.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import random
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from civitai_mock.contracts.validation import (
    ContractViolation,
    validate_submission,
    validate_video_input,
)
from civitai_mock.contracts.workflow import (
    FAILED_STATUSES, MATURE_CONTENT_BLOCK, MATURE_CURRENCY, TERMINAL_STATUSES,
)
from civitai_mock.mock_server.clock import Clock, VirtualClock
from civitai_mock.mock_server.engine import submission as build
from civitai_mock.mock_server.engine import updates
from civitai_mock.mock_server.engine.accounts import Accounts, Charge, InsufficientBuzz, charging_order
from civitai_mock.mock_server.engine.blobs import DEFAULT_URL_TTL, BlobSigner, tenant_key
from civitai_mock.mock_server.engine.faults import Faults
from civitai_mock.mock_server.engine.ids import IdFactory
from civitai_mock.mock_server.engine.outcomes import OutcomeQueues
from civitai_mock.mock_server.engine.records import StepRecord, WorkflowRecord
from civitai_mock.mock_server.engine.requestlog import RequestLog
from civitai_mock.mock_server.engine.state import StateLock
from civitai_mock.mock_server.engine.store import MemoryStore, Store
from civitai_mock.mock_server.engine.updates import Conflict
from civitai_mock.mock_server.engine.views import Renderer
from civitai_mock.mock_server.engine.webhooks import BACKOFF_SECONDS, WebhookBook

__all__ = ["BlobInfo", "BlobRefused", "Conflict", "Engine", "EngineConfig", "NotFound", "UpgradeRefused"]


class NotFound(Exception):
    """No such workflow, step or blob for this tenant."""


class BlobRefused(Exception):
    """A blob that may not be handed out: an expired or tampered signed URL, withheld content (403)."""


class UpgradeRefused(InsufficientBuzz):
    """Allowing mature content needs yellow Buzz the tenant does not have (the guide's 400)."""


@dataclass(frozen=True)
class BlobInfo:
    """A blob as routes need it: whose it is and what media it serves (a copy, read under the lock)."""

    workflow_id: str
    tenant: str
    blob_id: str
    nsfw_level: str
    aspect_ratio: str
    seconds: int
    audio: bool

    @classmethod
    def of(cls, record: WorkflowRecord, step: StepRecord) -> "BlobInfo":
        """The info of ``step``'s blob."""
        video = step.video_input()
        return cls(record.id, record.tenant, step.blob_id, step.nsfw_level, video.aspect_ratio, video.seconds,
                   video.generates_audio)


@dataclass
class EngineConfig:
    """Knobs of the engine; every one has a documented default."""

    seed: int = 0
    url_ttl: float = DEFAULT_URL_TTL
    secret: bytes | None = None
    allow_http_callbacks: bool = True
    public_url: str = "http://127.0.0.1:8000"
    balances: dict[str, int] | None = None
    webhook_attempts: int = 8
    webhook_backoff: tuple[float, ...] = field(default=BACKOFF_SECONDS)


class Engine:
    """All workflows of all tenants, driven by an injected clock, behind one lock."""

    def __init__(self, clock: Clock, store: Store | None = None, config: EngineConfig | None = None):
        self.clock = clock
        self.config = config or EngineConfig()
        self.store: Store = store if store is not None else MemoryStore()
        self.state = StateLock(self.store.flush)
        self.accounts = Accounts(self.state, self.config.balances, on_change=self.store.save_balances)
        for tenant, balances in self.store.balances():
            self.accounts.load(tenant, balances)
        self.outcomes = OutcomeQueues(self.state)
        self.faults = Faults(self.state)
        self.requests = RequestLog(self.state)
        secret = self.config.secret or hashlib.sha256(f"civitai-mock:{self.config.seed}".encode()).digest()
        self.signer = BlobSigner(secret, self.config.url_ttl)
        self.render = Renderer(self.signer)
        self.webhooks = WebhookBook(
            self.state, self.store, lambda r, e, detailed: self.render.event(r, e, detailed, self.config.public_url),
            max_attempts=self.config.webhook_attempts, backoff=self.config.webhook_backoff)
        self._heap: list[tuple[float, int, str, str]] = []
        self._tenant_keys: dict[str, str] = {tenant_key(t): t for t in self.store.tenants()}
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
        with self.state.reading():
            return self._heap[0][0] if self._heap else None

    def settle(self, now: float) -> None:
        """Apply every lifecycle event due by ``now``, in time order (refunds, webhooks, ephemeral cleanup)."""
        if not self._heap or self._heap[0][0] > now:
            return
        with self.state.changing():
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
            if event.scope == "job" and event.status == "succeeded" and self._upgrade_automatically(record, event.step):
                events = record.events()  # the step now ends differently: its end events were rebuilt
                event = events[record.applied]
            if event.scope == "workflow" and event.status in FAILED_STATUSES:
                self._refund(record)
            record.applied += 1
            applied_any = True
            self.webhooks.on_event(record, event)
        if not applied_any:
            return
        finished = record.applied >= len(events)
        if finished and record.ephemeral:
            record.deleted = True  # gone for every reader; only a held submit still answers with it
        self.store.save(record)
        if finished:
            record.plans_changed()  # a finished workflow needs no event list: free its memory
        else:
            self._schedule(record)

    def _refund(self, record: WorkflowRecord) -> None:
        held = record.charged()
        if record.refunded or record.keep_charges or not held:
            return
        self.accounts.credit(record.tenant, [Charge(account, amount) for account, amount in held.items()])
        record.transactions += [{"type": "credit", "amount": amount, "id": self.ids.uuid(), "accountType": account}
                                for account, amount in held.items()]
        record.refunded = True

    def _upgrade(self, record: WorkflowRecord) -> None:
        """Pay in yellow what blue/green paid (refunding those), so mature output may be released."""
        other = {account: amount for account, amount in record.charged().items() if account != MATURE_CURRENCY}
        total = sum(other.values())
        if total:
            try:
                charges = self.accounts.debit(record.tenant, total, [MATURE_CURRENCY])
            except InsufficientBuzz as short:
                raise UpgradeRefused(total, short.available, [MATURE_CURRENCY]) from None
            self.accounts.credit(record.tenant, [Charge(account, amount) for account, amount in other.items()])
            record.transactions += [{"type": "credit", "amount": amount, "id": self.ids.uuid(), "accountType": account}
                                    for account, amount in other.items()]
            record.transactions += [{"type": "debit", "amount": c.amount, "id": self.ids.uuid(),
                                     "accountType": c.account} for c in charges]
        record.currencies = [MATURE_CURRENCY]

    def _upgrade_automatically(self, record: WorkflowRecord, index: int) -> bool:
        """``upgradeMode: automatic``: swap to yellow as mature output arrives, or fail the step; True if it failed."""
        step = record.steps[index]
        if record.upgrade_mode != "automatic" or record.allow_mature_content is not None \
                or not record.waits_for_upgrade(step):
            return False
        try:
            self._upgrade(record)
            return False
        except UpgradeRefused:
            step.plan = replace(step.plan, status="failed", reason="blocked", blocked_reason=MATURE_CONTENT_BLOCK)
            record.plans_changed()
            return True

    # --- submit ----------------------------------------------------------------------------

    def submit(self, tenant: str, body: Any, *, wait: float = 0) -> str:
        """Validate, charge and store a workflow; return its id (an existing one for a known ``externalId``)."""
        with self.state.changing():
            now = self.now()
            submission, order = self._validated(body, wait)
            template = submission.template
            if template.external_id:
                existing = self.store.by_external_id(tenant, template.external_id)
                if existing is not None and not existing.deleted:
                    return existing.id
            forced = build.forced_outcomes(submission)
            takers = sum(1 for f in forced if build.takes_queued(f))
            queued = self.outcomes.peek(tenant, takers)
            outcomes, taken = [], iter(queued)
            for one in forced:
                outcomes.append(build.combine(one, next(taken, None) if build.takes_queued(one) else None))
            rng_state = self.rng.getstate()
            record = build.build_record(tenant, submission, outcomes, order, [], now, self.ids, self.rng)
            try:
                charges = self.accounts.debit(tenant, record.price, order)
            except Exception:
                self.rng.setstate(rng_state)  # a refused submission draws no ids: later ones stay the same
                raise
            record.transactions = [{"type": "debit", "amount": c.amount, "id": self.ids.uuid(),
                                    "accountType": c.account} for c in charges]
            record.seq = self.store.next_seq()
            try:
                self.store.add(record)
            except Exception:
                self.accounts.credit(tenant, charges)  # nothing stored: nothing charged
                raise
            self.outcomes.drop(tenant, len(queued))
            self._tenant_keys[tenant_key(tenant)] = tenant
            self._schedule(record)
            return record.id

    def preview(self, tenant: str, body: Any, *, wait: float = 0) -> dict[str, Any]:
        """The workflow a submission would create (``whatif``): cost, transactions, ``insufficientBuzz``."""
        with self.state.changing():
            now = self.now()
            submission, order = self._validated(body, wait)
            outcomes = [build.combine(f, None) for f in build.forced_outcomes(submission)]
            scratch = random.Random(f"whatif:{self.config.seed}")
            record = build.build_record(tenant, submission, outcomes, order, [], now, IdFactory(scratch), scratch)
            charges, short = self.accounts.plan(tenant, record.price, order)
            record.transactions = [{"type": "debit", "amount": c.amount, "accountType": c.account} for c in charges]
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

    # --- read ------------------------------------------------------------------------------

    def _record(self, tenant: str, workflow_id: str, gone_too: bool = False) -> WorkflowRecord:
        record = self.store.get(tenant, workflow_id)
        if record is None or (record.deleted and not gone_too):
            raise NotFound(f"Workflow '{workflow_id}' was not found.")
        return record

    def view(self, tenant: str, workflow_id: str, base_url: str | None = None,
             hide_mature: bool = False, gone_too: bool = False) -> dict[str, Any]:
        """The Workflow JSON right now (NotFound for another tenant's workflow too).

        ``gone_too`` also finds a finished ephemeral workflow: the answer to its own held submit.
        """
        with self.state.changing():
            now = self.now()
            record = self._record(tenant, workflow_id, gone_too)
            return self.render.workflow(record, now, base_url or self.config.public_url, hide_mature)

    def fingerprint(self, tenant: str, workflow_id: str) -> tuple[str, ...]:
        """Workflow and step statuses right now (what ``until=change`` watches); () once it is gone."""
        with self.state.changing():
            now = self.now()
            record = self.store.get(tenant, workflow_id)
            if record is None:
                return ()
            return (self.render.workflow_status(record, now),
                    *(self.render.step_status(record, s, now) for s in record.steps))

    def query(self, tenant: str, *, cursor: str | None = None, take: int = 100, tags: list[str] | None = None,
              exclude_tags: list[str] | None = None, ascending: bool = False, from_date: datetime | None = None,
              to_date: datetime | None = None, exclude_failed: bool = False, text: str | None = None,
              base_url: str | None = None, hide_mature: bool = False) -> tuple[list[dict[str, Any]], str]:
        """A page of a tenant's workflows (newest first unless ``ascending``) and the next cursor ('' at the end)."""
        with self.state.changing():
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
            url = base_url or self.config.public_url
            items = [self.render.workflow(r, now, url, hide_mature) for r in records]
            return items, ("" if next_seq is None else str(next_seq))

    # --- change ----------------------------------------------------------------------------

    def cancel(self, tenant: str, workflow_id: str) -> None:
        """Cancel a running workflow (refunding it); a finished one is left as it is."""
        with self.state.changing():
            now = self.now()
            record = self._record(tenant, workflow_id)
            if self.render.workflow_status(record, now) not in TERMINAL_STATUSES:
                record.cancel(now)
                self._schedule(record)
                self.settle(now)

    def delete(self, tenant: str, workflow_id: str) -> None:
        """DeleteWorkflow: the workflow is gone for every read and query from now on.

        Work not yet finished is stopped; it is refunded only when no step has started processing
        (the schema: "may trigger a refund if the work … has not yet started").
        """
        with self.state.changing():
            now = self.now()
            record = self._record(tenant, workflow_id)
            if self.render.workflow_status(record, now) not in TERMINAL_STATUSES:
                started = any(s.plan.processing is not None and s.plan.processing <= now for s in record.steps)
                record.keep_charges = started
                record.cancel(now)
                self._schedule(record)
                self.settle(now)
            record.deleted = True
            self.store.save(record)

    def update_workflow(self, tenant: str, workflow_id: str, body: Any) -> None:
        """UpdateWorkflow: replace metadata / tags, allow mature content, or cancel."""
        request = updates.parse_update(body)
        with self.state.changing():
            record = self._record(tenant, workflow_id)
            if request.allow_mature_content is True and record.allow_mature_content is not True:
                self._upgrade(record)  # the guide: refund blue/green, charge yellow; 400 when yellow is short
            updates.apply_update(record, request)
            self.store.save(record)
            if request.status == "canceled":
                self.cancel(tenant, workflow_id)

    def patch_workflow(self, tenant: str, workflow_id: str, operations: Any) -> None:
        """PatchWorkflow: JSON Patch over ``metadata``, ``tags``, ``allowMatureContent`` and ``status``."""
        with self.state.changing():
            now = self.now()
            record = self._record(tenant, workflow_id)
            change = updates.workflow_patch(record, self.render.workflow_status(record, now), operations)
            self.update_workflow(tenant, workflow_id, change)

    def add_tag(self, tenant: str, workflow_id: str, tag: Any) -> None:
        """AddWorkflowTag."""
        with self.state.changing():
            record = self._record(tenant, workflow_id)
            updates.add_tag(record, tag)
            self.store.save(record)

    def remove_tag(self, tenant: str, workflow_id: str, tag: str | None) -> None:
        """RemoveWorkflowTag (one tag) or RemoveAllWorkflowTags (``tag`` None)."""
        with self.state.changing():
            record = self._record(tenant, workflow_id)
            updates.remove_tag(record, tag)
            self.store.save(record)

    # --- steps -----------------------------------------------------------------------------

    def _step(self, tenant: str, workflow_id: str, step_name: str) -> tuple[WorkflowRecord, int]:
        record = self._record(tenant, workflow_id)
        index = record.step_index(step_name)
        if index is None:
            raise NotFound(f"Workflow '{workflow_id}' has no step named '{step_name}'.")
        return record, index

    def step_view(self, tenant: str, workflow_id: str, step_name: str, base_url: str | None = None) -> dict[str, Any]:
        """GetWorkflowStep (``0`` finds ``$0``)."""
        with self.state.changing():
            now = self.now()
            record, index = self._step(tenant, workflow_id, step_name)
            return self.render.step(record, index, now, base_url or self.config.public_url)

    def update_step(self, tenant: str, workflow_id: str, step_name: str, body: Any) -> None:
        """UpdateWorkflowStep: replace the step's metadata (409 once the step started)."""
        metadata = updates.step_metadata(body)
        with self.state.changing():
            now = self.now()
            record, index = self._step(tenant, workflow_id, step_name)
            step = record.steps[index]
            updates.check_changeable(step, self.render.step_status(record, step, now))
            step.metadata = metadata
            self.store.save(record)

    def patch_step(self, tenant: str, workflow_id: str, step_name: str, operations: Any) -> None:
        """PatchWorkflowStep over metadata and input: a new input re-plans and re-prices the step."""
        with self.state.changing():
            now = self.now()
            record, index = self._step(tenant, workflow_id, step_name)
            step = record.steps[index]
            updates.check_changeable(step, self.render.step_status(record, step, now))
            metadata, new_input = updates.step_patch(step, operations)
            if new_input is not None:
                self._replace_input(record, index, new_input)
            step.metadata = metadata
            self.store.save(record)
            self._schedule(record)

    def _replace_input(self, record: WorkflowRecord, index: int, new_input: Any) -> None:
        step = record.steps[index]
        before, old = record.price, step.input
        step.replace_input(new_input)
        difference = record.price - before
        if difference > 0:
            try:
                charges = self.accounts.debit(record.tenant, difference, record.currencies)
            except Exception:
                step.replace_input(validate_video_input(old))
                raise
            record.transactions += [{"type": "debit", "amount": c.amount, "id": self.ids.uuid(),
                                     "accountType": c.account} for c in charges]
        elif difference < 0:
            credits = _give_back(record.charged(), -difference, record.currencies)
            self.accounts.credit(record.tenant, credits)
            record.transactions += [{"type": "credit", "amount": c.amount, "id": self.ids.uuid(),
                                     "accountType": c.account} for c in credits]
        build.replan(record, index, random.Random(f"{self.config.seed}:{record.id}:{index}:{step.input}"))

    # --- blobs -----------------------------------------------------------------------------

    def _available(self, tenant: str, blob_id: str) -> tuple[WorkflowRecord, StepRecord]:
        now = self.now()
        owner = self.store.blob_owner(blob_id)
        if owner is None or owner[0] != tenant:
            raise NotFound(f"Blob '{blob_id}' was not found.")
        record = self._record(*owner)
        for step in record.steps:
            if step.blob_id == blob_id and self.render.step_status(record, step, now) == "succeeded":
                if record.withholds(step):
                    raise BlobRefused(f"Blob '{blob_id}' is mature content this workflow does not allow "
                                      "(allow it with UpdateWorkflow allowMatureContent: true, paid in yellow).")
                return record, step
        raise NotFound(f"Blob '{blob_id}' is not available (its step has not succeeded).")

    def blob(self, tenant: str, blob_id: str) -> BlobInfo:
        """What is known of a tenant's available blob (its step succeeded), or NotFound."""
        with self.state.changing():
            record, step = self._available(tenant, blob_id)
            return BlobInfo.of(record, step)

    def blob_view(self, tenant: str, blob_id: str, base_url: str | None = None) -> dict[str, Any]:
        """RefreshBlob: the blob with a freshly signed URL."""
        with self.state.changing():
            record, step = self._available(tenant, blob_id)
            return self.render.blob(record, step, self.clock.now(), base_url or self.config.public_url)

    def sign_blob(self, tenant: str, blob_id: str, base_url: str) -> str:
        """A freshly signed content URL for a tenant's available blob."""
        with self.state.changing():
            self._available(tenant, blob_id)
            return self.signer.sign(base_url, blob_id, tenant, self.clock.now()).url

    def signed_content(self, blob_id: str, tenant_key: str, expires: str, signature: str) -> BlobInfo:
        """The blob behind a signed content URL; ``BlobRefused`` when expired or tampered, NotFound when gone."""
        with self.state.changing():
            now = self.now()
            reason = self.signer.check(blob_id, tenant_key, expires, signature, now)
            if reason is not None:
                raise BlobRefused(reason)
            owner = self.store.blob_owner(blob_id)
            record = self.store.get(*owner) if owner else None
            step = next((s for s in record.steps if s.blob_id == blob_id), None) if record else None
            if record is None or step is None or (record.deleted and not record.ephemeral):
                raise NotFound(f"Blob '{blob_id}' was not found.")
            if record.withholds(step):
                raise BlobRefused(f"Blob '{blob_id}' is withheld: mature content this workflow does not allow.")
            return BlobInfo.of(record, step)

    def remember_clock(self, now: float) -> None:
        """Persist the clock's high-water mark (a restart never moves time back)."""
        with self.state.changing():
            self.store.set_meta("clock", repr(now))

    def remembered_clock(self) -> float | None:
        """The persisted clock high-water mark, if any."""
        value = self.store.get_meta("clock")
        return float(value) if value else None

    def tenant_of_url(self, key: str | None) -> str | None:
        """The tenant a signed blob URL's ``tenant`` parameter names (URLs never carry the token itself)."""
        with self.state.reading():
            return self._tenant_keys.get(key or "")

    def tenants(self) -> list[str]:
        """Every tenant the fake knows: with workflows, balances or logged requests, in first-seen order."""
        with self.state.reading():
            seen = [*self.store.tenants(), *self.accounts.tenants(), *self.requests.tenants()]
            return list(dict.fromkeys(t for t in seen if t))

    def expire_next_urls(self, count: int) -> None:
        """Make the next ``count`` signed URLs expire the moment they are issued (timeline testing)."""
        with self.state.changing():
            self.signer.expire_next(count)

    # --- configuration and reset -----------------------------------------------------------

    def configure(self, seed: int | None = None, url_ttl: float | None = None,
                  balances: dict[str, int] | None = None) -> None:
        """Change the seed, URL lifetime or default balances (the seed takes effect at the next reset)."""
        with self.state.changing():
            if seed is not None:
                self.config.seed = seed
            if url_ttl is not None:
                self.signer.ttl = url_ttl
            if balances is not None:
                self.accounts.set_defaults(balances)

    def reset(self) -> None:
        """Forget every workflow, balance, outcome, fault, route and pending delivery; restart ids and time.

        The request log and the webhook inbox are cleared separately (``requests.clear``,
        ``webhooks.clear_inbox``); a full reset of a fake does all three.
        """
        with self.state.changing():
            self.store.clear()
            self.accounts.clear()
            self.outcomes.clear()
            self.faults.clear()
            self.webhooks.reset()
            self.signer.expire_next(0)
            self._heap.clear()
            self._reseed()
            if isinstance(self.clock, VirtualClock):
                self.clock.reset()


def _give_back(held: dict[str, int], amount: int, order: list[str]) -> list[Charge]:
    """Credits worth ``amount`` from what a workflow holds, last-charged currency first."""
    credits, left = [], amount
    for account in reversed(order or list(held)):
        take = min(left, held.get(account, 0))
        if take > 0:
            credits.append(Charge(account, take))
            left -= take
    return credits


def _decode_cursor(cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        return int(cursor)
    except ValueError:
        raise ContractViolation({"cursor": [f"'{cursor}' is not a cursor returned by QueryWorkflows"]}) from None
