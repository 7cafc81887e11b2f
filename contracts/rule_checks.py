"""The linter's checks: each reads one tenant's request log (and webhook inbox) and yields findings.

Every check judges only what the log shows; where the log cannot tell (which workflow a blob
belongs to, what a webhook receiver did with a delivery) a check gives the client the benefit of
the doubt rather than guess. ``contracts.rules`` names the checks, their documentation and severity.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from typing import Any, get_args

from pydantic import BaseModel

from civitai_mock.contracts.casing import read_flag
from civitai_mock.contracts.kling import KLING, KLING_V3, POLL_CADENCE_SECONDS
from civitai_mock.contracts.paths import RECIPE_PATH, SUBMIT_PATH, WORKFLOWS, blob_id_of, workflow_id_of
from civitai_mock.contracts.references import is_reference
from civitai_mock.contracts.template import StepTemplate, WorkflowTemplate
from civitai_mock.contracts.traffic import (
    Entry,
    Finding,
    created,
    epoch,
    event_identity,
    first_deliveries,
    handed_out,
    is_blob_api,
    is_content,
    is_mutation,
    is_read,
    is_throttled,
    is_workflow_submit,
    notified_between,
    query,
    request_key,
    retry_after,
    seen_status,
    step_inputs,
    url_key,
    wait_of,
    waited,
)
from civitai_mock.contracts.validation import input_model
from civitai_mock.contracts.workflow import TERMINAL_STATUSES

#: Client errors the guide says not to retry until the request itself changed.
NO_RETRY_STATUSES = (400, 401, 403, 404)
#: The guide allows about five tries; one more is tolerated, so the 7th try in a row is a violation.
TRIES_TOLERATED = 6
#: A retry after 429 / 5xx without Retry-After sooner than this did not back off at all.
NO_BACKOFF_SECONDS = 0.1
#: Seconds a webhook receiver may take (the fake's sender gives up after as long).
WEBHOOK_PROMPT_SECONDS = 5.0
#: Reads of a terminal workflow in a row, with no use of its URLs between, that are still "one more look".
REREADS_TOLERATED = 1
_SLACK = 1e-3


def no_retry_after_client_error(log: list[Entry], inbox: list[Entry]) -> Iterator[Finding]:
    """An identical request repeated after 400/401/403/404 (signed URLs are judged by refresh-expired-url)."""
    failed: dict[str, Entry] = {}
    for entry in log:
        if is_content(entry):
            continue
        key = request_key(entry)
        if key in failed:
            first = failed.pop(key)
            yield Finding(f"Sent the same request again, unchanged, after it got {first['status']}", [first, entry])
        if entry["status"] in NO_RETRY_STATUSES:
            failed[key] = entry


def _loose_key(entry: Entry) -> str:
    return json.dumps([entry["method"], entry["path"], entry.get("query")], sort_keys=True)


def backoff_after_throttle_or_5xx(log: list[Entry], inbox: list[Entry]) -> Iterator[Finding]:
    """After 429 / 5xx wait (at least Retry-After when given) before retrying; stop after ~5 tries.

    A request the fake refused with an injected fault was answered before its body was read, so
    its log entry has no body: the next request to the same method, path and query counts as its
    retry (sending another body at once ignores the throttle just the same).
    """
    last: dict[str, tuple[Entry, int]] = {}
    bodiless: dict[str, tuple[Entry, int]] = {}
    for entry in log:
        key, loose = request_key(entry), _loose_key(entry)
        known = [c for c in (last.get(key), bodiless.get(loose)) if c is not None]
        previous, tries = max(known, key=lambda c: c[0].get("seq", 0)) if known else (None, 0)
        if previous is not None and is_throttled(previous):
            pause, asked = waited(previous, entry), retry_after(previous)
            if asked is not None and pause < asked - _SLACK:
                yield Finding(f"Retried {pause:.1f} s after {previous['status']}; its Retry-After asked for "
                              f"{asked:g} s", [previous, entry])
            elif asked is None and pause < NO_BACKOFF_SECONDS:
                yield Finding(f"Retried {pause:.2f} s after {previous['status']}: no backoff", [previous, entry])
            tries += 1
            if tries == TRIES_TOLERATED + 1:
                yield Finding(f"Tried the same request {tries} times in a row after 429/5xx answers "
                              "(the guide stops at about five tries)", [entry])
        else:
            tries = 1
        last[key] = (entry, tries)
        if is_throttled(entry) and entry.get("body") is None:
            bodiless[loose] = (entry, tries)
        else:
            bodiless.pop(loose, None)


def kling_submits_wait_zero(log: list[Entry], inbox: list[Entry]) -> Iterator[Finding]:
    """Kling jobs outlast the 100 s request timeout: submit them with wait=0 (whatif previews excepted)."""
    for entry in log:
        if entry["method"] != "POST" or not SUBMIT_PATH.match(entry["path"]) or read_flag(query(entry).get("whatif")):
            continue
        if wait_of(entry) > 0 and any(i.get("engine") in (KLING, KLING_V3) for _, _, i in step_inputs(entry)):
            yield Finding(f"Submitted a Kling workflow with wait={query(entry).get('wait')}", [entry])


def kling_duration_types(log: list[Entry], inbox: list[Entry]) -> Iterator[Finding]:
    """kling takes string durations ("5", "10"), kling-v3 integers (3–15)."""
    for entry in log:
        if not is_workflow_submit(entry):
            continue
        for where, _, step_input in step_inputs(entry):
            duration, engine = step_input.get("duration"), step_input.get("engine")
            if duration is None or is_reference(duration):  # a $ref is checked by the service when it resolves
                continue
            wrong = (engine == KLING and not isinstance(duration, str)) or (
                engine == KLING_V3 and (not isinstance(duration, int) or isinstance(duration, bool)))
            if wrong:
                yield Finding(f"Sent duration {duration!r} ({type(duration).__name__}) to engine {engine} "
                              f"at {where or 'the recipe body'}", [entry])


def polling_cadence(log: list[Entry], inbox: list[Entry]) -> Iterator[Finding]:
    """Polls of a running workflow come >= 10 s apart, the first >= 10 s after a wait=0 submit.

    Not polls: reads after the workflow was seen terminal (poll-until-terminal judges those), the
    first read after the client changed the workflow (DELETE / PUT / PATCH) or after a new webhook
    event about it arrived, and held reads (``wait`` >= the cadence's first interval: the server
    paces them).
    """
    minimum = POLL_CADENCE_SECONDS[0]
    last: dict[str, Entry] = {}
    finished: set[str] = set()
    changed: set[str] = set()
    notices = first_deliveries(inbox)
    for entry in log:
        new_id = created(entry)
        if new_id:
            last[new_id] = entry
            if seen_status(entry) in TERMINAL_STATUSES:
                finished.add(new_id)
            continue
        mutated = is_mutation(entry)
        if mutated:
            changed.add(mutated)
            continue
        if not is_read(entry):
            continue
        workflow_id = str(workflow_id_of(entry["path"]))
        previous = last.get(workflow_id)
        exempt = workflow_id in finished or workflow_id in changed or wait_of(entry) >= minimum or (
            previous is not None and notified_between(notices.get(workflow_id, []), previous.get("at", 0),
                                                      entry.get("at", 0)))
        if previous is not None and not exempt and waited(previous, entry) < minimum - _SLACK:
            after = "its submit" if is_workflow_submit(previous) else "the previous poll"
            yield Finding(f"Polled {workflow_id} {waited(previous, entry):.1f} s after {after} "
                          f"(the documented cadence is {' → '.join(f'{s} s' for s in POLL_CADENCE_SECONDS)})",
                          [previous, entry])
        last[workflow_id] = entry
        changed.discard(workflow_id)
        if seen_status(entry) in TERMINAL_STATUSES:
            finished.add(workflow_id)


def polling_stops_at_terminal(log: list[Entry], inbox: list[Entry]) -> Iterator[Finding]:
    """No polling loop past a terminal status: reading it again to get fresh URLs, or once more, is fine."""
    terminal: dict[str, list[Entry]] = {}
    last_read: dict[str, Entry] = {}
    used: set[str] = set()
    flagged: set[str] = set()
    notices = first_deliveries(inbox)
    for entry in log:
        if is_content(entry) or is_blob_api(entry):
            used.update(terminal)  # the client used (or refreshed) URLs: the next read is a URL refresh
            continue
        if not is_read(entry):
            continue
        workflow_id = str(workflow_id_of(entry["path"]))
        if workflow_id in terminal:
            if workflow_id in used or notified_between(notices.get(workflow_id, []), last_read[workflow_id]["at"],
                                                       entry.get("at", 0)):
                terminal[workflow_id] = []  # a URL refresh, or the answer to a new webhook event
            terminal[workflow_id].append(entry)
            if len(terminal[workflow_id]) > REREADS_TOLERATED and workflow_id not in flagged:
                flagged.add(workflow_id)
                yield Finding(f"Kept polling {workflow_id} after it was {seen_status(entry)}: "
                              f"{len(terminal[workflow_id])} more reads in a row without using its result",
                              terminal[workflow_id])
        elif seen_status(entry) in TERMINAL_STATUSES:
            terminal[workflow_id] = []
        used.discard(workflow_id)
        last_read[workflow_id] = entry


def refresh_expired_urls(log: list[Entry], inbox: list[Entry]) -> Iterator[Finding]:
    """Follows each signed URL by blob id: after a 403 get a fresh URL; never fetch the dead one again.

    Which URL a RefreshBlob or a workflow read handed out is not logged, so a dead URL fetched after
    one is judged provably old only when it expired before the refresh was made (a fresh URL never
    expires before the moment it is issued); a GetBlob's 308 ``Location`` is known exactly.
    """
    dead: dict[str, tuple[int, Entry]] = {}
    stale: dict[str, Entry] = {}
    fresh: dict[str, tuple[int, float]] = {}  # blob -> (log position, clock time) of its latest refresh
    handed: set[str] = set()
    read: tuple[int, float] = (-1, 0.0)
    for position, entry in enumerate(log):
        if is_content(entry):
            blob, url = blob_id_of(entry["path"]) or "", url_key(entry["path"], query(entry))
            refreshed = max(fresh.get(blob, (-1, 0.0)), read)
            expired = epoch(query(entry).get("exp"))
            if blob in stale:
                yield Finding(f"Fetched {blob} again after its URL answered 403, without asking for a fresh URL "
                              "in between", [stale[blob], entry])
            elif url in dead and url not in handed and refreshed[0] > dead[url][0] and (
                    (expired is not None and expired < math.floor(refreshed[1]))
                    or _handed_out_since(log, dead[url][1], blob)):
                yield Finding(f"Fetched a URL of {blob} that had already answered 403, although a fresh URL "
                              "had been asked for", [dead[url][1], entry])
            if entry["status"] == 403:
                dead.setdefault(url, (position, entry))
                stale[blob] = entry
                handed.discard(url)
            elif entry["status"] < 400:
                stale.pop(blob, None)
        elif entry["status"] >= 400:
            continue
        elif is_blob_api(entry):
            blob = blob_id_of(entry["path"]) or ""
            stale.pop(blob, None)
            fresh[blob] = (position, entry.get("at", 0))
            if handed_out(entry):
                handed.add(str(handed_out(entry)))
        elif is_workflow_submit(entry) or (entry["method"] == "GET" and entry["path"].startswith(WORKFLOWS)):
            stale.clear()  # a workflow read hands out fresh URLs (the log does not say for which blobs)
            read = (position, entry.get("at", 0))


def _handed_out_since(log: list[Entry], since: Entry, blob: str) -> bool:
    """True when a GetBlob of ``blob`` after ``since`` handed out a known URL (so the old one was not it)."""
    after = False
    for entry in log:
        if entry is since:
            after = True
        elif after and is_blob_api(entry) and blob_id_of(entry["path"]) == blob and handed_out(entry):
            return True
    return False


def ephemeral_needs_result_path(log: list[Entry], inbox: list[Entry]) -> Iterator[Finding]:
    """An ephemeral workflow needs a callback or wait > 0 (the only ways to its result)."""
    for entry in log:
        if not is_workflow_submit(entry):
            continue
        body = entry.get("body") if isinstance(entry.get("body"), dict) else {}
        if RECIPE_PATH.match(entry["path"]):  # recipes take ephemeral as a query flag and cannot carry callbacks
            ephemeral, callbacks = read_flag(query(entry).get("ephemeral")) is True, None
        else:
            ephemeral, callbacks = body.get("ephemeral") is True, body.get("callbacks")
        if ephemeral and not callbacks and wait_of(entry) <= 0:
            yield Finding("Submitted an ephemeral workflow with no callback and wait=0", [entry])


def ephemeral_detailed_callbacks(log: list[Entry], inbox: list[Entry]) -> Iterator[Finding]:
    """An ephemeral workflow's output reaches the client only in a detailed callback (or a long enough wait)."""
    for entry in log:
        body = entry.get("body")
        if not is_workflow_submit(entry) or not isinstance(body, dict) or body.get("ephemeral") is not True:
            continue
        callbacks = [c for c in body.get("callbacks") or [] if isinstance(c, dict)]
        if callbacks and wait_of(entry) <= 0 and not any(c.get("detailed") is True for c in callbacks):
            yield Finding("Ephemeral workflow with callbacks none of which is detailed: its output can never be "
                          "read (GetWorkflow answers 404 once it finishes)", [entry], severity="advisory")


