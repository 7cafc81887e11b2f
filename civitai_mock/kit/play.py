"""Timelines on a fake: ``play`` makes it behave as a ``Timeline`` says; ``check`` judges the client and explains.

::

    play(mock, timeline)                      # reset the fake and script its next submission
    result = MyClient(mock.client, sleep=mock.advance).generate(body)
    check(mock, timeline, result)             # expected outcome + contract, or a narrated failure

``with play(mock, timeline): ...`` also narrates any exception escaping the block (as a note).
"""

from __future__ import annotations

import json
from types import TracebackType
from typing import Any

from civitai_mock.contracts.outcomes import ending_outcome
from civitai_mock.contracts.paths import BLOB_REFRESH_PATH, blob_id_of, is_submit
from civitai_mock.contracts.rules import failing, report
from civitai_mock.contracts.timelines import ENDINGS, PipelineTimeline, Timeline
from civitai_mock.contracts.traffic import (
    THROTTLE_STATUSES,
    epoch,
    is_content,
    is_read,
    is_throttled,
    retry_after,
    seen_status,
)
from civitai_mock.contracts.workflow import TERMINAL_STATUSES
from civitai_mock.kit.handle import CivitaiMock

Outcome = tuple[str, "str | None", bool]
REFRESH_DOCS = ("a signed blob URL stops working after a while: read the workflow again, or ask GetBlob / "
                "RefreshBlob, for a new one (recipes/kling.md, 'Reading the result'; guide/errors-and-retries.md, "
                "common gotchas)")
POLL_DOCS = ("keep polling GetWorkflow until it reports a terminal status: succeeded, failed, expired or canceled "
             "(guide/results-and-webhooks.md, 'Polling fallback')")
RETRY_DOCS = ("back off exponentially before retrying a 429 / 5xx (no sooner than Retry-After) and stop after about "
              "five attempts (guide/errors-and-retries.md, 'HTTP status taxonomy')")
REASON_DOCS = "a failed job's reason is steps[].jobs[].reason (guide/errors-and-retries.md, 'Step-level failures')"


class TimelineFailure(AssertionError):
    """A client reported the wrong outcome for a timeline, or broke the contract on it (message narrates)."""


class Replay:
    """What ``play`` returns: usable as a context manager that narrates exceptions escaping the block."""

    def __init__(self, mock: CivitaiMock, timeline: Timeline):
        self.mock, self.timeline = mock, timeline

    def __enter__(self) -> Replay:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        if error is not None and not isinstance(error, TimelineFailure) and isinstance(error, Exception):
            error.add_note(narrate(self.mock, self.timeline) + "\n" + f"Replay: {self.timeline.replay()}")


def _queue_ending(mock: CivitaiMock, ending: str, runtime: int) -> None:
    """Queue the outcome that makes the next step end as ``ending`` after ``runtime`` s of processing."""
    fields = ending_outcome(*ENDINGS[ending], runtime=float(runtime)).to_json()
    mock.queue_outcome(fields.pop("kind"), fields.pop("reason", None), **fields)


def play(mock: CivitaiMock, timeline: Timeline) -> Replay:
    """Reset ``mock`` and make its next submission behave as ``timeline`` says (for a ``PipelineTimeline``:
    its first step, the image, and its second, the Kling step that waits on it)."""
    mock.configure(seed=timeline.seed)
    mock.reset()
    for status in timeline.submit_throttles:
        mock.fail_next(status=status, target="submit", retry_after=timeline.retry_after)
    if timeline.poll_errors:
        mock.fail_next(status=503, count=timeline.poll_errors, target="get", retry_after=timeline.retry_after)
    if isinstance(timeline, PipelineTimeline):
        _queue_ending(mock, timeline.upstream, timeline.upstream_runtime)
    _queue_ending(mock, timeline.ending, timeline.runtime)
    mock.expire_next_urls(timeline.expired_urls)
    mock.duplicate_next_webhooks(timeline.duplicate_webhooks)
    return Replay(mock, timeline)


def outcome_of(result: Any) -> Outcome | None:
    """(status, reason, got the video) from a tuple or an object with ``status`` / ``reason`` / ``video``."""
    if result is None or isinstance(result, BaseException):
        return None
    if isinstance(result, tuple):
        return result  # type: ignore[return-value]
    return (result.status, getattr(result, "reason", None), getattr(result, "video", None) is not None)


def _line(start: float, entry: dict[str, Any], text: str) -> str:
    return f"  t={entry.get('at', start) - start:>7.1f} s  #{entry.get('seq')} {text}"


def _content_story(entry: dict[str, Any]) -> str:
    """What happened to one fetch of a signed blob URL, in words."""
    blob = blob_id_of(entry["path"])
    if entry["status"] != 403:
        return f"GET the signed URL of {blob} -> {entry['status']}" + (": downloaded" if entry["status"] == 200 else "")
    expired = epoch((entry.get("query") or {}).get("exp"))
    if expired is None:
        return f"GET a signed URL of {blob} -> 403"
    late = entry.get("at", 0) - expired
    when = f"expired {late:.0f} s before your client fetched it" if late >= 1 else \
        "had already expired when your client fetched it"
    return f"GET the signed URL of {blob} -> 403: the video URL {when}"


