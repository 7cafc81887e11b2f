"""README, "Hypothesis: strategies and allowed server behaviours": a client against every allowed timeline."""

from __future__ import annotations

from hypothesis import given, settings

from civitai_mock import check, civitai_fake, play, timelines
from examples.reference_client import KlingClient as MyClient


@settings(max_examples=50, deadline=None)   # one example is a whole job: no 200 ms deadline
@given(timelines())                        # 429/503 bursts, run times, expiring URLs, duplicates, every ending
def test_my_client(timeline):
    with civitai_fake() as mock:           # a fresh isolated fake per example
        play(mock, timeline)
        result = MyClient(mock.client, sleep=mock.advance).generate({"engine": "kling-v3", "prompt": "x"})
        check(mock, timeline, result)      # expected outcome and no contract error, or a narrated failure
