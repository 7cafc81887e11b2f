"""``play(mock, timeline)``: make a fake behave exactly as a contract-allowed ``Timeline`` says."""

from __future__ import annotations

from civitai_mock.contracts.outcomes import Outcome
from civitai_mock.contracts.timelines import ENDINGS, Timeline
from civitai_mock.kit.handle import CivitaiMock


def play(mock: CivitaiMock, timeline: Timeline) -> None:
    """Reset ``mock`` and make its next submission behave as ``timeline`` says."""
    mock.configure(seed=timeline.seed)
    mock.reset()
    for status in timeline.submit_throttles:
        mock.fail_next(status=status, target="submit", retry_after=timeline.retry_after)
    if timeline.poll_errors:
        mock.fail_next(status=503, count=timeline.poll_errors, target="get", retry_after=timeline.retry_after)
    kind = {"succeeded": "succeed", "expired": "expire", "canceled": "cancel"}.get(timeline.ending, "fail")
    reason = ENDINGS[timeline.ending][1] if kind == "fail" else None
    if timeline.ending == "failed:blocked":
        kind, reason = "block", "blocked"
    mock.engine.outcomes.push(mock.token, [Outcome(kind=kind, reason=reason, runtime=float(timeline.runtime),
                                                   blocked_reason="moderation" if kind == "block" else None)])
    mock.expire_next_urls(timeline.expired_urls)
    mock.duplicate_next_webhooks(timeline.duplicate_webhooks)
