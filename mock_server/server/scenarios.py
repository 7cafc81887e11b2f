"""Scenarios: one document that puts a fake in a known state (tenants, balances, outcomes, faults).

Loaded with ``serve --scenario FILE`` (JSON or YAML) or ``POST /_mock/scenario`` (JSON), so a suite
in any language starts from the same state with one call::

    reset: true                       # forget everything first (default true)
    tenants:
      dev-token:
        balances: {blue: 0, green: 0, yellow: 5000}
        outcomes: [{kind: fail, reason: no_provider_available}, {kind: succeed, runtime: 30}]
        faults: [{status: 429, count: 2, target: submit, retryAfter: 3}]
        rateLimit: {limit: 10, window: 60}
      "*":                            # faults and rate limits for every tenant
        faults: [{status: 503, count: 1, target: get}]

Everything is checked before anything is applied: a bad scenario changes nothing.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from civitai_mock.contracts.outcomes import Outcome, OutcomeError
from civitai_mock.mock_server.engine.faults import Fault, FaultError, RateLimit
from civitai_mock.mock_server.server.fake import Fake

TENANT_KEYS = ("balances", "outcomes", "faults", "rateLimit")


@dataclass
class TenantSetup:
    """What a scenario sets for one tenant (or ``*``)."""

    balances: dict[str, int] | None = None
    outcomes: list[Outcome] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    rate_limit: RateLimit | None = None


def parse_rate_limit(value: Any, where: str) -> RateLimit:
    """``{"limit": 10, "window": 60}`` as a RateLimit; ValueError naming what is wrong."""
    if not isinstance(value, dict):
        raise ValueError(f"{where}: rateLimit must be an object like {{\"limit\": 10, \"window\": 60}}")
    limit, window = value.get("limit"), value.get("window", 60)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1 or isinstance(window, bool) \
            or not isinstance(window, (int, float)) or not math.isfinite(window) or window <= 0:
        raise ValueError(f"{where}: limit must be a positive integer and window a positive number of seconds")
    return RateLimit(limit, float(window))


def _tenant(name: str, spec: Any) -> TenantSetup:
    where = f"tenants.{name}"
    if not isinstance(spec, dict):
        raise ValueError(f"{where} must be an object")
    unknown = sorted(set(spec) - set(TENANT_KEYS))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(TENANT_KEYS)}")
    setup = TenantSetup()
    if "balances" in spec:
        if name == "*":
            raise ValueError(f"{where}: balances belong to a tenant, not to '*'")
        balances = spec["balances"]
        if not isinstance(balances, dict):
            raise ValueError(f"{where}.balances must be an object like {{\"blue\": 0, \"yellow\": 5000}}")
        setup.balances = balances
    for key, build, error in (("outcomes", Outcome.from_json, OutcomeError), ("faults", Fault.from_json, FaultError)):
        items = spec.get(key, [])
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise ValueError(f"{where}.{key} must be a list of objects")
        if key == "outcomes" and name == "*" and items:
            raise ValueError(f"{where}: outcomes belong to a tenant, not to '*'")
        try:
            getattr(setup, key).extend(build(item) for item in items)
        except error as exc:
            raise ValueError(f"{where}.{key}: {exc}") from None
    if "rateLimit" in spec:
        setup.rate_limit = parse_rate_limit(spec["rateLimit"], where)
    return setup


def parse_scenario(data: Any) -> tuple[bool, dict[str, TenantSetup]]:
    """(reset first?, setup per tenant) of a scenario document; ValueError naming what is wrong."""
    if not isinstance(data, dict):
        raise ValueError("a scenario is an object with 'tenants' (and optionally 'reset')")
    unknown = sorted(set(data) - {"reset", "tenants", "description"})
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(unknown)}; known: reset, tenants, description")
    reset = data.get("reset", True)
    if not isinstance(reset, bool):
        raise ValueError("reset must be true or false")
    tenants = data.get("tenants", {})
    if not isinstance(tenants, dict):
        raise ValueError("tenants must be an object keyed by bearer token")
    return reset, {str(name): _tenant(str(name), spec) for name, spec in tenants.items()}


def apply_scenario(fake: Fake, data: Any) -> dict[str, Any]:
    """Check a scenario, then apply it; return a summary of what was set."""
    reset, tenants = parse_scenario(data)
    engine = fake.engine
    for name, setup in tenants.items():  # balances are checked by the ledger: check all before changing any
        if setup.balances is not None:
            try:
                engine.accounts.check_balances(setup.balances)
            except ValueError as exc:
                raise ValueError(f"tenants.{name}.balances: {exc}") from None
    if reset:
        fake.reset()
    for name, setup in tenants.items():
        if setup.balances is not None:
            engine.accounts.set_balances(name, setup.balances)
        if setup.outcomes:
            engine.outcomes.push(name, setup.outcomes)
        for fault in setup.faults:
            engine.faults.add(name, fault)
        if setup.rate_limit is not None:
            engine.faults.limit(name, setup.rate_limit)
    return {"reset": reset, "tenants": {name: {"balances": s.balances, "outcomes": len(s.outcomes),
                                               "faults": len(s.faults), "rateLimit": s.rate_limit is not None}
                                        for name, s in tenants.items()}}


def load_scenario_file(fake: Fake, path: str) -> dict[str, Any]:
    """Apply a scenario file (``.json``, or YAML for any other name)."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ValueError(f"cannot read it ({exc.strerror or exc})") from None
    if path.endswith(".json"):
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"not valid JSON ({exc})") from None
    else:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ValueError(f"not valid YAML ({str(exc).splitlines()[0]})") from None
    return apply_scenario(fake, data)
