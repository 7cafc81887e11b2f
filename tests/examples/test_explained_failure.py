"""README, "When a timeline test fails": the message shown there is what a client that caches URLs gets."""

from __future__ import annotations

from pathlib import Path

import pytest

from civitai_mock import Timeline, check, civitai_fake, play
from civitai_mock.kit.play import TimelineFailure
from tests.clients.buggy import CachesBlobUrls

README = Path(__file__).resolve().parents[2] / "README.md"


def shown_in_readme() -> list[str]:
    """The lines of the README's sample failure (the text block under "When a timeline test fails")."""
    section = README.read_text().split("#### When a timeline test fails", 1)[1]
    block = section.split("```text\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip() and line.strip() != "…"]


def test_explained_failure():
    with civitai_fake() as mock:
        timeline = Timeline(expired_urls=1)
        play(mock, timeline)
        result = CachesBlobUrls(mock.client, sleep=mock.advance).generate({"engine": "kling-v3", "prompt": "x"})
        with pytest.raises(TimelineFailure) as failure:
            check(mock, timeline, result)
    message = str(failure.value).splitlines()
    missing = [line for line in shown_in_readme() if line not in message]
    assert not missing, "README sample lines not in the real message:\n" + "\n".join(missing)
