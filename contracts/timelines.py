"""Server behaviours the contract allows, as data — for property-based tests of a client.

A ``Timeline`` describes one way the service may legitimately behave for one submission: a burst
of 429 / 503 answers before it is accepted, 503s while polling, how long the job runs (``processing``
repeats as it goes), webhook events delivered twice (as a retried delivery may be), a blob URL that
has already expired when the client fetches it, and how the job ends. ``civitai_mock.play(mock,
timeline)`` makes a fake behave exactly so; ``timeline.expected`` is what a correct client must
report, and ``civitai_mock.check`` says so — explaining what the fake did when the client is wrong.
A user's test::

    @settings(deadline=None)                 # one client run takes longer than Hypothesis's 200 ms
    @given(timelines())
    def test_my_client(timeline):
        with civitai_fake() as mock:
            play(mock, timeline)
            result = my_client(mock.client, sleep=mock.advance).generate(body)
            check(mock, timeline, result)    # outcome == timeline.expected, and no contract errors

Hypothesis shrinks a failure to the smallest timeline; ``repr(timeline)`` is valid Python and
``Timeline.from_json`` / ``to_json`` replay it from a file.

``PipelineTimeline`` (``pipeline_timelines()``) is the same for a two-step submission, an image
step first and the Kling step that waits on it second: the upstream step may fail, expire or be
slow, and then the Kling step never runs.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from hypothesis import strategies as st

from civitai_mock.contracts.traffic import THROTTLE_STATUSES

#: How a job may end: status plus the job ``reason`` the client should report.
ENDINGS: dict[str, tuple[str, str | None]] = {
    "succeeded": ("succeeded", None),
    "failed:no_provider_available": ("failed", "no_provider_available"),
    "failed:blocked": ("failed", "blocked"),
    "expired": ("expired", "timeout"),
    "canceled": ("canceled", "canceled"),
}
#: A correct client tries 5 times ("give up after ~5 tries"): bursts stay below that.
MAX_BURST = 4
MAX_EXPIRED_URLS = 3


@dataclass(frozen=True)
class Timeline:
    """One contract-allowed behaviour of the service for one Kling submission."""

    ending: str = "succeeded"
    runtime: int = 10
    submit_throttles: tuple[int, ...] = ()
    retry_after: int = 1
    poll_errors: int = 0
    expired_urls: int = 0
    duplicate_webhooks: int = 0
    seed: int = 0
    notes: tuple[str, ...] = field(default=(), compare=False, repr=False)

    @property
    def expected(self) -> tuple[str, str | None, bool]:
        """What a correct client reports: (status, job reason, whether it got the video)."""
        status, reason = ENDINGS[self.ending]
        return status, reason, status == "succeeded"

    def to_json(self) -> dict[str, Any]:
        """JSON form (save it to replay a failure)."""
        data = asdict(self)
        data.pop("notes")
        return data

    def behaviours(self) -> list[str]:
        """What this timeline makes the fake do, in words (one sentence per injected behaviour)."""
        status, reason = ENDINGS[self.ending]
        ending = {"succeeded": "succeed", "expired": "run past its timeout and expire",
                  "canceled": "be canceled"}.get(status, f"fail with reason {reason!r}")
        said = [f"the job is set to {ending} after {self.runtime} s of processing"]
        if self.submit_throttles:
            said.append(f"the first {len(self.submit_throttles)} submit(s) answer "
                        f"{', '.join(map(str, self.submit_throttles))} with Retry-After: {self.retry_after}")
        if self.poll_errors:
            said.append(f"the first {self.poll_errors} GetWorkflow call(s) answer 503 with Retry-After: "
                        f"{self.retry_after}")
        if self.expired_urls:
            said.append(f"the first {self.expired_urls} signed blob URL(s) handed out are already expired")
        if self.duplicate_webhooks:
            said.append(f"the first {self.duplicate_webhooks} acknowledged webhook event(s) are delivered twice")
        return said

    def replay(self) -> str:
        """The line that replays this timeline (``play(mock, Timeline(...))``)."""
        return f"play(mock, {self!r})"

    @classmethod
    def from_json(cls, data: dict[str, Any] | str) -> Timeline:
        """Rebuild from ``to_json`` output (a dict or a JSON string)."""
        raw = json.loads(data) if isinstance(data, str) else dict(data)
        raw["submit_throttles"] = tuple(raw.get("submit_throttles", ()))
        return cls(**raw)


def _kling_and_transport() -> dict[str, st.SearchStrategy]:
    """Strategies for the fields every timeline draws: the Kling step's runtime, the transport's troubles, a seed."""
    return {
        "runtime": st.integers(min_value=10, max_value=900),
        "submit_throttles": st.lists(st.sampled_from(THROTTLE_STATUSES), max_size=MAX_BURST).map(tuple),
        "retry_after": st.integers(min_value=1, max_value=30),
        "poll_errors": st.integers(min_value=0, max_value=MAX_BURST),
        "expired_urls": st.integers(min_value=0, max_value=MAX_EXPIRED_URLS),
        "duplicate_webhooks": st.integers(min_value=0, max_value=MAX_BURST),
        "seed": st.integers(min_value=0, max_value=2**16),
    }


def timelines(endings: tuple[str, ...] = tuple(ENDINGS)) -> st.SearchStrategy[Timeline]:
    """Every contract-allowed timeline; shrinks toward ``Timeline()``: succeeded, 10 s, no faults, fresh URLs."""
    return st.builds(
        Timeline,
        ending=st.sampled_from(endings),
        **_kling_and_transport(),
    )


#: How the upstream (image) step of a pipeline may end: status plus its job ``reason``.
UPSTREAM_ENDINGS: dict[str, tuple[str, str | None]] = {
    key: ENDINGS[key] for key in ("succeeded", "failed:no_provider_available", "failed:blocked", "expired")
}
#: The longest an upstream step runs on a slow timeline (seconds of processing).
MAX_UPSTREAM_RUNTIME = 600


@dataclass(frozen=True)
class PipelineTimeline(Timeline):
    """A ``Timeline`` for a submission whose first step (an image) feeds the second (Kling) through ``$ref``.

    ``upstream`` says how the first step ends and ``upstream_runtime`` how long it processes; the
    inherited fields describe the Kling step and the transport, as for one step.
    """

    upstream: str = "succeeded"
    upstream_runtime: int = 10

    @property
    def expected(self) -> tuple[str, str | None, bool]:
        """What a correct client reports: the workflow's status, the job reason of the first step that did
        not succeed, and whether it got the video (a failed upstream step means the Kling step never ran)."""
        if self.upstream == "succeeded":
            return super().expected
        status, reason = UPSTREAM_ENDINGS[self.upstream]
        return status, reason, False

    def behaviours(self) -> list[str]:
        """What this timeline makes the fake do, in words."""
        status, reason = UPSTREAM_ENDINGS[self.upstream]
        ending = {"succeeded": "succeed", "expired": "run past its timeout and expire"}.get(
            status, f"fail with reason {reason!r}")
        said = [f"the image step is set to {ending} after {self.upstream_runtime} s of processing"]
        if self.upstream != "succeeded":
            return [*said, "so the Kling step that waits on it is canceled without running",
                    *super().behaviours()[1:]]
        return [*said, *super().behaviours()]


def pipeline_timelines(endings: tuple[str, ...] = tuple(ENDINGS),
                       upstream: tuple[str, ...] = tuple(UPSTREAM_ENDINGS)) -> st.SearchStrategy[PipelineTimeline]:
    """Contract-allowed timelines of an image -> Kling pipeline: the upstream step fails or is slow, then the
    Kling step behaves as ``timelines()`` draws; shrinks toward both succeeding quickly."""
    return st.builds(
        PipelineTimeline,
        upstream=st.one_of(st.sampled_from(upstream[:1]), st.sampled_from(upstream)),  # about half succeed
        upstream_runtime=st.integers(min_value=5, max_value=MAX_UPSTREAM_RUNTIME),
        ending=st.sampled_from(endings),
        **_kling_and_transport(),
    )
