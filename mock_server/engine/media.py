"""The tiny real MP4 files served as generated videos (made by fixtures/media/make_media.sh)."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

from civitai_mock.contracts.kling import ASPECT_RATIOS

CONTENT_TYPE = "video/mp4"
#: Frame size of the served clips, in the order of ``ASPECT_RATIOS`` (16:9, 9:16, 1:1).
_FRAME_SIZES: dict[str, tuple[int, int]] = dict(zip(ASPECT_RATIOS, ((128, 72), (72, 128), (96, 96))))
MEDIA_PACKAGE = "civitai_mock.media"


def frame_size(aspect_ratio: str) -> tuple[int, int]:
    """(width, height) of the clip served for ``aspect_ratio``."""
    try:
        return _FRAME_SIZES[aspect_ratio]
    except KeyError:
        raise KeyError(f"no media for aspect ratio {aspect_ratio!r}; known: {', '.join(_FRAME_SIZES)}") from None


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
