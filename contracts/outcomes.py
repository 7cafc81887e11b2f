"""How a job ends: prompt directives (``[mock:fail=no_provider_available]``) and per-tenant queues."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from civitai_mock.contracts.workflow import NSFW_LEVELS

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


class OutcomeError(ValueError):
    """An outcome or directive that cannot be played."""


@dataclass(frozen=True)
class Outcome:
    """What will happen to a step: how it ends, and optional timing / content overrides."""

    kind: str = "succeed"
    reason: str | None = None
    blocked_reason: str | None = None
    runtime: float | None = None
    nsfw_level: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise OutcomeError(f"outcome kind must be one of {', '.join(KINDS)}, not '{self.kind}'")
        if self.runtime is not None and not (0 <= self.runtime <= 7 * 86400):
            raise OutcomeError("runtime must be between 0 and 604800 seconds")
        if self.nsfw_level is not None and self.nsfw_level not in NSFW_LEVELS:
            raise OutcomeError(f"nsfw level must be one of {', '.join(NSFW_LEVELS)}")

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Outcome":
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
        kind = data.get("kind", "succeed")
        reason = data.get("reason")
        if kind == "fail" and not reason:
            reason = "no_provider_available"
        if kind == "block":
            reason = "blocked"
        return cls(kind=kind, reason=reason, blocked_reason=data.get("blockedReason"),
                   runtime=data.get("runtime"), nsfw_level=data.get("nsfwLevel"))

    def to_json(self) -> dict[str, Any]:
        """JSON form (camelCase, nulls dropped)."""
        data = {"kind": self.kind, "reason": self.reason, "blockedReason": self.blocked_reason,
                "runtime": self.runtime, "nsfwLevel": self.nsfw_level}
        return {k: v for k, v in data.items() if v is not None}


def parse_directives(prompt: str) -> Outcome | None:
    """The outcome forced by ``[mock:...]`` directives in a prompt, or None when there are none."""
    found = {name: value for name, value in _DIRECTIVE.findall(prompt)}
    if not found:
        return None
    fields: dict[str, Any] = {}
    if "fail" in found:
        fields.update(kind="fail", reason=found["fail"] or "no_provider_available")
    elif "block" in found:
        fields.update(kind="block", reason="blocked", blocked_reason=found["block"] or "moderation")
    elif "expire" in found:
        fields.update(kind="expire", reason="timeout")
    elif "cancel" in found:
        fields.update(kind="cancel", reason="canceled")
    if found.get("runtime"):
        try:
            fields["runtime"] = float(found["runtime"])
        except ValueError:
            raise OutcomeError(f"[mock:runtime=...] needs seconds, got '{found['runtime']}'") from None
    if found.get("nsfw"):
        fields["nsfw_level"] = found["nsfw"]
    return Outcome(**fields)
