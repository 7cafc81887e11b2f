"""Buzz cost of a validated step input: the Kling recipe's two price tables as a pure function (images: see below)."""

from __future__ import annotations

from civitai_mock.contracts.image import IMAGEN4, ImageInput
from civitai_mock.contracts.kling import (
    MODE_FREE_MODELS,
    MODE_PRICED_MODELS,
    PROFESSIONAL,
    STANDARD,
    VIDEO_TO_VIDEO_OPERATIONS,
    KlingInput,
    KlingV3Input,
    VideoInput,
)

#: kling (original): price of a 5-second clip per (model, mode); 10 s costs twice as much.
#: ``None`` as mode means the model ignores mode.
KLING_PRICE_5S: dict[tuple[str, str | None], int] = {
    **{(model, STANDARD): 600 for model in MODE_PRICED_MODELS},
    **{(model, PROFESSIONAL): 1050 for model in MODE_PRICED_MODELS},
    **{(model, None): price for model, price in zip(MODE_FREE_MODELS, (1200, 600))},  # v2, v2.5-turbo
}

#: kling-v3: Buzz per second per (operation group, mode, audio); video-to-video ignores audio.
V3_PER_SECOND: dict[tuple[str, str, bool | None], int] = {
    ("generate", STANDARD, False): 219,
    ("generate", STANDARD, True): 292,
    ("generate", PROFESSIONAL, False): 292,
    ("generate", PROFESSIONAL, True): 364,
    ("video-to-video", STANDARD, None): 328,
    ("video-to-video", PROFESSIONAL, None): 437,
}


def operation_group(operation: str) -> str:
    """``video-to-video`` for the two v2v operations, ``generate`` for t2v / i2v / reference."""
    return "video-to-video" if operation in VIDEO_TO_VIDEO_OPERATIONS else "generate"


def kling_cost(video_input: KlingInput) -> int:
    """Buzz for an original-engine clip."""
    mode = video_input.mode if video_input.model in MODE_PRICED_MODELS else None
    return KLING_PRICE_5S[(video_input.model, mode)] * video_input.seconds // 5


def kling_v3_rate(video_input: KlingV3Input) -> int:
    """Buzz per second for a Kling V3 input."""
    group = operation_group(video_input.operation)
    audio = None if group == "video-to-video" else video_input.generate_audio
    return V3_PER_SECOND[(group, video_input.mode, audio)]


#: imageGen: Buzz per image per model. No page of the docs prices Imagen 4, so the fake charges nothing for it
#: (README, "Where the fake chooses"); a price stated here flows into whatif, transactions and refunds.
IMAGE_PRICE_PER_IMAGE: dict[str, int] = {IMAGEN4: 0}


def image_cost(image_input: ImageInput) -> int:
    """Buzz for an imageGen step: the model's price per image times the images asked for."""
    return IMAGE_PRICE_PER_IMAGE[image_input.model] * image_input.count


def step_cost(video_input: VideoInput | ImageInput) -> int:
    """Buzz a step with this input costs (videoGen or imageGen)."""
    if isinstance(video_input, ImageInput):
        return image_cost(video_input)
    if isinstance(video_input, KlingV3Input):
        return kling_v3_rate(video_input) * video_input.duration
    return kling_cost(video_input)
