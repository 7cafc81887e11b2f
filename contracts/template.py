"""What a client submits: the WorkflowTemplate body, its steps and callbacks."""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, Field

from civitai_mock.contracts.casing import any_case
from civitai_mock.contracts.kling import ContractModel, HttpUrl
from civitai_mock.contracts.timespan import parse_step_timeout
from civitai_mock.contracts.workflow import (
    CALLBACK_EVENT_TYPES,
    EXTERNAL_ID_MAX,
    EXTERNAL_ID_PATTERN,
    MAX_STEPS,
    Currency,
    NSFWLevel,
    Priority,
    Tags,
    UpgradeMode,
)

StepType = Literal["videoGen", "imageGen"]
#: Step types this fake simulates.
STEP_TYPES: tuple[str, ...] = get_args(StepType)
VIDEO_GEN, IMAGE_GEN = STEP_TYPES
#: Every step ``$type`` of the official schema (its WorkflowStepTemplate discriminator): the ones this fake
#: does not simulate are refused with a 400 that says so; any other ``$type`` is unknown to the service.
KNOWN_STEP_TYPES: tuple[str, ...] = (
    "aceStepAudio", "ageClassification", "audioCaptioning", "blobArchive", "chatCompletion", "comfy",
    "comfyNodepackSnapshot", "composeMedia", "convertImage", "customComfy", "echo", "imageBackgroundRemoval",
    "imageGen", "imageResourceTraining", "imageScanning", "imageToSvg", "imageUpload", "imageUpscaler",
    "mediaCaptioning", "mediaHash", "mediaRating", "merge", "miniMaxMusic3", "model3DPreview", "modelClamScan",
    "modelHash", "modelParseMetadata", "modelPickleScan", "polyGen", "preprocessImage", "preprocessVideo",
    "promptEnhancement", "qwenImageBench", "shieldstralModeration", "soniloAudioGen", "textToImage",
    "textToSpeech", "training", "transcode", "transcription", "videoBackgroundRemoval", "videoEnhancement",
    "videoFrameExtraction", "videoGen", "videoInterpolation", "videoMetadata", "videoUpscaler", "wdTagging",
    "webScrape", "webSearch", "xGuardModeration", "yuE2",
)
CallbackEventType = Literal[CALLBACK_EVENT_TYPES]  # type: ignore[valid-type]


def _timespan(value: str) -> str:
    parse_step_timeout(value)
    return value


class CallbackTemplate(ContractModel):
    """A webhook to register: where to POST and which events."""

    url: HttpUrl
    type: Annotated[list[CallbackEventType], Field(min_length=1)]
    detailed: bool | None = None


class TipsTemplate(ContractModel):
    """Tip rates (0–2) for Civitai and creators."""

    civitai: Annotated[float, Field(ge=0, le=2)] = 0
    creators: Annotated[float, Field(ge=0, le=2)] = 0


class StepTemplate(ContractModel):
    """One step of a submission; ``input`` is validated by its step type's and engine's model separately."""

    type_: StepType = Field(alias="$type")
    name: Annotated[str, Field(min_length=1)] | None = None
    priority: any_case(Priority) | None = None  # type: ignore[valid-type]
    timeout: Annotated[str, AfterValidator(_timespan)] | None = None
    retries: Annotated[int, Field(ge=0)] | None = None
    metadata: dict[str, Any] | None = None
    input: dict[str, Any]


class WorkflowTemplate(ContractModel):
    """The SubmitWorkflow body; ``steps`` are validated one by one so errors carry their index."""

    steps: Annotated[list[dict[str, Any]], Field(min_length=1, max_length=MAX_STEPS)]
    metadata: dict[str, Any] | None = None
    tags: Tags | None = None
    callbacks: list[CallbackTemplate] | None = None
    tips: TipsTemplate | None = None
    arguments: dict[str, Any] | None = None
    nsfw_level: any_case(NSFWLevel) | None = None  # type: ignore[valid-type]
    download_priority: any_case(Priority) | None = None  # type: ignore[valid-type]
    experimental: bool | None = None
    allow_mature_content: bool | None = None
    upgrade_mode: any_case(UpgradeMode) | None = None  # type: ignore[valid-type]
    currencies: list[any_case(Currency)] | None = None  # type: ignore[valid-type]
    ephemeral: bool | None = None
    external_id: Annotated[str, Field(min_length=1, max_length=EXTERNAL_ID_MAX, pattern=EXTERNAL_ID_PATTERN)] | None = None
