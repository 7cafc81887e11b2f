"""The linter over a fake's whole request log and webhook inbox: what ``/_mock/lint`` and the dashboard judge."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from civitai_mock.contracts import rules
from civitai_mock.mock_server.engine.service import Engine


@dataclass(frozen=True)
class Judged:
    """One tenant's (or everyone's) traffic as the linter read it, and what it found."""

    log: list[dict[str, Any]]
    inbox: list[dict[str, Any]]
    violations: list[rules.Violation]

    def marks(self) -> dict[int, list[str]]:
        """The rules each logged request (by ``seq``) broke."""
        found: dict[int, list[str]] = {}
        for violation in self.violations:
            for entry in violation.requests:
                if "seq" in entry:
                    found.setdefault(entry["seq"], []).append(violation.rule)
        return found


def judge(engine: Engine, token: str | None, ignore: Iterable[str] = ()) -> Judged:
    """Lint ``token``'s whole log and inbox (every tenant, each judged on its own, when None)."""
    log = [entry.to_json() for entry in engine.requests.entries(token)]
    inbox = engine.webhooks.inbox(token)
    return Judged(log, inbox, rules.lint(log, inbox, ignore=ignore, by_tenant=token is None))