def _story(entry: dict[str, Any], saw_terminal: bool) -> str:
    """One logged request, in words."""
    status, call = entry["status"], f"{entry['method']} {entry['path']} -> {entry['status']}"
    if is_throttled(entry):
        wait = retry_after(entry)
        return f"{call}{f' (Retry-After: {wait:g} s)' if wait is not None else ''}" + \
            (": injected, as the timeline says" if status in THROTTLE_STATUSES else "")
    if is_content(entry):
        return _content_story(entry)
    if is_submit(entry["method"], entry["path"]):
        seen = entry.get("seen") or {}
        wait = (entry.get("query") or {}).get("wait")
        what = f"accepted, workflow {seen.get('id')} {seen.get('status')}" if status < 400 else "refused"
        return f"{call}: {what}" + (f" (wait={wait})" if wait not in (None, "0") else "")
    if is_read(entry):
        return f"{call}: " + (f"your client read the {seen_status(entry)} workflow again" if saw_terminal
                              else f"your client saw the workflow {seen_status(entry)}")
    if BLOB_REFRESH_PATH.match(entry["path"]) or (blob_id_of(entry["path"]) and status == 308):
        return f"{call}: your client asked for a fresh URL"
    return call


def narrate(mock: CivitaiMock, timeline: Timeline) -> str:
    """What the fake did on this timeline, and what the client did, from the request log and the inbox."""
    log = [e.to_json() for e in mock.requests]
    start = log[0]["at"] if log else mock.clock.now()
    lines = [f"What the fake did ({timeline!r}):", *(f"  - {said}" for said in timeline.behaviours()),
             "What your client did (t: clock seconds since its first request):"]
    polls: list[dict[str, Any]] = []

    def flush_polls() -> None:
        if polls:
            lines.append(_line(start, polls[0], f"your client polled GetWorkflow {len(polls)} time(s) until "
                                                f"t={polls[-1]['at'] - start:.1f} s: {seen_status(polls[-1])}"))
            polls.clear()

    saw_terminal = False
    for entry in log:
        if is_read(entry) and seen_status(entry) not in TERMINAL_STATUSES:
            polls.append(entry)
            continue
        flush_polls()
        lines.append(_line(start, entry, _story(entry, saw_terminal)))
        saw_terminal = saw_terminal or (is_read(entry) and seen_status(entry) in TERMINAL_STATUSES)
    flush_polls()
    if not log:
        lines.append("  (no request at all)")
    attempts = mock.webhooks.inbox(mock.token)
    if attempts:
        repeated = len(attempts) - len({repr(sorted(a["event"].items())) for a in attempts})
        lines.append(f"  webhooks: {len(attempts)} delivery attempt(s), {repeated} of them a repeat of an event")
    return "\n".join(lines)


def _hints(timeline: Timeline, actual: Outcome | None, log: list[dict[str, Any]]) -> list[str]:
    """Which documented rule the client most likely missed, from expected vs actual and the log."""
    expected, hints = timeline.expected, []
    fetches = [e for e in log if is_content(e)]
    if actual is None:
        throttled = [e for e in log if is_throttled(e)]
        if throttled and throttled[-1] is log[-1]:
            hints.append(RETRY_DOCS)
    elif expected[2] and not actual[2]:
        if fetches and fetches[-1]["status"] == 403:
            hints.append(REFRESH_DOCS)
        elif not fetches:
            hints.append("your client never fetched the video step's output.video.url")
    if actual is not None and actual[0] not in TERMINAL_STATUSES:
        hints.append(POLL_DOCS)
    elif actual is not None and actual[0] == expected[0] and actual[1] != expected[1]:
        hints.append(REASON_DOCS)
    return hints


def check(mock: CivitaiMock, timeline: Timeline, result: Any, *, conform: bool = True,
          ignore: tuple[str, ...] = ()) -> None:
    """Assert the client reported ``timeline.expected`` (and, if ``conform``, broke no rule); else explain.

    ``result``: the client's result (an object with ``status``, ``reason``, ``video``, or a tuple
    shaped like ``timeline.expected``), or the exception it raised.
    """
    actual = outcome_of(result)
    violations = mock.lint(ignore=ignore) if conform else []
    errors = failing(violations)
    if actual == timeline.expected and not errors:
        return
    log = [e.to_json() for e in mock.requests]
    if actual != timeline.expected:
        shown = f"raised {result!r}" if isinstance(result, BaseException) else f"reported {actual!r}"
        head = [f"Your client {shown}, but on this timeline a correct client reports {timeline.expected!r}.",
                f"  expected: {timeline.expected!r}   (status, job reason, got the video)",
                f"  actual:   {actual!r}"]
    else:
        head = [f"Your client reported the expected {actual!r} but broke the documented contract."]
    hints = _hints(timeline, actual, log) if actual != timeline.expected else []
    parts = [*head, "", narrate(mock, timeline)]
    if hints:
        parts += ["", *(f"The docs say: {hint}" for hint in hints)]
    if errors:
        parts += ["", report(violations)]
    parts += ["", f"Replay: {timeline.replay()}",
              f"    or: play(mock, Timeline.from_json({json.dumps(timeline.to_json())!r}))"]
    raise TimelineFailure("\n".join(parts))
