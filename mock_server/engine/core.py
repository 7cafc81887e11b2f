"""The engine's core: one lock over every component, the clock, the event heap, refunds and upgrades.

``Engine`` (service.py) adds submitting, reading, changing and blob access on top of this core.
"""

from __future__ import annotations

import heapq
import os
import random
from contextlib import nullcontext
from dataclasses import dataclass, field, replace

from civitai_mock.contracts.workflow import FAILED_STATUSES, MATURE_CONTENT_BLOCK, MATURE_CURRENCY
from civitai_mock.mock_server.clock import Clock, VirtualClock
from civitai_mock.mock_server.engine import dependencies
from civitai_mock.mock_server.engine.accounts import Accounts, Charge, InsufficientBuzz, split, transactions
from civitai_mock.mock_server.engine.blobs import DEFAULT_URL_TTL, BlobSigner, tenant_key
from civitai_mock.mock_server.engine.errors import NotFound, UpgradeRefused
from civitai_mock.mock_server.engine.faults import Faults
from civitai_mock.mock_server.engine.ids import IdFactory
from civitai_mock.mock_server.engine.outcomes import OutcomeQueues
from civitai_mock.mock_server.engine.records import WorkflowRecord
from civitai_mock.mock_server.engine.requestlog import RequestLog
from civitai_mock.mock_server.engine.state import StateLock
from civitai_mock.mock_server.engine.store import MemoryStore, Store
from civitai_mock.mock_server.engine.views import DEFAULT_PUBLIC_URL, Renderer
from civitai_mock.mock_server.engine.webhooks import BACKOFF_SECONDS, WebhookBook


@dataclass
class EngineConfig:
    """Knobs of the engine; every one has a documented default."""

    seed: int = 0
    url_ttl: float = DEFAULT_URL_TTL
    secret: bytes | None = None
    allow_http_callbacks: bool = True
    public_url: str = DEFAULT_PUBLIC_URL
    balances: dict[str, int] | None = None
    webhook_attempts: int = 8
    webhook_backoff: tuple[float, ...] = field(default=BACKOFF_SECONDS)


