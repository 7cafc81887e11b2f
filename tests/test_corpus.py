"""The linter's corpus: correct clients in six styles report every timeline's outcome with zero violations
(advisories included); each buggy client is caught by the rule meant for its bug and by no other rule.

The default run draws 25 timelines per correct client; the ``slow`` run (CI) draws 200 each. The
``ci`` Hypothesis profile derandomizes both.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from civitai_mock import CivitaiMock, Timeline, civitai_fake, play, timelines
from civitai_mock.contracts.rules import RULES_BY_ID
from civitai_mock.kit.play import check
from tests.clients.buggy import BUGS, SETUP, Bug
from tests.clients.correct import CORRECT

README = Path(__file__).resolve().parents[1] / "README.md"
QUICK = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FULL = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def mock() -> Iterator[CivitaiMock]:
    with civitai_fake() as handle:
        yield handle


def conforms(mock: CivitaiMock, drive: Callable[[CivitaiMock, Timeline], Any], timeline: Timeline) -> None:
    """Run one correct client on one timeline: the expected outcome and not a single violation or advisory."""
    with play(mock, timeline):
        try:
            result = drive(mock, timeline)
        except Exception as error:  # check() narrates what the fake did before the client raised
            result = error
    check(mock, timeline, result)
    assert mock.lint() == [], "advisories too: " + "; ".join(v.message for v in mock.lint())


@pytest.mark.parametrize("style", list(CORRECT))
@QUICK
@given(timeline=timelines())
def test_correct_client_conforms_on_drawn_timelines(mock: CivitaiMock, style: str, timeline: Timeline) -> None:
    conforms(mock, CORRECT[style], timeline)


@pytest.mark.slow
@pytest.mark.parametrize("style", list(CORRECT))
@FULL
@given(timeline=timelines())
def test_correct_client_conforms_on_200_timelines(mock: CivitaiMock, style: str, timeline: Timeline) -> None:
    conforms(mock, CORRECT[style], timeline)


def fired(bug: Bug, timeline: Timeline) -> set[str]:
    """Every rule (advisories included) that fires on the bug's traffic on one timeline."""
    with civitai_fake(**bug.fake) as handle:
        play(handle, timeline)
        SETUP.get(bug.name, lambda m: None)(handle)
        try:
            bug.drive(handle, timeline)
        except Exception:
            pass  # a buggy client may well blow up; its traffic is what is judged
        return {v.rule for v in handle.lint()}


@pytest.mark.parametrize("bug", BUGS, ids=[b.name for b in BUGS])
def test_buggy_client_is_caught_by_its_rule_only(bug: Bug) -> None:
    per_timeline = {timeline: fired(bug, timeline) for timeline in bug.timelines}
    assert any(bug.rule in rules for rules in per_timeline.values()), f"{bug.name} not caught by {bug.rule}"
    unrelated = {t: rules - {bug.rule} for t, rules in per_timeline.items() if rules - {bug.rule}}
    assert not unrelated, f"false alarms on {bug.name}: {unrelated}"


def test_the_corpus_covers_every_rule_and_is_large_enough() -> None:
    assert len(CORRECT) >= 6 and len(BUGS) >= 12
    assert {bug.rule for bug in BUGS} == set(RULES_BY_ID)


def test_readme_table_lists_the_whole_corpus() -> None:
    section = README.read_text().split("### The linter's corpus", 1)[1].split("\n#", 1)[0]
    rows = [re.split(r"\s*\|\s*", row.strip("| ")) for row in section.splitlines() if row.startswith("| ")]
    listed = {(cells[0].strip("`"), cells[1].strip("`")) for cells in rows[2:] if len(cells) >= 2}
    assert {(bug.name, bug.rule) for bug in BUGS} <= listed
    assert all(any(style in row[0] for row in rows) for style in CORRECT)
