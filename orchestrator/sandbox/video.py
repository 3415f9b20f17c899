"""The sandbox's result videos: frames that say which task made them, and the MP4 holding them.

A video is described, not stored: a sequence of parts, each ``Synthetic(code, first_index,
count)`` (frames painted here) or ``Picture(png)`` (one given picture as one frame, such as an
image-to-video's first frame). ``render`` makes the same MP4 bytes from the same description
every time: H.264 (libx264 ultrafast, CRF 20, yuv420p, no B-frames, a keyframe every 8 frames)
at 160x90 and 8 fps, frame k at pts k in time base 1/8, over ``soundtrack``'s quiet AAC tone,
with the index (``moov``) before the media data (``+faststart``).

The mark. A synthetic frame's top 30 rows hold three rows of 16 blocks of 10x10 px, each block
one bit, luma 235 for 1 and 16 for 0, most significant bit on the left: ``code``, ``index``,
and ``code ^ index ^ 0xA5A5`` as a check. Blocks that big and that far apart survive H.264,
PNG round trips and re-encoding (at this size or, scaled, at another). ``code`` says which task
made the frame (``code_for``: 16 bits of a BLAKE2b hash of provider and task id, so two tasks
share one with odds of 1 in 65,536); ``index`` is the frame's number among that task's own new
frames, from 0. Below the mark, a diagonal ramp moves down the frame from one frame to the next
and the task's code picks its colour.

``read_marks`` reads the mark of every frame of a video (``mark_of_png``, of one picture);
a frame whose blocks are not all clearly dark or clearly bright, or whose check row disagrees,
reads as ``NO_MARK``, ``(-1, -1)``. ``marked_png`` makes a picture carrying a chosen mark.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
from av.container import OutputContainer
from av.packet import Packet
from av.video.frame import PictureType
from av.video.plane import VideoPlane
from av.video.stream import VideoStream

from orchestrator.sandbox.soundtrack import Soundtrack

WIDTH = 160
HEIGHT = 90
FPS = 8
TIME_BASE = Fraction(1, FPS)
NO_MARK = (-1, -1)

Mark = tuple[int, int]

_BITS = 16
_BLOCK = 10
_MARK_ROWS = 3
_MARK_HEIGHT = _MARK_ROWS * _BLOCK
_CHECK = 0xA5A5
_ONE, _ZERO = bytes([235]) * _BLOCK, bytes([16]) * _BLOCK
_SAMPLE = 4
"""A block is read from its central 4x4 pixels, away from the edges compression smears."""
_DARKEST_ONE, _BRIGHTEST_ZERO = 160, 96
_PERIOD = 128
_RAMP = bytes(40 + 2 * abs(i % _PERIOD - _PERIOD // 2) for i in range(_PERIOD + WIDTH))
_MAX_PIXELS = 8192 * 8192
_PICTURE_CODECS = frozenset({"png", "mjpeg", "webp", "gif", "bmp", "tiff"})
_X264 = {
    "preset": "ultrafast",
    "crf": "20",
    "bf": "0",
    "g": "8",
    "keyint_min": "8",
    "sc_threshold": "0",
    # One thread: the same bytes on every machine, and nothing idle to spin up per video.
    "threads": "1",
}


class BadPicture(ValueError):
    """Bytes that are not a picture PyAV decodes (PNG, JPEG, WebP, GIF, BMP or TIFF)."""


@dataclass(frozen=True, slots=True)
class Synthetic:
    """``count`` painted frames marked ``(code, first_index)``, ``(code, first_index + 1)``..."""

    code: int
    first_index: int
    count: int

    def __post_init__(self) -> None:
        if not 0 <= self.code < 1 << _BITS:
            raise ValueError(f"code must be 0..65535, not {self.code}")
        if self.count < 0 or self.first_index < 0 or self.first_index + self.count > 1 << _BITS:
            raise ValueError("frame indexes must stay within 0..65535")


@dataclass(frozen=True, slots=True)
class Picture:
    """One frame showing this picture, scaled to 160x90 if it is not that size."""

    png: bytes = field(repr=False)


Part = Synthetic | Picture
Frames = tuple[Part, ...]
"""A description of a video: its parts in order."""


def code_for(provider: str, task_id: str) -> int:
    """The mark code of the frames a task makes."""
    digest = hashlib.blake2b(f"{provider}/{task_id}".encode(), digest_size=2).digest()
    return int.from_bytes(digest, "big")


def frame_count(parts: Iterable[Part]) -> int:
    return sum(part.count if isinstance(part, Synthetic) else 1 for part in parts)


def render(parts: Iterable[Part], prefix: bytes | None = None) -> bytes:
    """The MP4 of these frames, in this order; ``ValueError`` if there are none.

    ``prefix``: the MP4 ``render`` made of every part but the last (an extend's source
    video). Its pictures are copied as they are and only the last part is encoded: an encoder
    with the same settings writes the same stream parameters, so the copied and the new
    packets play as one stream, and an extend costs what its own 7 s cost.
    """
    parts = tuple(parts)
    total = frame_count(parts)
    if total == 0:
        raise ValueError("a video needs at least one frame")
    duration = Fraction(total, FPS)
    with tempfile.TemporaryDirectory(prefix="reelay-sandbox-") as directory:
        # +faststart moves the index by reading the file back, which needs a real file.
        path = Path(directory) / "video.mp4"
        with av.open(str(path), "w", options={"movflags": "+faststart"}) as out:
            if prefix is None:
                _encode_into(out, parts, duration)
            else:
                _extend_into(out, prefix, parts[-1:], frame_count(parts[:-1]), duration)
        return path.read_bytes()


def _encode_into(out: OutputContainer, parts: Sequence[Part], duration: Fraction) -> None:
    stream = out.add_stream("libx264", rate=FPS, options=_X264)
    stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    stream.time_base = TIME_BASE
    with Soundtrack(out, duration) as sound:
        for pts, frame in enumerate(_frames(parts)):
            frame.pts, frame.time_base = pts, TIME_BASE
            out.mux(stream.encode(frame))
            sound.mux_until(Fraction(pts + 1, FPS))
        out.mux(stream.encode(None))
        sound.mux_until(duration)


def _extend_into(
    out: OutputContainer, prefix: bytes, parts: Sequence[Part], first: int, duration: Fraction
) -> None:
    with av.open(io.BytesIO(prefix), "r") as source:
        template = source.streams.video[0]
        unit = template.time_base or TIME_BASE
        stream = out.add_stream_from_template(template)
        encoder = av.CodecContext.create("libx264", "w")
        encoder.width, encoder.height, encoder.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        encoder.time_base, encoder.framerate = TIME_BASE, Fraction(FPS)
        encoder.options = dict(_X264)
        with Soundtrack(out, duration) as sound:
            for packet in source.demux(template):
                if packet.pts is None:  # the demuxer's empty end-of-stream packet
                    continue
                ends = Fraction(packet.pts + (packet.duration or 0)) * unit
                packet.stream = stream
                out.mux(packet)
                sound.mux_until(ends)
            frames = enumerate(_frames(parts))
            for pts, frame in frames:
                frame.pts, frame.time_base = pts, TIME_BASE
                _mux_shifted(out, stream, encoder.encode(frame), first)
                sound.mux_until(Fraction(first + pts + 1, FPS))
            _mux_shifted(out, stream, encoder.encode(None), first)
            sound.mux_until(duration)


def _mux_shifted(
    out: OutputContainer,
    stream: VideoStream,
    packets: Iterable[Packet[VideoStream]],
    first: int,
) -> None:
    for packet in packets:
        packet.time_base = TIME_BASE
        packet.pts = None if packet.pts is None else packet.pts + first
        packet.dts = None if packet.dts is None else packet.dts + first
        packet.stream = stream
        out.mux(packet)


def read_marks(video: bytes | str | os.PathLike[str]) -> list[Mark]:
    """Each frame's mark, in display order; ``NO_MARK`` for a frame without a readable one."""
    source = io.BytesIO(video) if isinstance(video, bytes) else os.fspath(video)
    with av.open(source, "r") as container:
        stream = container.streams.video[0]
        return [_mark(frame) for frame in container.decode(stream)]


