"""Request models for the two Kling engines of the videoGen step, with every documented rule.

The constants below are the single source of truth for enums, ranges and defaults: the server
validates with these models, the Hypothesis strategies draw from these constants and the client
linter reads them too.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema
from pydantic.alias_generators import to_camel

from civitai_mock.contracts.casing import any_case

# --- enums, ranges and defaults -------------------------------------------------------------

KlingEngine = Literal["kling"]
KlingV3Engine = Literal["kling-v3"]
KLING: str = get_args(KlingEngine)[0]
KLING_V3: str = get_args(KlingV3Engine)[0]
ENGINES: tuple[str, ...] = (KLING, KLING_V3)

KlingModelName = Literal["v1", "v1.5", "v1.6", "v2", "v2.5-turbo"]
KLING_MODELS: tuple[str, ...] = get_args(KlingModelName)
#: Models whose price depends on ``mode`` (v1, v1.5, v1.6); the newer ones (v2, v2.5-turbo) ignore it.
MODE_PRICED_MODELS: tuple[str, ...] = KLING_MODELS[:3]
MODE_FREE_MODELS: tuple[str, ...] = KLING_MODELS[3:]

KlingDuration = Literal["5", "10"]
KLING_DURATIONS: tuple[str, ...] = get_args(KlingDuration)
KLING_DEFAULT_DURATION: KlingDuration = "5"

Mode = Literal["standard", "professional"]
MODES: tuple[str, ...] = get_args(Mode)
#: How the recipe page spells the modes ("Standard"); the service reads them case-insensitively.
DOCUMENTED_MODE_SPELLINGS: tuple[str, ...] = tuple(m.capitalize() for m in MODES)
STANDARD, PROFESSIONAL = MODES
DEFAULT_MODE: Mode = STANDARD  # type: ignore[assignment]

AspectRatio = Literal["16:9", "9:16", "1:1"]
ASPECT_RATIOS: tuple[str, ...] = get_args(AspectRatio)
DEFAULT_ASPECT_RATIO: AspectRatio = ASPECT_RATIOS[0]  # type: ignore[assignment]

CFG_SCALE_MIN, CFG_SCALE_MAX, CFG_SCALE_DEFAULT = 0.0, 1.0, 0.5
CAMERA_AXES: tuple[str, ...] = ("horizontal", "vertical", "pan", "tilt", "roll", "zoom")
CAMERA_AXIS_MIN, CAMERA_AXIS_MAX = -10.0, 10.0

Operation = Literal[
    "text-to-video",
    "image-to-video",
    "reference-to-video",
    "video-to-video-edit",
    "video-to-video-reference",
]
OPERATIONS: tuple[str, ...] = get_args(Operation)
DEFAULT_OPERATION: Operation = OPERATIONS[0]  # type: ignore[assignment]
V3_DURATION_MIN, V3_DURATION_MAX, V3_DEFAULT_DURATION = 3, 15, 5
V3_DURATIONS: tuple[int, ...] = tuple(range(V3_DURATION_MIN, V3_DURATION_MAX + 1))
MULTI_PROMPT_DEFAULT_DURATION = 5

#: Inputs each operation cannot run without, in ``OPERATIONS`` order: text-to-video, image-to-video,
#: reference-to-video, video-to-video-edit, video-to-video-reference.
REQUIRED_BY_OPERATION: dict[str, tuple[str, ...]] = dict(
    zip(OPERATIONS, ((), ("sourceImage",), ("images",), ("videoUrl",), ("videoUrl",)))
)
VIDEO_TO_VIDEO_OPERATIONS: tuple[str, ...] = OPERATIONS[3:]

# --- messages (the troubleshooting table's words are kept inside them) ----------------------

MSG_REQUIRED = "{field} is required"
MSG_REQUIRED_FOR_OPERATION = "{field} is required for operation '{operation}'"
MSG_ONE_OF = "{field} must be one of {choices}"
MSG_KLING_DURATION = "duration must be one of \"5\", \"10\" (a string: the kling engine takes string durations)"
MSG_V3_DURATION = f"duration must be an integer from {V3_DURATION_MIN} to {V3_DURATION_MAX}"
MSG_SOURCE_IMAGE = "{field} must be a URL, a data URL or a Base64 string"
MSG_URL = "{field} must be an absolute http(s) URL"

# --- value checks ---------------------------------------------------------------------------
# One pattern per kind of string, published in the JSON Schema and used by the validators, so both accept the
# same strings. The official schema says ``format: uri`` / ``source-image`` ("Either A URL, A DataURL or a
# Base64 string"); the patterns accept what the docs and real clients send: http(s) URLs (scheme in any case,
# a host or an IPv6 literal, an optional port, then a path, query or fragment), base64 data URLs and Base64
# text without white space. The fragments stay ECMA-262 compatible (no inline flags) for schema-driven tools.

_URL = r"[Hh][Tt][Tt][Pp][Ss]?://(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~-]+)(?::[0-9]{1,5})?(?:[/?#]\S*)?"
_BASE64_TEXT = r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{4}|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2}==)"
_TOKEN = r"[A-Za-z0-9_.+-]+"
_DATA_URL = rf"data:{_TOKEN}/{_TOKEN}(?:;{_TOKEN}={_TOKEN})*;base64,{_BASE64_TEXT}"
URL_PATTERN = rf"^{_URL}$"
SOURCE_IMAGE_PATTERN = rf"^(?:{_URL}|{_DATA_URL}|{_BASE64_TEXT})$"
_IS_URL, _IS_SOURCE_IMAGE = re.compile(URL_PATTERN), re.compile(SOURCE_IMAGE_PATTERN)


def is_http_url(value: str) -> bool:
    """True when ``value`` is an absolute http(s) URL with a host (``URL_PATTERN``)."""
    return _IS_URL.fullmatch(value) is not None


def is_source_image(value: str) -> bool:
    """True for a source image as the schema says: a URL, a data URL or Base64 text (``SOURCE_IMAGE_PATTERN``)."""
    return _IS_SOURCE_IMAGE.fullmatch(value) is not None


def _source_image(value: str) -> str:
    if not is_source_image(value):
        raise ValueError("source-image")
    return value


def _http_url(value: str) -> str:
    if not is_http_url(value):
        raise ValueError("url")
    return value


SourceImage = Annotated[str, AfterValidator(_source_image),
                        WithJsonSchema({"type": "string", "pattern": SOURCE_IMAGE_PATTERN})]
HttpUrl = Annotated[str, AfterValidator(_http_url), WithJsonSchema({"type": "string", "pattern": URL_PATTERN})]
ModeField = any_case(Mode)
ModelField = any_case(KlingModelName)
OperationField = any_case(Operation)
CameraAxis = Annotated[float | None, Field(ge=CAMERA_AXIS_MIN, le=CAMERA_AXIS_MAX)]


class ContractModel(BaseModel):
    """Base for request models: camelCase JSON names, strict JSON types, unknown fields ignored.

    The service (.NET) ignores JSON properties it does not know (Civitai's own web app sends ``seed``,
    ``quantity`` and ``enablePromptEnhancer`` with every Kling input); the linter reports them as an
    advisory instead. Only the camelCase names are read: ``generate_audio`` is such an unknown property.
    """

    model_config = ConfigDict(alias_generator=to_camel, extra="ignore", strict=True)

    def to_json(self) -> dict[str, Any]:
        """The model as the JSON the service echoes back (camelCase, defaults filled, nulls dropped)."""
        # what model_dump(mode="json", by_alias=True, exclude_none=True) returns, without its wrapper
        return self.__pydantic_serializer__.to_python(self, mode="json", by_alias=True, exclude_none=True)


class KlingCameraControlConfig(ContractModel):
    """Camera motion: each axis -10..10, or null for no control."""

    horizontal: CameraAxis = None
    vertical: CameraAxis = None
    pan: CameraAxis = None
    tilt: CameraAxis = None
    roll: CameraAxis = None
    zoom: CameraAxis = None


class KlingCameraControl(ContractModel):
    """Wrapper object holding the camera ``config``."""

    config: KlingCameraControlConfig | None = None


class KlingInput(ContractModel):
    """Input of the original ``kling`` engine (models v1 … v2.5-turbo)."""

    engine: KlingEngine
    prompt: str
    model: ModelField
    negative_prompt: str | None = None
    mode: ModeField = DEFAULT_MODE
    aspect_ratio: AspectRatio = DEFAULT_ASPECT_RATIO
    duration: KlingDuration = KLING_DEFAULT_DURATION
    cfg_scale: Annotated[float, Field(ge=CFG_SCALE_MIN, le=CFG_SCALE_MAX)] = CFG_SCALE_DEFAULT
    source_image: SourceImage | None = None
    source_image_url: HttpUrl | None = None
    camera_control: KlingCameraControl | None = None

    @property
    def seconds(self) -> int:
        """The requested length in whole seconds."""
        return int(self.duration)

    @property
    def generates_audio(self) -> bool:
        """The original engine never produces an audio track."""
        return False


class KlingV3ElementInput(ContractModel):
    """An element (subject) for Kling V3: a frontal image, reference images or a video."""

    frontal_image: SourceImage | None = None
    reference_images: list[SourceImage] = []
    video_url: HttpUrl | None = None


class KlingV3MultiPrompt(ContractModel):
    """One time-sequenced prompt: the text and the seconds it controls."""

    prompt: str
    duration: Annotated[int, Field(ge=1)] = MULTI_PROMPT_DEFAULT_DURATION


class KlingV3Input(ContractModel):
    """Input of the ``kling-v3`` engine (five operations, integer durations 3–15)."""

    engine: KlingV3Engine
    prompt: str
    operation: OperationField = DEFAULT_OPERATION
    mode: ModeField = DEFAULT_MODE
    duration: Annotated[int, Field(ge=V3_DURATION_MIN, le=V3_DURATION_MAX)] = V3_DEFAULT_DURATION
    aspect_ratio: AspectRatio = DEFAULT_ASPECT_RATIO
    source_image: SourceImage | None = None
    end_image: SourceImage | None = None
    video_url: HttpUrl | None = None
    images: list[SourceImage] = Field(default_factory=list, json_schema_extra={"default": []})
    elements: list[KlingV3ElementInput] = Field(default_factory=list, json_schema_extra={"default": []})
    generate_audio: bool = False
    voice_ids: list[str] | None = None
    keep_audio: bool = True
    multi_prompt: list[KlingV3MultiPrompt] | None = None

    @property
    def seconds(self) -> int:
        """The requested length in whole seconds."""
        return self.duration

    @property
    def generates_audio(self) -> bool:
        """True when the output carries an audio track (generated, or kept from a source video)."""
        if self.operation in VIDEO_TO_VIDEO_OPERATIONS:
            return self.generate_audio or self.keep_audio
        return self.generate_audio


VideoInput = KlingInput | KlingV3Input
_V3_ATTRIBUTES = {field.alias or name: name for name, field in KlingV3Input.model_fields.items()}
INPUT_MODELS: dict[str, type[ContractModel]] = {KLING: KlingInput, KLING_V3: KlingV3Input}


def missing_for_operation(video_input: KlingV3Input) -> list[str]:
    """JSON names of the inputs ``video_input.operation`` needs but did not get."""
    return [name for name in REQUIRED_BY_OPERATION[video_input.operation]
            if not getattr(video_input, _V3_ATTRIBUTES[name])]

#: Documented typical run time of Kling V3 Standard at 5 s ("2–5 minutes"); Professional, audio and
#: longer clips take longer. The fake draws its timings around this range.
TYPICAL_SECONDS_V3_STANDARD_5S: tuple[int, int] = (120, 300)
#: Documented polling cadence for Kling jobs (seconds between GetWorkflow calls).
POLL_CADENCE_SECONDS: tuple[int, ...] = (10, 30, 60)
