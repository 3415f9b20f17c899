"""Test videos whose frames say who they are: each frame shows a number (its *id*) as a 4x4 grid
of black and white blocks, which survives compression, scaling and PNG round trips.

The grid holds 12 bits of id and a 4-bit check, most significant bit first, row by row. A
continuation is made by starting its ``ids`` with the previous clip's last id: the same
picture. Clips are H.264 (libx264, with or without B-frames) or MPEG-4 Part 2, optionally with
a quiet AAC tone, at any size and frame rate.
"""

from __future__ import annotations

import io
import math
import os
from array import array
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av

GRID = 4
BITS = 12
_DARK, _BRIGHT = 16, 235
_READ_SIZE = (160, 96)


def _blocks(ident: int) -> list[int]:
    if not 0 <= ident < 1 << BITS:
        raise ValueError(f"ids are 0..{(1 << BITS) - 1}")
    check = (ident ^ ident >> 4 ^ ident >> 8 ^ 0b1010) & 0xF
    word = ident << 4 | check
    return [word >> (15 - i) & 1 for i in range(GRID * GRID)]


def picture(ident: int, size: tuple[int, int] = (160, 90)) -> av.VideoFrame:
    """A yuv420p frame showing ``ident``."""
    width, height = size
    bits = _blocks(ident)
    frame = av.VideoFrame(width, height, "yuv420p")
    luma = frame.planes[0]
    rows = []
    for y in range(height):
        by = min(GRID - 1, y * GRID // height)
        row = bytes(
            _BRIGHT if bits[by * GRID + min(GRID - 1, x * GRID // width)] else _DARK
            for x in range(width)
        )
        rows.append(row + bytes(luma.line_size - width))
    luma.update(b"".join(rows))
    for plane in frame.planes[1:]:
        plane.update(bytes([128]) * plane.buffer_size)
    return frame


def read_id(frame: av.VideoFrame) -> int | None:
    """The id a frame shows, or None when its blocks are unclear or the check disagrees."""
    width, height = _READ_SIZE
    plane = frame.reformat(width, height, "gray").planes[0]
    data, stride = bytes(plane), plane.line_size
    bw, bh = width // GRID, height // GRID
    word = 0
    for by in range(GRID):
        for bx in range(GRID):
            # the middle half of the block, away from edges that compression smears
            ys = range(by * bh + bh // 4, by * bh + 3 * bh // 4)
            xs = slice(bx * bw + bw // 4, bx * bw + 3 * bw // 4)
            level = sum(sum(data[y * stride :][xs]) for y in ys) / (len(ys) * (bw // 2))
            if 80 < level < 170:
                return None
            word = word << 1 | (level >= 170)
    ident = word >> 4
    return ident if _blocks(ident) == [word >> (15 - i) & 1 for i in range(16)] else None


def make_clip(
    path: Path,
    ids: Sequence[int],
    *,
    size: tuple[int, int] = (160, 90),
    fps: int = 8,
    codec: str = "libx264",
    bframes: int = 0,
    gop: int = 8,
    keyframes: Sequence[int] = (),
    audio: bool = True,
    sample_rate: int = 48_000,
    layout: str = "stereo",
    audio_codec: str = "aac",
    container: str = "mp4",
    volume: float = 0.1,
) -> Path:
    """A video (MP4 unless ``container`` says otherwise) of one frame per id at ``fps``;
    ``keyframes`` are positions forced to be keyframes. With ``audio`` a tone of ``volume``
    (0 for silence) lasts as long as the video."""
    with av.open(str(path), "w", format=container) as out:
        if codec == "libx264":
            options = {
                "preset": "ultrafast",
                "crf": "18",
                "bf": str(bframes),
                "g": str(gop),
                "keyint_min": str(gop),
                "sc_threshold": "0",
                "threads": "1",
            }
        else:
            options = {"bf": str(bframes), "g": str(gop), "qscale": "2"}
        video = out.add_stream(codec, rate=fps, options=options)
        assert isinstance(video, av.VideoStream)
        video.width, video.height, video.pix_fmt = size[0], size[1], "yuv420p"
        video.time_base = Fraction(1, fps)
        sound = out.add_stream(audio_codec, rate=sample_rate, layout=layout) if audio else None
        assert sound is None or isinstance(sound, av.AudioStream)
        for n, ident in enumerate(ids):
            frame = picture(ident, size)
            frame.pts, frame.time_base = n, Fraction(1, fps)
            if n in keyframes:
                frame.pict_type = av.video.frame.PictureType.I
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if sound is not None:
            total = len(ids) * sample_rate // fps
            for start in range(0, total, 1024):
                chunk = tone(min(1024, total - start), sample_rate, layout, start, volume)
                chunk.pts, chunk.time_base = start, Fraction(1, sample_rate)
                out.mux(sound.encode(chunk))
            out.mux(sound.encode(None))
    return path


def tone(
    samples: int, rate: int, layout: str, start: int = 0, volume: float = 0.1
) -> av.AudioFrame:
    """``samples`` of a 440 Hz sine (planar float) of amplitude ``volume``, from sample
    ``start``."""
    frame = av.AudioFrame(format="fltp", layout=layout, samples=samples)
    wave = array(
        "f", (volume * math.sin(2 * math.pi * 440 * (start + i) / rate) for i in range(samples))
    )
    data = wave.tobytes()
    for plane in frame.planes:
        plane.update(data + bytes(plane.buffer_size - len(data)))
    frame.sample_rate = rate
    return frame


def read_ids(video: Path | bytes) -> list[int | None]:
    """The id of every frame, in display order."""
    source = io.BytesIO(video) if isinstance(video, bytes) else os.fspath(video)
    with av.open(source, "r") as container:
        return [read_id(frame) for frame in container.decode(container.streams.video[0])]


def video_packets(path: Path) -> list[bytes]:
    """The video packets' bytes, in decode order."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [bytes(p) for p in container.demux(stream) if p.size]


def audio_seconds(path: Path) -> float:
    """How long the decoded audio lasts."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        frames = list(container.decode(stream))
        return sum(f.samples for f in frames) / stream.codec_context.sample_rate


def blanked(path: Path, out: Path) -> Path:
    """A copy of an MP4 whose media data is zeroed: it opens, but its frames don't decode."""
    data = bytearray(path.read_bytes())
    at = data.index(b"mdat")
    size = int.from_bytes(data[at - 4 : at], "big")
    data[at + 4 : at - 4 + size] = bytes(size - 8)
    out.write_bytes(bytes(data))
    return out


def sound_onset(path: Path, level: float = 0.02) -> float | None:
    """When the sound first gets louder than ``level`` (mean amplitude over 10 ms), in
    seconds of the file's timeline."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate
        window = rate // 100
        mono = av.AudioResampler(format="flt", layout="mono", rate=rate)
        for frame in container.decode(stream):
            start = frame.time or 0.0
            for part in mono.resample(frame):
                samples = array("f", bytes(part.planes[0])[: 4 * part.samples])
                for at in range(0, len(samples) - window + 1, window):
                    if sum(abs(x) for x in samples[at : at + window]) / window > level:
                        return start + at / rate
    return None
