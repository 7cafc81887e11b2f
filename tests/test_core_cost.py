"""Buzz cost: every cell of the recipe's two price tables, restated here as the documented numbers."""

from __future__ import annotations

import pytest
from hypothesis import given

from civitai_mock.contracts.cost import step_cost
from civitai_mock.contracts.strategies import video_inputs
from civitai_mock.contracts.validation import validate_video_input

#: The recipe page's kling table: (model, mode) -> (5 s, 10 s). v2 and v2.5-turbo ignore mode.
KLING_TABLE = {
    ("v1", "standard"): (600, 1200), ("v1.5", "standard"): (600, 1200), ("v1.6", "standard"): (600, 1200),
    ("v1", "professional"): (1050, 2100), ("v1.5", "professional"): (1050, 2100),
    ("v1.6", "professional"): (1050, 2100),
    ("v2", "standard"): (1200, 2400), ("v2", "professional"): (1200, 2400),
    ("v2.5-turbo", "standard"): (600, 1200), ("v2.5-turbo", "professional"): (600, 1200),
}
#: The kling-v3 table in Buzz per second: (group, mode, audio) -> rate; v2v ignores audio.
V3_RATES = {("gen", "standard", False): 219, ("gen", "standard", True): 292, ("gen", "professional", False): 292,
            ("gen", "professional", True): 364, ("v2v", "standard", None): 328, ("v2v", "professional", None): 437}
GENERATE_OPS = ("text-to-video", "image-to-video", "reference-to-video")
V2V_OPS = ("video-to-video-edit", "video-to-video-reference")
NEEDS = {"image-to-video": {"sourceImage": "https://e.com/a.jpg"}, "reference-to-video": {"images": ["https://e.com/a.jpg"]},
         "video-to-video-edit": {"videoUrl": "https://e.com/a.mp4"}, "video-to-video-reference": {"videoUrl": "https://e.com/a.mp4"}}


def cost(**video_input: object) -> int:
    return step_cost(validate_video_input({"prompt": "x", **video_input}))


@pytest.mark.parametrize("model,mode", list(KLING_TABLE))
def test_kling_table_cells(model: str, mode: str) -> None:
    five, ten = KLING_TABLE[(model, mode)]
    for spelling in (mode, mode.capitalize()):
        assert cost(engine="kling", model=model, mode=spelling, duration="5") == five
        assert cost(engine="kling", model=model, mode=spelling, duration="10") == ten


@pytest.mark.parametrize("operation", GENERATE_OPS + V2V_OPS)
@pytest.mark.parametrize("mode", ["standard", "professional"])
@pytest.mark.parametrize("audio", [False, True])
def test_kling_v3_every_duration(operation: str, mode: str, audio: bool) -> None:
    rate = V3_RATES[("v2v", mode, None)] if operation in V2V_OPS else V3_RATES[("gen", mode, audio)]
    for duration in range(3, 16):
        assert cost(engine="kling-v3", operation=operation, mode=mode, generateAudio=audio, duration=duration,
                    **NEEDS.get(operation, {})) == rate * duration


@pytest.mark.parametrize("scenario,buzz", [
    ({"mode": "standard"}, 1095), ({"mode": "standard", "generateAudio": True}, 1460),
    ({"mode": "professional"}, 1460), ({"mode": "professional", "generateAudio": True}, 1820),
    ({"mode": "standard", "operation": "video-to-video-edit", **NEEDS["video-to-video-edit"]}, 1640),
    ({"mode": "professional", "operation": "video-to-video-edit", **NEEDS["video-to-video-edit"]}, 2185),
])
def test_the_recipes_examples_at_five_seconds(scenario: dict, buzz: int) -> None:
    assert cost(engine="kling-v3", duration=5, **scenario) == buzz


@given(video_inputs())
def test_any_valid_input_costs_the_table_value(raw: dict) -> None:
    parsed = validate_video_input(raw)
    if parsed.engine == "kling":
        expected = KLING_TABLE[(parsed.model, parsed.mode)][0 if parsed.duration == "5" else 1]
    else:
        group = "v2v" if parsed.operation in V2V_OPS else "gen"
        expected = V3_RATES[(group, parsed.mode, None if group == "v2v" else parsed.generate_audio)] * parsed.duration
    assert step_cost(parsed) == expected