def mark_of_png(png: bytes) -> Mark:
    """The mark a picture carries (any format ``Picture`` takes), or ``NO_MARK``."""
    return _mark(_decode_picture(png))


def marked_png(code: int, index: int) -> bytes:
    """A 160x90 PNG of the synthetic frame ``(code, index)``, e.g. as an image-to-video's first
    frame."""
    Synthetic(code, index, 1)  # raises ValueError for a code or index beyond 16 bits
    return _png(synthetic_frame(code, index))


def picture_png(image: bytes) -> bytes:
    """The first frame of an image (PNG, JPEG, WebP, GIF, BMP or TIFF) as a 160x90 RGB PNG;
    ``BadPicture`` if it does not decode. A 160x90 RGB picture keeps every pixel."""
    return _png(_decode_picture(image))


def synthetic_frame(code: int, index: int) -> av.VideoFrame:
    frame = av.VideoFrame(WIDTH, HEIGHT, "yuv420p")
    luma = [row for value in (code, index, code ^ index ^ _CHECK) for row in _block_row(value)]
    for y in range(_MARK_HEIGHT, HEIGHT):
        start = (y + 4 * index + code) % _PERIOD
        luma.append(_RAMP[start : start + WIDTH])
    _fill(frame.planes[0], luma)
    # Colour from the code, turning slowly with the index; the mark itself stays grey.
    angle = 2 * math.pi * code / (1 << _BITS) + index / 16
    neutral = bytes([128]) * (WIDTH // 2)
    for plane, level in zip(frame.planes[1:], (math.cos(angle), math.sin(angle)), strict=True):
        tint = bytes([128 + round(48 * level)]) * (WIDTH // 2)
        top = _MARK_HEIGHT // 2
        _fill(plane, [neutral] * top + [tint] * (HEIGHT // 2 - top))
    return frame


def _block_row(value: int) -> list[bytes]:
    row = b"".join(_ONE if value >> bit & 1 else _ZERO for bit in range(_BITS - 1, -1, -1))
    return [row] * _BLOCK


def _fill(plane: VideoPlane, rows: Sequence[bytes]) -> None:
    padding = bytes(plane.line_size - len(rows[0]))
    plane.update(b"".join(row + padding for row in rows) if padding else b"".join(rows))


def _frames(parts: Sequence[Part]) -> Iterator[av.VideoFrame]:
    for part in parts:
        if isinstance(part, Picture):
            frame = _decode_picture(part.png).reformat(WIDTH, HEIGHT, "yuv420p")
            # A decoded picture says "I-frame", which x264 would obey, breaking the GOP of 8.
            frame.pict_type = PictureType.NONE
            yield frame
            continue
        for index in range(part.first_index, part.first_index + part.count):
            yield synthetic_frame(part.code, index)


def _mark(frame: av.VideoFrame) -> Mark:
    plane = frame.reformat(WIDTH, HEIGHT, "gray").planes[0]
    pixels, stride = bytes(plane), plane.line_size
    values = []
    for mark_row in range(_MARK_ROWS):
        top = mark_row * _BLOCK + (_BLOCK - _SAMPLE) // 2
        value = 0
        for bit in range(_BITS):
            left = bit * _BLOCK + (_BLOCK - _SAMPLE) // 2
            level = sum(
                sum(pixels[y * stride + left : y * stride + left + _SAMPLE])
                for y in range(top, top + _SAMPLE)
            ) / (_SAMPLE * _SAMPLE)
            if _BRIGHTEST_ZERO < level < _DARKEST_ONE:
                return NO_MARK
            value = value << 1 | (level >= _DARKEST_ONE)
        values.append(value)
    code, index, check = values
    return (code, index) if check == code ^ index ^ _CHECK else NO_MARK


def _decode_picture(data: bytes) -> av.VideoFrame:
    try:
        with av.open(io.BytesIO(data), "r") as container:
            if not container.streams.video:
                raise BadPicture("it holds no picture")
            stream = container.streams.video[0]
            codec = stream.codec_context
            # FFmpeg would also "decode" text (as ANSI art) and much else; take pictures only.
            if codec.name not in _PICTURE_CODECS:
                raise BadPicture(f"it is not a picture ({codec.name})")
            if codec.width * codec.height > _MAX_PIXELS:
                raise BadPicture(f"it is too large ({codec.width}x{codec.height})")
            frame = next(container.decode(stream), None)
    except av.FFmpegError as exc:
        raise BadPicture(f"it does not decode ({exc.strerror or type(exc).__name__})") from None
    if frame is None:
        raise BadPicture("it holds no picture")
    return frame


def _png(frame: av.VideoFrame) -> bytes:
    rgb = frame.reformat(WIDTH, HEIGHT, "rgb24")
    codec = av.CodecContext.create("png", "w")
    codec.width, codec.height, codec.pix_fmt = WIDTH, HEIGHT, "rgb24"
    return b"".join(bytes(packet) for packet in [*codec.encode(rgb), *codec.encode(None)])
