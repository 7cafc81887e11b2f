"""How a job ends: prompt directives (``[mock:fail=no_provider_available]``) and per-tenant queues."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from civitai_mock.contracts.timespan import MAX_STEP_TIMEOUT_SECONDS
from civitai_mock.contracts.workflow import NSFW_LEVELS

#: What every directive starts with.
DIRECTIVE_MARK = "[mock:"
_DIRECTIVE = re.compile(r"\[mock:([a-z]+)(?:=([^\]]*))?\]")
KINDS = ("succeed", "fail", "block", "expire", "cancel")
#: Directive names and what their value means; documented in README ("Forcing outcomes").
DIRECTIVES = {
    "fail": "REASON: the job fails with this reason (e.g. no_provider_available)",
    "block": "REASON: the job is blocked by moderation (reason 'blocked', blockedReason REASON)",
    "expire": "the step runs past its timeout and expires",
    "cancel": "someone cancels the workflow while it is processing (refunded)",
    "runtime": "SECONDS: processing takes exactly this long",
    "nsfw": "LEVEL: the output's nsfwLevel (pg, pg13, r, x, xxx)",
}


#: ``reason`` of a failed job when a fail outcome names none; ``blockedReason`` of a blocked job when a block
#: outcome names none (the docs give no value: "blockedReason explains further"; ours says who blocked it).
DEFAULT_FAILURE_REASON = "no_provider_available"
DEFAULT_BLOCKED_REASON = "moderation"
#: The job ``reason`` each kind always ends with (a fail outcome's is its own, by default DEFAULT_FAILURE_REASON).
KIND_REASONS = {"block": "blocked", "expire": "timeout", "cancel": "canceled"}
#: The kind of outcome that ends a step in each terminal status (failed: fail, or block for reason "blocked").
STATUS_KINDS = {"succeeded": "succeed", "failed": "fail", "expired": "expire", "canceled": "cancel"}


class OutcomeError(ValueError):
    """An outcome or directive that cannot be played."""


@dataclass(frozen=True)
class Outcome:
    """What will happen to a step: how it ends, and optional timing / content overrides.

    Defaults are filled here, once, however the outcome was asked for (control API, directive, timeline):
    a fail without a reason fails with DEFAULT_FAILURE_REASON, a block without a blockedReason is blocked
    for DEFAULT_BLOCKED_REASON, and block / expire / cancel carry their fixed job reason.
    """

    kind: str = "succeed"
    reason: str | None = None
    blocked_reason: str | None = None
    runtime: float | None = None
    nsfw_level: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise OutcomeError(f"outcome kind must be one of {', '.join(KINDS)}, not '{self.kind}'")
        if self.runtime is not None and not (0 <= self.runtime <= MAX_STEP_TIMEOUT_SECONDS):
            raise OutcomeError(f"runtime must be between 0 and {MAX_STEP_TIMEOUT_SECONDS} seconds")
        if self.nsfw_level is not None and self.nsfw_level not in NSFW_LEVELS:
            raise OutcomeError(f"nsfw level must be one of {', '.join(NSFW_LEVELS)}")
        if self.kind == "fail" and not self.reason:
            object.__setattr__(self, "reason", DEFAULT_FAILURE_REASON)
        if self.kind in KIND_REASONS:
            object.__setattr__(self, "reason", KIND_REASONS[self.kind])
        if self.kind == "block" and not self.blocked_reason:
            object.__setattr__(self, "blocked_reason", DEFAULT_BLOCKED_REASON)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Outcome:
        """Build from the control API's JSON (``{"kind": "fail", "reason": "..."}``)."""
        allowed = {"kind", "reason", "blockedReason", "runtime", "nsfwLevel"}
        unknown = set(data) - allowed
        if unknown:
            raise OutcomeError(f"unknown outcome fields: {', '.join(sorted(unknown))}")
        for name in ("kind", "reason", "blockedReason", "nsfwLevel"):
            if data.get(name) is not None and not isinstance(data[name], str):
                raise OutcomeError(f"{name} must be a string")
        runtime = data.get("runtime")
        if runtime is not None and (isinstance(runtime, bool) or not isinstance(runtime, (int, float))
                                    or not math.isfinite(runtime)):
            raise OutcomeError("runtime must be a number of seconds")
        return cls(kind=data.get("kind", "succeed"), reason=data.get("reason"),
                   blocked_reason=data.get("blockedReason"), runtime=runtime, nsfw_level=data.get("nsfwLevel"))

    def to_json(self) -> dict[str, Any]:
        """JSON form (camelCase, nulls dropped)."""
        data = {"kind": self.kind, "reason": self.reason, "blockedReason": self.blocked_reason,
                "runtime": self.runtime, "nsfwLevel": self.nsfw_level}
        return {k: v for k, v in data.items() if v is not None}


#: The ending of a step nothing forces (outcomes are frozen: one instance serves every such step).
SUCCEED = Outcome()


def ending_outcome(status: str, reason: str | None = None, runtime: float | None = None) -> Outcome:
    """The outcome that makes a step end in ``status`` with job ``reason`` (a timeline's ending), after ``runtime``."""
    if status not in STATUS_KINDS:
        raise OutcomeError(f"a step ends as one of {', '.join(STATUS_KINDS)}, not '{status}'")
    kind = "block" if status == "failed" and reason == KIND_REASONS["block"] else STATUS_KINDS[status]
    return Outcome(kind, reason if kind == "fail" else None, runtime=runtime)


def parse_directives(prompt: str) -> Outcome | None:
    """The outcome forced by ``[mock:...]`` directives in a prompt, or None when there are none."""
    if DIRECTIVE_MARK not in prompt:  # most prompts force nothing
        return None
    found = {name: value for name, value in _DIRECTIVE.findall(prompt)}
    if not found:
        return None
    fields: dict[str, Any] = {}
    if "fail" in found:
        fields.update(kind="fail", reason=found["fail"] or None)
    elif "block" in found:
        fields.update(kind="block", blocked_reason=found["block"] or None)
    elif "expire" in found:
        fields.update(kind="expire")
    elif "cancel" in found:
        fields.update(kind="cancel")
    if found.get("runtime"):
        try:
            fields["runtime"] = float(found["runtime"])
        except ValueError:
            raise OutcomeError(f"[mock:runtime=...] needs seconds, got '{found['runtime']}'") from None
    if found.get("nsfw"):
        fields["nsfw_level"] = found["nsfw"]
    return Outcome(**fields)