def webhook_receivers_prompt(log: list[Entry], inbox: list[Entry]) -> Iterator[Finding]:
    """Webhook receivers answer 2xx, quickly."""
    for attempt in inbox:
        code, latency = attempt.get("statusCode"), (attempt.get("latencyMs") or 0) / 1000
        if code is None or not 200 <= code < 300 or latency > WEBHOOK_PROMPT_SECONDS:
            why = attempt.get("error") or (f"answered {code}" if code else "no answer")
            if latency > WEBHOOK_PROMPT_SECONDS:
                why += f" after {latency:.1f} s"
            yield Finding(f"Webhook receiver {why}", [attempt])


def _blob_ids(value: Any) -> Iterator[str]:
    """Ids of the blobs (objects with ``id`` and ``url``) anywhere in a webhook payload."""
    if isinstance(value, dict):
        if isinstance(value.get("id"), str) and "url" in value:
            yield value["id"]
        for item in value.values():
            yield from _blob_ids(item)
    elif isinstance(value, list):
        for item in value:
            yield from _blob_ids(item)


def webhook_deduplication(log: list[Entry], inbox: list[Entry]) -> Iterator[Finding]:
    """A terminal event delivered twice is handled once: more handlings than distinct events is a duplicate handled.

    A handling is a read of the finished workflow (not one refreshing a URL that answered 403) or a
    download of a blob named in its events, at or after the first terminal delivery; reads and
    downloads of one handling are not added up.
    """
    events: dict[str, dict[tuple[Any, ...], list[Entry]]] = {}
    for attempt in inbox:
        event = attempt.get("event") or {}
        if attempt.get("delivered") and event.get("status") in TERMINAL_STATUSES and event.get("workflowId"):
            events.setdefault(str(event["workflowId"]), {}).setdefault(event_identity(attempt), []).append(attempt)
    for workflow_id, by_key in events.items():
        distinct, delivered = len(by_key), sum(len(v) for v in by_key.values())
        if delivered == distinct:
            continue
        attempts = [a for v in by_key.values() for a in v]
        since = min(epoch(a.get("at")) or 0.0 for a in attempts) - _SLACK
        blobs = {b for a in attempts for b in _blob_ids(a.get("event"))}
        reads, downloads, refreshing = [], [], False
        for entry in log:
            if entry.get("at", 0) < since:
                continue
            if is_content(entry):
                refreshing = refreshing or entry["status"] == 403
                if entry["status"] < 400 and blob_id_of(entry["path"]) in blobs:
                    downloads.append(entry)
            elif is_read(entry) and workflow_id_of(entry["path"]) == workflow_id:
                if seen_status(entry) in TERMINAL_STATUSES and not refreshing:
                    reads.append(entry)
                refreshing = False
        handled = max(reads, downloads, key=len)
        if len(handled) > distinct:
            yield Finding(f"{workflow_id}: {delivered} deliveries of {distinct} terminal event(s) were handled "
                          f"{len(handled)} times (deduplicate by workflowId, status and timestamp)",
                          [*handled, *attempts[:2]])


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The request model inside an annotation (``X | None``, ``list[X]``, ``Annotated[X, …]``), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in get_args(annotation):
        found = _model_of(argument)
        if found is not None:
            return found
    return None


