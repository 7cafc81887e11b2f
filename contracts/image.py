"""The imageGen step as this fake simulates it: engine ``google`` with model ``imagen4``.

Facts from the official schema (``ImageGenInput``, ``GoogleImageGenInput``, ``Imagen4ImageGenInput``,
``ImageGenOutput``, ``ImageBlob``; the subset in the reference folder lists the step type and the blob,
the inputs come from the same schema as the official client's generated types) and from Civitai's
web app, which submits these inputs: ``prompt`` and ``model`` are required, ``aspectRatio`` is one
of five, ``numImages`` and ``seed`` are numbers, ``outputFormat`` is ``jpeg`` / ``png`` / ``webP``.
The constants below are the single source of truth for the server, the strategies and the linter.
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import Field

from civitai_mock.contracts.casing import any_case
from civitai_mock.contracts.kling import ASPECT_RATIOS, ContractModel
from civitai_mock.contracts.workflow import ApiModel, Blob, Timestamp

ImageEngine = Literal["google"]
GOOGLE: str = get_args(ImageEngine)[0]
IMAGE_ENGINES: tuple[str, ...] = (GOOGLE,)

GoogleModel = Literal["imagen4"]
IMAGEN4: str = get_args(GoogleModel)[0]
GOOGLE_MODELS: tuple[str, ...] = get_args(GoogleModel)

#: Imagen 4 takes the three Kling ratios and two more (3:4, 4:3).
IMAGE_ASPECT_RATIOS: tuple[str, ...] = (*ASPECT_RATIOS, "3:4", "4:3")
ImageAspectRatio = Literal[IMAGE_ASPECT_RATIOS]  # type: ignore[valid-type]
#: Square (1:1), Imagen's own default.
DEFAULT_IMAGE_ASPECT_RATIO: str = IMAGE_ASPECT_RATIOS[2]

OutputFormat = Literal["jpeg", "png", "webP"]
OUTPUT_FORMATS: tuple[str, ...] = get_args(OutputFormat)
#: The schema's enum order (jpeg first): the value a .NET enum property takes when none is sent.
DEFAULT_OUTPUT_FORMAT: OutputFormat = OUTPUT_FORMATS[0]  # type: ignore[assignment]
#: File extension and media type of each output format (blob ids end with the extension).
FILE_EXTENSIONS: dict[str, str] = dict(zip(OUTPUT_FORMATS, ("jpg", "png", "webp")))
MEDIA_TYPES: dict[str, str] = dict(zip(OUTPUT_FORMATS, ("image/jpeg", "image/png", "image/webp")))

#: ``numImages``: a number in the schema; Imagen returns at most four images per request.
NUM_IMAGES_MIN, NUM_IMAGES_MAX, NUM_IMAGES_DEFAULT = 1, 4, 1

#: Typical seconds from submission to a finished Imagen 4 image (an API provider: no model download).
TYPICAL_SECONDS_IMAGEN4: tuple[float, float] = (6.0, 20.0)


class Imagen4Input(ContractModel):
    """Input of the imageGen step for engine ``google``, model ``imagen4``."""

    engine: ImageEngine
    model: any_case(GoogleModel)  # type: ignore[valid-type]
    prompt: str
    negative_prompt: str | None = None
    aspect_ratio: ImageAspectRatio = DEFAULT_IMAGE_ASPECT_RATIO  # type: ignore[valid-type]
    num_images: Annotated[int, Field(ge=NUM_IMAGES_MIN, le=NUM_IMAGES_MAX)] = NUM_IMAGES_DEFAULT
    seed: int | None = None
    output_format: any_case(OutputFormat) = DEFAULT_OUTPUT_FORMAT  # type: ignore[valid-type]
    image_metadata: str | None = None

    @property
    def count(self) -> int:
        """How many images the step produces."""
        return self.num_images


ImageInput = Imagen4Input
IMAGE_INPUT_MODELS: dict[str, type[ContractModel]] = {GOOGLE: Imagen4Input}


# --- what the step answers -------------------------------------------------------------------


class ImageBlob(Blob):
    """An image blob: its size and a preview URL (signed and expiring like ``url``)."""

    type: Literal["image"] = "image"
    width: int | None = None
    height: int | None = None
    preview_url: str | None = None
    preview_url_expires_at: Timestamp | None = None


class ImageGenOutput(ApiModel):
    """Output of an imageGen step (``errors`` lists human-readable messages when it failed)."""

    images: list[ImageBlob] = []
    errors: list[str] | None = None
