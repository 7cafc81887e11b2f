"""A tiny MP4 reader for tests: duration, tracks (handler, codec, size) from the box tree."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl"}


@dataclass
class Mp4Info:
    """What a test needs to know about an MP4 file."""

    duration: float = 0.0
    tracks: list[dict] = field(default_factory=list)


def _boxes(data: bytes, start: int, end: int):
    while start + 8 <= end:
        size, kind = struct.unpack(">I4s", data[start:start + 8])
        header = 8
        if size == 1:
            size, header = struct.unpack(">Q", data[start + 8:start + 16])[0], 16
        elif size == 0:
            size = end - start
        yield kind, start + header, start + size
        start += size


def read(data: bytes) -> Mp4Info:
    """Parse ``moov``: movie duration, and per track its handler, codec fourcc and frame size."""
    info = Mp4Info()

    def walk(start: int, end: int, track: dict | None) -> None:
        for kind, body, stop in _boxes(data, start, end):
            if kind == b"mvhd":
                version = data[body]
                if version == 1:
                    scale, duration = struct.unpack(">IQ", data[body + 20:body + 32])
                else:
                    scale, duration = struct.unpack(">II", data[body + 12:body + 20])
                info.duration = duration / scale
            elif kind == b"trak":
                current: dict = {}
                info.tracks.append(current)
                walk(body, stop, current)
            elif kind == b"tkhd" and track is not None:
                track["width"], track["height"] = (v >> 16 for v in struct.unpack(">II", data[stop - 8:stop]))
            elif kind == b"hdlr" and track is not None:
                track["handler"] = data[body + 8:body + 12].decode()
            elif kind == b"stsd" and track is not None:
                track["codec"] = data[body + 12:body + 16].decode()
            elif kind in CONTAINERS:
                walk(body, stop, track)

    walk(0, len(data), None)
    return info
