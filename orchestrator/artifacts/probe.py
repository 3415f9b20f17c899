"""What a kept video is, measured with FFmpeg's libraries (PyAV): duration, frame rate, frame
count, resolution and codecs. The first video frame is decoded too: a file that does not decode
is not a video, whatever its first bytes say. Its signature (``pictures.picture_signature``) is
kept as ``first_frame``, to tell whether an extend's file starts where its parent's does;
probes stored before it existed have none.

Providers differ in what an extend's file holds (the whole video so far, or only the new
segment), so reelay measures instead of assuming. Probing runs in a worker thread.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from orchestrator.artifacts.pictures import picture_signature


class ProbeFailed(Exception):
    """The file is not a playable video; the message says why."""


@dataclass(frozen=True, slots=True)
class Probe:
    duration_s: float
    fps: float | None
    frames: int
    width: int
    height: int
    video_codec: str
    audio_codec: str | None
    first_frame: str | None = None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Probe:
        return cls(**data)


def probe(path: Path) -> Probe:
    """Measure ``path``; ``ProbeFailed`` when it has no video stream or its frames don't
    decode."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ProbeFailed("it has no video stream")
            video = container.streams.video[0]
            audio = container.streams.audio[0] if container.streams.audio else None
            codec = video.codec_context
            # One frame is decoded: FFmpeg's frame threads would cost more to start than it.
            codec.thread_count = 1
            first = next(container.decode(video), None)
            if first is None:
                raise ProbeFailed("its video stream has no frame that decodes")
            duration = _duration(container, video)
            rate = video.average_rate
            frames = video.frames or (round(duration * float(rate)) if rate else 0)
            return Probe(
                duration_s=round(duration, 3),
                fps=None if not rate else round(float(rate), 3),
                frames=frames,
                width=codec.width,
                height=codec.height,
                video_codec=codec.name,
                audio_codec=None if audio is None else audio.codec_context.name,
                first_frame=picture_signature(first),
            )
    except av.FFmpegError as exc:
        raise ProbeFailed(f"FFmpeg cannot read it ({exc.strerror or type(exc).__name__})") from None


def _duration(container: av.container.InputContainer, video: av.VideoStream) -> float:
    """The video stream's own duration, else the container's (microseconds)."""
    if video.duration is not None and video.time_base is not None:
        return float(video.duration * Fraction(video.time_base))
    if container.duration is not None:
        return container.duration / av.time_base
    raise ProbeFailed("its duration is unknown")
