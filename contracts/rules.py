"""The client contract linter: documented rules judged on the fake's request log and webhook inbox.

Works for a client in any language: run it against the live server's ``/_mock/requests`` and
``/_mock/webhooks`` (``civitai-mock lint``), or in-process with ``civitai_mock.lint()``.
Each rule has a stable id and names the documentation it comes from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from civitai_mock.contracts.kling import KLING, KLING_V3, POLL_CADENCE_SECONDS
from civitai_mock.contracts.paths import (
    BLOB_PATH,
    BLOB_REFRESH_PATH,
    CONTROL_PREFIX,
    RECIPES,
    SIGNATURE_PARAM,
    SUBMIT_PATH,
    WORKFLOW_PATH,
    is_submit,
)
from civitai_mock.contracts.workflow import TERMINAL_STATUSES

Entry = dict[str, Any]
NO_RETRY_STATUSES = (400, 401, 403, 404)
#: "give up after ~5 tries"
MAX_RETRIES = 5
#: Seconds a webhook receiver may take before it counts as slow ("return 2xx quickly").
WEBHOOK_PROMPT_SECONDS = 5.0


@dataclass
class Violation:
    """One broken rule: which, why, and the offending requests (or webhook attempts)."""

    rule: str
    message: str
    source: str
    requests: list[Entry] = field(default_factory=list)

    def describe(self) -> str:
        """A readable, multi-line account of the violation."""
        lines = [f"[{self.rule}] {self.message}", f"    documented in: {self.source}"]
        for entry in self.requests[:5]:
            if "method" in entry:
                query = "&".join(f"{k}={v}" for k, v in (entry.get("query") or {}).items())
                lines.append(f"    #{entry.get('seq')} {entry['method']} {entry['path']}{'?' + query if query else ''}"
                             f" -> {entry.get('status')} (t={entry.get('at', 0):.1f})")
            else:
                lines.append(f"    webhook {entry.get('eventType')} to {entry.get('url')} -> "
                             f"{entry.get('statusCode')} in {entry.get('latencyMs')} ms ({entry.get('error') or 'ok'})")
        return "\n".join(lines)


@dataclass(frozen=True)
class Rule:
    """A documented rule: stable id, one-line summary, where it is documented, and its check."""

    id: str
    summary: str
    source: str
    check: Callable[[list[Entry], list[Entry]], Iterable[Violation]]


def _key(entry: Entry) -> str:
    return json.dumps([entry["method"], entry["path"], entry.get("query"), entry.get("body")], sort_keys=True)


def _waited(before: Entry, after: Entry) -> float:
    """Seconds between two requests, by the fake's clock or the wall, whichever passed more."""
    return max(after.get("at", 0) - before.get("at", 0), after.get("wall", 0) - before.get("wall", 0))


def _engines(entry: Entry) -> list[dict[str, Any]]:
    body = entry.get("body")
    if not isinstance(body, dict):
        return []
    if entry["path"].startswith(RECIPES + "/"):
        return [body]
    steps = body.get("steps") if isinstance(body.get("steps"), list) else []
    return [s["input"] for s in steps if isinstance(s, dict) and isinstance(s.get("input"), dict)]


def _is_submit(entry: Entry) -> bool:
    return is_submit(entry["method"], entry["path"])


def _is_content(entry: Entry) -> bool:
    """A fetch of a signed blob URL (the blob path with a signature; no bearer token)."""
    return bool(BLOB_PATH.match(entry["path"])) and SIGNATURE_PARAM in (entry.get("query") or {})


def _is_blob_api(entry: Entry) -> bool:
    """GetBlob / RefreshBlob (the blob paths without a signature)."""
    return bool(BLOB_REFRESH_PATH.match(entry["path"]) or BLOB_PATH.match(entry["path"])) and not _is_content(entry)


def no_retry_after_client_error(log: list[Entry], inbox: list[Entry]) -> Iterable[Violation]:
    """An identical request repeated after 400/401/403/404."""
    failed: dict[str, Entry] = {}
    for entry in log:
        key = _key(entry)
        if key in failed and not _is_content(entry):
            first = failed.pop(key)
            yield Violation("no-retry-after-4xx", f"Repeated a request that got {first['status']} without changing it",
                            RULES_BY_ID["no-retry-after-4xx"].source, [first, entry])
        if entry["status"] in NO_RETRY_STATUSES:
            failed[key] = entry