def unknown_properties(data: Any, model: type[BaseModel], where: str = "") -> Iterator[str]:
    """JSON paths of properties in ``data`` that ``model`` (and the models nested in it) does not define."""
    if not isinstance(data, dict):
        return
    fields = {f.alias or name: f for name, f in model.model_fields.items()}
    for key, value in data.items():
        path = f"{where}.{key}" if where else str(key)
        if key not in fields:
            yield path
            continue
        inner = _model_of(fields[key].annotation)
        if inner is not None:
            for index, item in enumerate(value) if isinstance(value, list) else [(None, value)]:
                yield from unknown_properties(item, inner, path if index is None else f"{path}[{index}]")


def _unknown_in(entry: Entry) -> Iterable[str]:
    body = entry.get("body")
    if not RECIPE_PATH.match(entry["path"]):
        yield from unknown_properties(body, WorkflowTemplate)
        for index, step in enumerate(body.get("steps") or [] if isinstance(body, dict) else []):
            if isinstance(step, dict):
                yield from unknown_properties(step, StepTemplate, f"steps[{index}]")
    for where, step_type, step_input in step_inputs(entry):
        model = input_model(step_type, step_input.get("engine"))
        if model is not None:
            yield from unknown_properties(step_input, model, where)


def unknown_input_properties(log: list[Entry], inbox: list[Entry]) -> Iterator[Finding]:
    """Properties the documented request models do not list (production ignores them silently)."""
    for entry in log:
        if is_workflow_submit(entry) and isinstance(entry.get("body"), dict):
            unknown = list(dict.fromkeys(_unknown_in(entry)))
            if unknown:
                yield Finding(f"Sent properties the documentation does not list (ignored, so their defaults apply): "
                              f"{', '.join(unknown)}", [entry])
