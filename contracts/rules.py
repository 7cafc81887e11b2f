"""The client contract linter: documented rules judged on the fake's request log and webhook inbox.

Works for a client in any language: run it on a live fake's ``/_mock/requests`` and
``/_mock/webhooks`` (``civitai-mock lint``, ``GET /_mock/lint``), or in-process with
``mock.lint()``. Each rule has a stable id, a severity and the documentation it comes from:

- ``error``: the docs say so and the log shows it; fails ``assert_client_conforms``.
- ``advisory``: the docs recommend it, or the log can only suggest it; reported, never failing
  unless asked (``strict=True``).

The API a command line or an HTTP endpoint wires::

    violations = lint(log, inbox, ignore=["poll-cadence"], include_advisories=True)
    print(report(violations))            # grouped text: the first of each rule, and how many more
    report_json(violations)              # the same as JSON
    exit_code = 1 if failing(violations) else 0
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from civitai_mock.contracts import rule_checks as checks
from civitai_mock.contracts.paths import CONTROL_PREFIX, SIGNATURE_PARAM

Entry = dict[str, Any]
ERROR, ADVISORY = "error", "advisory"
SEVERITIES = (ERROR, ADVISORY)
#: Requests shown under each violation in a report.
SHOWN_REQUESTS = 5


@dataclass
class Violation:
    """One broken rule: which, why, the offending requests (or webhook attempts), severity and tenant."""

    rule: str
    message: str
    source: str
    requests: list[Entry] = field(default_factory=list)
    severity: str = ERROR
    tenant: str | None = None

    def describe(self) -> str:
        """A readable, multi-line account of the violation."""
        tag = "" if self.severity == ERROR else f" ({self.severity}, does not fail a test)"
        lines = [f"[{self.rule}]{tag} {self.message}", f"    documented in: {self.source}"]
        lines += [f"    {describe_entry(entry)}" for entry in self.requests[:SHOWN_REQUESTS]]
        if len(self.requests) > SHOWN_REQUESTS:
            lines.append(f"    … {len(self.requests) - SHOWN_REQUESTS} more")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        """JSON form: rule, severity, message, source, tenant and the requests (as logged)."""
        return {"rule": self.rule, "severity": self.severity, "message": self.message, "source": self.source,
                "tenant": self.tenant, "requests": [_brief(entry) for entry in self.requests]}


@dataclass(frozen=True)
class Rule:
    """A documented rule: stable id, one-line summary, where it is documented, severity and its check."""

    id: str
    summary: str
    source: str
    check: Callable[[list[Entry], list[Entry]], Iterable[checks.Finding]]
    severity: str = ERROR


def describe_entry(entry: Entry) -> str:
    """One line for a logged request (``#12 GET /path?q -> 200 (t=3.0)``) or a webhook attempt."""
    if "method" in entry:
        query = "&".join(f"{k}={v[:8] + '…' if k == SIGNATURE_PARAM and len(v) > 8 else v}"
                         for k, v in (entry.get("query") or {}).items())
        return (f"#{entry.get('seq')} {entry['method']} {entry['path']}{'?' + query if query else ''}"
                f" -> {entry.get('status')} (at {clock_time(entry.get('at'))})")
    return (f"webhook {entry.get('eventType')} to {entry.get('url')} -> {entry.get('statusCode')} "
            f"in {entry.get('latencyMs')} ms ({entry.get('error') or 'ok'})")


def clock_time(at: Any) -> str:
    """The fake's clock reading as a UTC time of day (``00:05:30.0``); what was given when not a number."""
    if not isinstance(at, (int, float)):
        return str(at)
    moment = datetime.fromtimestamp(at, UTC)
    return moment.strftime("%H:%M:%S.") + f"{moment.microsecond // 100_000}"


def _brief(entry: Entry) -> Entry:
    keys = ("seq", "at", "method", "path", "query", "status") if "method" in entry else (
        "at", "url", "eventType", "workflowId", "attempt", "statusCode", "latencyMs", "error")
    return {k: entry.get(k) for k in keys}


GUIDE = "guide/errors-and-retries.md"
RESULTS = "guide/results-and-webhooks.md"
KLING_RECIPE = "recipes/kling.md"
RULES: tuple[Rule, ...] = (
    Rule("no-retry-after-4xx", "never resend an unchanged request after 400/401/403/404",
         f"{GUIDE} (HTTP status taxonomy: the Retry? column)", checks.no_retry_after_client_error),
    Rule("backoff-on-429-5xx", "back off after 429 / 5xx (at least Retry-After when given); give up after ~5 tries",
         f"{GUIDE} (retry guidance for 429 / 5xx); RFC 9110 Retry-After", checks.backoff_after_throttle_or_5xx),
    Rule("kling-wait-zero", "submit Kling workflows with wait=0",
         f"{KLING_RECIPE} (introduction; long-running jobs)", checks.kling_submits_wait_zero),
    Rule("kling-duration-type", "kling durations are strings, kling-v3 durations integers",
         f"{KLING_RECIPE} (parameters; troubleshooting)", checks.kling_duration_types),
    Rule("poll-cadence", "poll a running workflow no faster than the 10 s → 30 s → 60 s cadence",
         f"{KLING_RECIPE} (long-running jobs: polling)", checks.polling_cadence),
    Rule("poll-until-terminal", "stop polling once the status is terminal",
         f"{RESULTS} (polling fallback)", checks.polling_stops_at_terminal),
    Rule("refresh-expired-url", "after a blob URL answers 403, get a fresh URL; never fetch the dead one again",
         f"{KLING_RECIPE} (reading the result); {GUIDE} (common gotchas: blob URLs 403)", checks.refresh_expired_urls),
    Rule("ephemeral-needs-callback", "an ephemeral workflow needs a callback or wait > 0",
         f"{RESULTS} (ephemeral workflows: validation)", checks.ephemeral_needs_result_path),
    Rule("ephemeral-detailed-callback", "an ephemeral workflow's callbacks should be detailed",
         f"{RESULTS} (ephemeral workflows: detailed callbacks)", checks.ephemeral_detailed_callbacks,
         ADVISORY),
    Rule("webhook-2xx-promptly", "webhook receivers answer 2xx quickly",
         f"{RESULTS} (receiving endpoint checklist)", checks.webhook_receivers_prompt),
    Rule("webhook-dedupe", "handle a repeated webhook delivery once",
         f"{RESULTS} (receiving endpoint checklist: idempotency)",
         checks.webhook_deduplication, ADVISORY),
    Rule("unknown-input-property", "send only the properties the documentation lists",
         f"{KLING_RECIPE} (parameters); guide/submitting-work.md (workflow-level body fields)",
         checks.unknown_input_properties, ADVISORY),
)
RULES_BY_ID: dict[str, Rule] = {rule.id: rule for rule in RULES}


def check_rule_ids(ids: Iterable[str]) -> tuple[str, ...]:
    """``ids`` as a tuple, after checking each names a rule (ValueError names the unknown ones)."""
    given = tuple(ids)
    unknown = [i for i in given if i not in RULES_BY_ID]
    if unknown:
        raise ValueError(f"unknown lint rule id(s): {', '.join(unknown)}; known: {', '.join(RULES_BY_ID)}")
    return given


def _plain(items: Iterable[Any]) -> list[Entry]:
    return [item.to_json() if hasattr(item, "to_json") else dict(item) for item in items]


def lint(log: Iterable[Any], inbox: Iterable[Any] = (), *, ignore: Iterable[str] = (),
         include_advisories: bool = True, by_tenant: bool = True) -> list[Violation]:
    """Every violation in a request log and webhook inbox, rule by rule; each tenant judged on its own traffic.

    Entries and attempts are grouped by their ``tenant`` field, which must name tenants the same
    way in both lists. ``by_tenant=False`` judges everything as one tenant's (lists already
    filtered to one token); so does a log and an inbox holding one tenant each.
    """
    skipped = set(check_rule_ids(ignore))
    entries = [e for e in _plain(log) if not str(e.get("path", "")).startswith(CONTROL_PREFIX)]
    attempts = _plain(inbox)
    log_tenants = {e.get("tenant") for e in entries}
    inbox_tenants = {a.get("tenant") for a in attempts}
    together = not by_tenant or (len(log_tenants) == 1 and len(inbox_tenants) == 1)
    traffic: dict[Any, tuple[list[Entry], list[Entry]]] = {}
    for entry in entries:
        traffic.setdefault(None if together else entry.get("tenant"), ([], []))[0].append(entry)
    for attempt in attempts:
        traffic.setdefault(None if together else attempt.get("tenant"), ([], []))[1].append(attempt)
    found: list[Violation] = []
    for rule in RULES:
        if rule.id in skipped or (rule.severity == ADVISORY and not include_advisories):
            continue
        for tenant, (mine, theirs) in traffic.items():
            for finding in rule.check(mine, theirs):
                severity = finding.severity or rule.severity
                if severity == ADVISORY and not include_advisories:
                    continue
                who = tenant if not together else next(iter(log_tenants or inbox_tenants), None)
                found.append(Violation(rule.id, finding.message, rule.source, finding.requests, severity, who))
    return found


def failing(violations: Iterable[Violation], *, strict: bool = False) -> list[Violation]:
    """The violations that fail a check: errors, plus advisories when ``strict``."""
    return [v for v in violations if strict or v.severity == ERROR]


def _grouped(violations: list[Violation]) -> list[list[Violation]]:
    groups: dict[str, list[Violation]] = {}
    for violation in violations:
        groups.setdefault(violation.rule, []).append(violation)
    return sorted(groups.values(), key=lambda g: (g[0].severity != ERROR, list(RULES_BY_ID).index(g[0].rule)
                                                   if g[0].rule in RULES_BY_ID else len(RULES_BY_ID)))


def report(violations: list[Violation], *, every: bool = False) -> str:
    """A readable report grouped by rule: the first violation of each in full, the rest counted (all if ``every``)."""
    if not violations:
        return f"client conforms: 0 violations of {len(RULES)} rules"
    errors = failing(violations)
    notes = len(violations) - len(errors)
    head = f"{len(errors)} contract violation(s) of {len({v.rule for v in errors})} rule(s)" if errors \
        else "client conforms"
    lines = [head + (f"; {notes} advisory note(s)" if notes else "") + ":"]
    tenants = len({v.tenant for v in violations}) > 1
    for group in _grouped(violations):
        for violation in group if every else group[:1]:
            lines.append(violation.describe())
            if tenants:
                lines.append(f"    tenant: {violation.tenant}")
        if len(group) > 1 and not every:
            seqs = [f"#{v.requests[-1]['seq']}" for v in group[1:] if v.requests and "seq" in v.requests[-1]]
            shown = f" ({', '.join(seqs[:5])}{', …' if len(seqs) > 5 else ''})" if seqs else ""
            lines.append(f"    … and {len(group) - 1} more like it{shown}")
    return "\n".join(lines)


def report_json(violations: list[Violation], *, every: bool = False) -> dict[str, Any]:
    """The report as JSON (``GET /_mock/lint``): totals, then one group per rule with its first violation.

    ``conforms`` is false when any error is present (advisories never make it false); ``every``
    adds each group's full ``violations`` list.
    """
    errors = failing(violations)
    groups = []
    for group in _grouped(violations):
        first = group[0]
        item = {"rule": first.rule, "severity": first.severity, "source": first.source,
                "summary": RULES_BY_ID[first.rule].summary if first.rule in RULES_BY_ID else "",
                "count": len(group), "first": first.to_json(),
                "tenants": sorted({str(v.tenant) for v in group if v.tenant is not None})}
        if every:
            item["violations"] = [v.to_json() for v in group]
        groups.append(item)
    return {"conforms": not errors, "errors": len(errors), "advisories": len(violations) - len(errors),
            "rules": groups}


def rules_json() -> list[dict[str, str]]:
    """Every rule: id, severity, summary and source (for ``--list-rules`` or an index endpoint)."""
    return [{"id": r.id, "severity": r.severity, "summary": r.summary, "source": r.source} for r in RULES]


def assert_conforms(violations: list[Violation], *, strict: bool = False) -> None:
    """Raise AssertionError with the grouped report when any violation fails (advisories only when ``strict``)."""
    if failing(violations, strict=strict):
        raise AssertionError(report(violations))