def backoff_after_throttle_or_5xx(log: list[Entry], inbox: list[Entry]) -> Iterable[Violation]:
    """After 429 honour Retry-After; after 5xx back off; give up after ~5 tries."""
    last_by_key: dict[str, Entry] = {}
    streak: dict[str, int] = {}
    for entry in log:
        key = _key(entry)
        previous = last_by_key.get(key)
        if previous is not None and (previous["status"] == 429 or previous["status"] >= 500):
            retry_after = float((previous.get("headers") or {}).get("retry-after", 0) or 0)
            needed = max(retry_after, 1.0 if previous["status"] >= 500 else 0.0)
            if _waited(previous, entry) < needed:
                yield Violation("backoff-on-429-5xx",
                                f"Retried {_waited(previous, entry):.1f} s after {previous['status']} "
                                f"(needed >= {needed:g} s{' per Retry-After' if retry_after else ''})",
                                RULES_BY_ID["backoff-on-429-5xx"].source, [previous, entry])
            streak[key] = streak.get(key, 0) + 1
            if streak[key] == MAX_RETRIES + 1:
                yield Violation("backoff-on-429-5xx", f"Retried more than {MAX_RETRIES} times",
                                RULES_BY_ID["backoff-on-429-5xx"].source, [entry])
        elif entry["status"] < 400:
            streak.pop(key, None)
        last_by_key[key] = entry


def kling_submits_wait_zero(log: list[Entry], inbox: list[Entry]) -> Iterable[Violation]:
    """Kling jobs outlast the 100 s timeout: submit with wait=0."""
    for entry in log:
        if _is_submit(entry) and SUBMIT_PATH.match(entry["path"]) and any(
                i.get("engine") in (KLING, KLING_V3) for i in _engines(entry)):
            wait = (entry.get("query") or {}).get("wait", "0")
            if wait not in ("0", ""):
                yield Violation("kling-wait-zero", f"Submitted a Kling workflow with wait={wait}",
                                RULES_BY_ID["kling-wait-zero"].source, [entry])


def kling_duration_types(log: list[Entry], inbox: list[Entry]) -> Iterable[Violation]:
    """kling takes string durations, kling-v3 integers."""
    for entry in log:
        if not _is_submit(entry):
            continue
        for step_input in _engines(entry):
            duration = step_input.get("duration")
            if duration is None:
                continue
            engine = step_input.get("engine")
            wrong = (engine == KLING and not isinstance(duration, str)) or (
                engine == KLING_V3 and (not isinstance(duration, int) or isinstance(duration, bool)))
            if wrong:
                yield Violation("kling-duration-type", f"Sent duration {duration!r} to engine {engine}",
                                RULES_BY_ID["kling-duration-type"].source, [entry])


def _workflow_reads(log: list[Entry]) -> Iterable[tuple[Entry, str | None]]:
    """Submits (with the id they created) and GetWorkflow reads (with their id), in order."""
    for entry in log:
        seen = entry.get("seen") or {}
        if _is_submit(entry) and seen.get("id"):
            yield entry, seen["id"]
            continue
        match = WORKFLOW_PATH.match(entry["path"])
        if match and entry["method"] == "GET" and entry["status"] in (200, 202):
            yield entry, match.group(1)


def polling_cadence(log: list[Entry], inbox: list[Entry]) -> Iterable[Violation]:
    """Poll no faster than the documented cadence (10 s, then 30 s, then 60 s)."""
    last: dict[str, Entry] = {}
    for entry, workflow_id in _workflow_reads(log):
        held = (entry.get("query") or {}).get("wait", "0") not in ("0", "")
        previous = last.get(workflow_id)
        if previous is not None and not _is_submit(entry) and not held \
                and _waited(previous, entry) < POLL_CADENCE_SECONDS[0]:
            yield Violation("poll-cadence",
                            f"Polled {workflow_id} {_waited(previous, entry):.1f} s after the previous request "
                            f"(documented cadence starts at {POLL_CADENCE_SECONDS[0]} s)",
                            RULES_BY_ID["poll-cadence"].source, [previous, entry])
        last[workflow_id] = entry


def polling_stops_at_terminal(log: list[Entry], inbox: list[Entry]) -> Iterable[Violation]:
    """Stop polling a workflow once a response showed it terminal."""
    finished: set[str] = set()
    for entry, workflow_id in _workflow_reads(log):
        if _is_submit(entry):
            continue
        if workflow_id in finished:
            yield Violation("poll-until-terminal", "Polled a workflow again after it reached a terminal status",
                            RULES_BY_ID["poll-until-terminal"].source, [entry])
        if (entry.get("seen") or {}).get("status") in TERMINAL_STATUSES:
            finished.add(workflow_id)


def refresh_expired_urls(log: list[Entry], inbox: list[Entry]) -> Iterable[Violation]:
    """After an expired blob URL (403), get a fresh one instead of repeating it."""
    expired: dict[str, Entry] = {}
    for entry in log:
        if _is_content(entry):
            key = _key(entry)
            if key in expired:
                yield Violation("refresh-expired-url", "Fetched an expired blob URL again instead of refreshing it",
                                RULES_BY_ID["refresh-expired-url"].source, [expired.pop(key), entry])
            if entry["status"] == 403:
                expired[key] = entry
        elif _is_blob_api(entry) or WORKFLOW_PATH.match(entry["path"]):
            expired.clear()


