"""The tiny real media served as generated output: MP4 clips (fixtures/media/make_media.sh) and still images
(fixtures/media/make_images.sh)."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

from civitai_mock.contracts.image import FILE_EXTENSIONS, IMAGE_ASPECT_RATIOS, MEDIA_TYPES
from civitai_mock.contracts.kling import ASPECT_RATIOS

CONTENT_TYPE = "video/mp4"
#: Frame size of the served clips, in the order of ``ASPECT_RATIOS`` (16:9, 9:16, 1:1).
_FRAME_SIZES: dict[str, tuple[int, int]] = dict(zip(ASPECT_RATIOS, ((128, 72), (72, 128), (96, 96))))
#: Size of the served images, in the order of ``IMAGE_ASPECT_RATIOS`` (16:9, 9:16, 1:1, 3:4, 4:3).
IMAGE_SIZES: dict[str, tuple[int, int]] = dict(zip(IMAGE_ASPECT_RATIOS, ((128, 72), (72, 128), (96, 96), (72, 96),
                                                                          (96, 72))))
MEDIA_PACKAGE = "civitai_mock.media"


def frame_size(aspect_ratio: str) -> tuple[int, int]:
    """(width, height) of the clip served for ``aspect_ratio``."""
    try:
        return _FRAME_SIZES[aspect_ratio]
    except KeyError:
        raise KeyError(f"no media for aspect ratio {aspect_ratio!r}; known: {', '.join(_FRAME_SIZES)}") from None


def image_size(aspect_ratio: str) -> tuple[int, int]:
    """(width, height) of the image served for ``aspect_ratio``."""
    try:
        return IMAGE_SIZES[aspect_ratio]
    except KeyError:
        raise KeyError(f"no image for aspect ratio {aspect_ratio!r}; known: {', '.join(IMAGE_SIZES)}") from None


def image_name(aspect_ratio: str, output_format: str) -> str:
    """File name of the image for these parameters (``image_96x96.jpg``)."""
    width, height = image_size(aspect_ratio)
    return f"image_{width}x{height}.{FILE_EXTENSIONS[output_format]}"


def image_type(output_format: str) -> str:
    """The media type an image of ``output_format`` is served with (``image/jpeg``)."""
    return MEDIA_TYPES[output_format]


def media_name(aspect_ratio: str, seconds: int, audio: bool) -> str:
    """File name of the clip for these parameters (``128x72_5s_silent.mp4``)."""
    width, height = frame_size(aspect_ratio)
    return f"{width}x{height}_{seconds}s_{'audio' if audio else 'silent'}.mp4"


@lru_cache(maxsize=None)
def media_bytes(name: str) -> bytes:
    """The bytes of one shipped media file (read once, then cached)."""
    source = resources.files(MEDIA_PACKAGE).joinpath(name)
    if not source.is_file():
        raise KeyError(f"no media file {name} in {MEDIA_PACKAGE}")
    return source.read_bytes()


def video_bytes(aspect_ratio: str, seconds: int, audio: bool) -> bytes:
    """The MP4 bytes for a clip of ``seconds`` in ``aspect_ratio`` (with an audio track if ``audio``)."""
    return media_bytes(media_name(aspect_ratio, seconds, audio))