class EngineCore:
    """The engine's state and time: components under one lock, the event heap, money movements."""

    def __init__(self, clock: Clock, store: Store | None = None, config: EngineConfig | None = None):
        self.clock = clock
        #: how much shorter every duration runs (``1 / speed`` on a system clock, 1 on a virtual one)
        self.scale: float = getattr(clock, "scale", 1.0)
        self.config = config or EngineConfig()
        self.store: Store = store if store is not None else MemoryStore()
        self.state = StateLock(self.store.flush if self.store.persistent else None)  # memory: nothing to flush
        self.accounts = Accounts(self.state, self.config.balances,
                                 on_change=self.store.save_balances if self.store.persistent else None)
        for tenant, balances in self.store.balances():
            self.accounts.load(tenant, balances)
        self.outcomes = OutcomeQueues(self.state)
        self.faults = Faults(self.state)
        self.requests = RequestLog(self.state)
        self.signer = BlobSigner(self._secret(), self.config.url_ttl, self.scale)
        self.render = Renderer(self.signer, lambda: self.config.public_url)
        self.webhooks = WebhookBook(
            self.state, self.store, lambda r, e, detailed: self.render.event(r, e, detailed, self.config.public_url),
            max_attempts=self.config.webhook_attempts,
            backoff=tuple(step * self.scale for step in self.config.webhook_backoff))
        self._heap: list[tuple[float, int, str, str]] = []
        self._tenant_keys: dict[str, str] = {tenant_key(t): t for t in self.store.tenants()}
        self._reseed()
        for record in self.store.unfinished():
            self._schedule(record)
        if isinstance(clock, VirtualClock):
            clock.subscribe(self.next_due, self.settle)

    def _secret(self) -> bytes:
        """The URL-signing secret: given, or kept in the store (SQLite), or random for this process."""
        if self.config.secret:
            return self.config.secret
        kept = self.store.get_meta("url-secret")
        if kept:
            return bytes.fromhex(kept)
        secret = os.urandom(32)
        with self.state.changing():
            self.store.set_meta("url-secret", secret.hex())
        return secret

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
            if event.scope == "step" and event.status in FAILED_STATUSES:
                self._refund(record, event.step)
            record.applied += 1
            applied_any = True
            self.webhooks.on_event(record, event)
        if not applied_any:  # a stale entry (the plan changed since it was scheduled)
            record.next_event_at()
            return
        if record.applied >= len(events) and record.ephemeral:
            record.deleted = True  # gone for every reader; only a held submit still answers with it
        self.store.save(record)
        self._schedule(record)

    def _refund(self, record: WorkflowRecord, index: int) -> None:
        """Give back what step ``index`` was charged (it failed, expired or was canceled); once every
        step was, everything the workflow still holds."""
        held = record.charged()
        if record.refunded or record.keep_charges or not held or index in record.refunded_steps:
            return
        record.refunded_steps = (*record.refunded_steps, index)
        if len(record.refunded_steps) == len(record.steps):
            credits = [Charge(account, amount) for account, amount in held.items()]
            record.refunded = True
        else:
            credits = give_back(held, min(record.step_share(index), sum(held.values())), record.currencies)
        self.accounts.credit(record.tenant, credits)
        record.transactions += transactions("credit", credits, self.ids.uuid)

    def _upgrade(self, record: WorkflowRecord) -> None:
        """Pay in yellow what blue/green paid (refunding those), so mature output may be released."""
        other = {account: amount for account, amount in record.charged().items() if account != MATURE_CURRENCY}
        total = sum(other.values())
        if total:
            try:
                charges = self.accounts.debit(record.tenant, total, [MATURE_CURRENCY])
            except InsufficientBuzz as short:
                raise UpgradeRefused(total, short.available, [MATURE_CURRENCY]) from None
            credits = [Charge(account, amount) for account, amount in other.items()]
            self.accounts.credit(record.tenant, credits)
            record.transactions += transactions("credit", credits, self.ids.uuid)
            record.transactions += transactions("debit", charges, self.ids.uuid)
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
            dependencies.compose(record, self.render.output_at, since=step.plan.end)  # its dependents are canceled
            return True

    def _record(self, tenant: str, workflow_id: str, gone_too: bool = False) -> WorkflowRecord:
        record = self.store.get(tenant, workflow_id)
        if record is None or (record.deleted and not gone_too):
            raise NotFound(f"Workflow '{workflow_id}' was not found.")
        return record

    def remember_clock(self, now: float) -> None:
        """Persist the clock's high-water mark (a restart never moves time back)."""
        with self.state.changing():
            self.store.set_meta("clock", repr(now))

    def tenant_of_url(self, key: str | None) -> str | None:
        """The tenant a signed blob URL's ``tenant`` parameter names (URLs never carry the token itself)."""
        with self.state.reading():
            return self._tenant_keys.get(key or "")

    def count(self, tenant: str) -> int:
        """How many workflows a tenant has."""
        with self.state.reading():
            return self.store.count(tenant)

    def tenants(self) -> list[str]:
        """Every tenant the fake knows: with workflows, balances or logged requests, in first-seen order."""
        with self.state.reading():
            seen = [*self.store.tenants(), *self.accounts.tenants(), *self.requests.tenants(),
                    *self.outcomes.tenants(), *self.faults.tenants()]
            return list(dict.fromkeys(t for t in seen if t))

    def expire_next_urls(self, count: int, tenant: str | None = None) -> None:
        """Make the next ``count`` signed URLs (of ``tenant``, or anyone's) expire the moment they are issued."""
        with self.state.changing():
            self.signer.expire_next(count, tenant)

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
        held = self.clock.held() if isinstance(self.clock, VirtualClock) else nullcontext()
        with held, self.state.changing():  # the order ``advance`` takes them in: the clock's lock, then the state's
            self.store.clear()
            self.accounts.clear()
            self.outcomes.clear()
            self.faults.clear()
            self.webhooks.reset()
            self.signer.clear()
            self._heap.clear()
            self._reseed()
            if isinstance(self.clock, VirtualClock):
                self.clock.reset()


def give_back(held: dict[str, int], amount: int, order: list[str]) -> list[Charge]:
    """Credits worth ``amount`` from what a workflow holds, last-charged currency first."""
    return split(amount, held, reversed(order or list(held)))[0]