def ephemeral_needs_result_path(log: list[Entry], inbox: list[Entry]) -> Iterable[Violation]:
    """An ephemeral workflow needs a callback or wait > 0."""
    for entry in log:
        body = entry.get("body")
        if _is_submit(entry) and isinstance(body, dict) and body.get("ephemeral") is True:
            wait = (entry.get("query") or {}).get("wait", "0")
            if not body.get("callbacks") and wait in ("0", ""):
                yield Violation("ephemeral-needs-callback", "Submitted an ephemeral workflow with no callback and wait=0",
                                RULES_BY_ID["ephemeral-needs-callback"].source, [entry])


def webhook_receivers_prompt(log: list[Entry], inbox: list[Entry]) -> Iterable[Violation]:
    """Webhook receivers answer 2xx quickly."""
    for attempt in inbox:
        code, latency = attempt.get("statusCode"), (attempt.get("latencyMs") or 0) / 1000
        if code is None or not 200 <= code < 300 or latency > WEBHOOK_PROMPT_SECONDS:
            why = attempt.get("error") or (f"answered {code}" if code else "no answer")
            if latency > WEBHOOK_PROMPT_SECONDS:
                why += f" after {latency:.1f} s"
            yield Violation("webhook-2xx-promptly", f"Webhook receiver {why}",
                            RULES_BY_ID["webhook-2xx-promptly"].source, [attempt])


GUIDE = "guide/errors-and-retries.md"
RULES: tuple[Rule, ...] = (
    Rule("no-retry-after-4xx", "never resend an unchanged request after 400/401/403/404",
         f"{GUIDE} (HTTP status taxonomy: 'Don't retry 400 / 401 / 403 / 404')", no_retry_after_client_error),
    Rule("backoff-on-429-5xx", "back off after 429 (Retry-After) and 5xx; give up after ~5 tries",
         f"{GUIDE} (retry guidance for 429 / 5xx)", backoff_after_throttle_or_5xx),
    Rule("kling-wait-zero", "submit Kling workflows with wait=0",
         "recipes/kling.md ('always submit with wait=0')", kling_submits_wait_zero),
    Rule("kling-duration-type", "kling durations are strings, kling-v3 durations integers",
         "recipes/kling.md (parameters; troubleshooting 'duration must be one of')", kling_duration_types),
    Rule("poll-cadence", "poll GetWorkflow no faster than every 10 s (10 s → 30 s → 60 s)",
         "recipes/kling.md (long-running jobs: polling cadence)", polling_cadence),
    Rule("poll-until-terminal", "stop polling once the status is terminal",
         "guide/results-and-webhooks.md (polling fallback)", polling_stops_at_terminal),
    Rule("refresh-expired-url", "after an expired blob URL, refetch the workflow or call GetBlob",
         "recipes/kling.md (reading the result); guide/errors-and-retries.md (blob URLs 403)", refresh_expired_urls),
    Rule("ephemeral-needs-callback", "an ephemeral workflow needs a callback or wait > 0",
         "guide/results-and-webhooks.md (ephemeral workflows)", ephemeral_needs_result_path),
    Rule("webhook-2xx-promptly", "webhook receivers answer 2xx quickly",
         "guide/results-and-webhooks.md (receiving endpoint checklist)", webhook_receivers_prompt),
)
RULES_BY_ID: dict[str, Rule] = {rule.id: rule for rule in RULES}


def _plain(items: Iterable[Any]) -> list[Entry]:
    return [item.to_json() if hasattr(item, "to_json") else dict(item) for item in items]


def lint(log: Iterable[Any], inbox: Iterable[Any] = ()) -> list[Violation]:
    """Every violation in a request log (and webhook inbox), in rule order."""
    entries, attempts = _plain(log), _plain(inbox)
    entries = [e for e in entries if not e["path"].startswith(CONTROL_PREFIX)]
    found: list[Violation] = []
    for rule in RULES:
        found.extend(rule.check(entries, attempts))
    return found


def report(violations: list[Violation]) -> str:
    """A readable report of violations (or a one-line all-clear)."""
    if not violations:
        return f"client conforms: 0 violations of {len(RULES)} rules"
    return "\n".join([f"{len(violations)} contract violation(s):", *(v.describe() for v in violations)])


def assert_conforms(violations: list[Violation]) -> None:
    """Raise AssertionError with the report when there is any violation."""
    if violations:
        raise AssertionError(report(violations))
