"""Buzz ledger per tenant: blue, green and yellow accounts, charging order, refunds."""

from __future__ import annotations

from typing import Any, Callable, Iterable, NamedTuple

from civitai_mock.contracts.workflow import (
    CURRENCIES,
    DEFAULT_CHARGING_ORDER,
    MATURE_CURRENCY,
)
from civitai_mock.mock_server.engine.state import StateLock

#: Balances a new tenant starts with (documented in README; change with PUT /_mock/accounts/{token}).
DEFAULT_BALANCES: dict[str, int] = {"blue": 5_000, "green": 100_000, "yellow": 100_000}


class InsufficientBuzz(Exception):
    """The allowed accounts cannot cover the cost."""

    def __init__(self, cost: int, available: int, accounts: list[str]):
        self.cost, self.available, self.accounts = cost, available, accounts
        super().__init__(
            f"Insufficient Buzz: this workflow costs {cost} and the accounts allowed to pay "
            f"({', '.join(accounts) or 'none'}) hold {available}."
        )


class Charge(NamedTuple):
    """One part of a payment: ``amount`` taken from ``account``."""

    account: str
    amount: int


def transactions(kind: str, charges: Iterable[Charge], new_id: Callable[[], str] | None) -> list[dict[str, Any]]:
    """``transactions`` entries (``kind`` "debit" or "credit") for ``charges``; ids from ``new_id`` (None: no ids)."""
    if new_id is None:
        return [{"type": kind, "amount": c.amount, "accountType": c.account} for c in charges]
    return [{"type": kind, "amount": c.amount, "id": new_id(), "accountType": c.account} for c in charges]


def split(amount: int, available: dict[str, int], order: Iterable[str]) -> tuple[list[Charge], int]:
    """``amount`` taken from ``available`` account by account in ``order``; and what is left uncovered."""
    left, charges = amount, []
    for account in order:
        if left <= 0:  # covered: the accounts after take nothing
            break
        take = min(left, available.get(account, 0))
        if take > 0:
            charges.append(Charge(account, take))
            left -= take
    return charges, left


#: The charging order of a submission that names no currencies: one list, shared by every workflow that
#: pays so (read, never changed in place; views hand out copies).
EVERY_CURRENCY: list[str] = list(DEFAULT_CHARGING_ORDER)


def charging_order(currencies: list[str] | None, allow_mature_content: bool | None) -> list[str]:
    """Which accounts may pay, in order: blue → green → yellow, restricted by ``currencies``; mature → yellow."""
    order = [c for c in DEFAULT_CHARGING_ORDER if c in currencies] if currencies else EVERY_CURRENCY
    if allow_mature_content:
        order = [c for c in order if c == MATURE_CURRENCY]
    return order


class Accounts:
    """Balances of every tenant, under the fake's one lock; new tenants get ``defaults``."""

    def __init__(self, state: StateLock, defaults: dict[str, int] | None = None,
                 on_change: Callable[[str, dict[str, int]], None] | None = None):
        self._state = state
        self.defaults = dict(DEFAULT_BALANCES if defaults is None else defaults)
        #: what ``defaults`` was at construction (fixtures restore it between tests)
        self.defaults_initial = dict(self.defaults)
        self._balances: dict[str, dict[str, int]] = {}
        self._on_change = on_change

    def balances(self, tenant: str) -> dict[str, int]:
        """A copy of a tenant's current balances (created with the defaults on first use)."""
        with self._state.changing():
            return dict(self._account(tenant))

    def _account(self, tenant: str) -> dict[str, int]:
        if tenant not in self._balances:
            self._balances[tenant] = {c: self.defaults.get(c, 0) for c in CURRENCIES}
        return self._balances[tenant]

    def set_defaults(self, balances: dict[str, int]) -> None:
        """Balances that tenants created from now on start with."""
        with self._state.changing():
            self.defaults = dict(balances)

    @staticmethod
    def check_balances(balances: dict[str, Any]) -> None:
        """ValueError unless every key is an account and every amount a non-negative integer."""
        for account, amount in balances.items():
            if account not in CURRENCIES:
                raise ValueError(f"unknown account '{account}'; accounts are {', '.join(CURRENCIES)}")
            if not isinstance(amount, int) or isinstance(amount, bool) or amount < 0:
                raise ValueError(f"balance of {account} must be a non-negative integer")

    def set_balances(self, tenant: str, balances: dict[str, int]) -> dict[str, int]:
        """Replace some or all balances of a tenant; return them all."""
        self.check_balances(balances)
        with self._state.changing():
            current = self._account(tenant)
            current.update(balances)
            self._changed(tenant)
            return dict(current)

    def plan(self, tenant: str, cost: int, order: list[str]) -> tuple[list[Charge], bool]:
        """How ``cost`` would be split over ``order``; the flag is True when it cannot be covered."""
        with self._state.reading():
            charges, left = split(cost, self._account(tenant), order)
        return charges, left > 0

    def debit(self, tenant: str, cost: int, order: list[str]) -> list[Charge]:
        """Take ``cost`` from the allowed accounts in order, or raise InsufficientBuzz."""
        with self._state.changing():
            balances = self._account(tenant)
            charges, left = split(cost, balances, order)
            if left > 0:
                raise InsufficientBuzz(cost, sum(balances.get(a, 0) for a in order), order)
            for charge in charges:
                balances[charge.account] -= charge.amount
            self._changed(tenant)
            return charges

    def credit(self, tenant: str, charges: list[Charge]) -> None:
        """Give back what ``charges`` took (a refund)."""
        with self._state.changing():
            balances = self._account(tenant)
            for charge in charges:
                balances[charge.account] += charge.amount
            self._changed(tenant)

    def tenants(self) -> list[str]:
        """Every tenant that has balances."""
        with self._state.reading():
            return list(self._balances)

    def load(self, tenant: str, balances: dict[str, int]) -> None:
        """Restore a tenant's balances from storage."""
        with self._state.changing():
            self._balances[tenant] = dict(balances)

    def clear(self) -> None:
        """Forget every tenant."""
        with self._state.changing():
            self._balances.clear()

    def _changed(self, tenant: str) -> None:
        if self._on_change is not None:
            self._on_change(tenant, dict(self._balances[tenant]))
