"""A video's last frame as a PNG: the first frame of the continuation that follows it.

``last_frame_png`` seeks to the last keyframe before the end and decodes from there, so the
frame it returns is the last in display order even when the stream has B-frames; when seeking
fails it decodes the whole video instead. Runs in worker threads.
"""

from __future__ import annotations

from pathlib import Path

import av

from orchestrator.artifacts.pictures import picture_signature
from orchestrator.artifacts.probe import ProbeFailed


def last_frame_png(path: Path) -> bytes:
    """The last frame (display order) of the video at ``path`` as an RGB PNG; ``ProbeFailed``
    when it has no video stream or no frame that decodes."""
    return last_frame(path)[0]


def last_frame(path: Path) -> tuple[bytes, str]:
    """``last_frame_png``, and the picture's signature (``pictures.picture_signature``)."""
    try:
        frame = _last_after_seek(path)
        if frame is None:
            frame = _last_from_start(path)
    except av.FFmpegError as exc:
        raise ProbeFailed(f"FFmpeg cannot read it ({exc.strerror or type(exc).__name__})") from None
    return _png(frame.reformat(format="rgb24")), picture_signature(frame)


def _last_after_seek(path: Path) -> av.VideoFrame | None:
    """The last frame, decoded from a keyframe shortly before the end; None when the stream's
    length is unknown or the seek finds nothing to decode."""
    with av.open(str(path)) as container:
        if not container.streams.video:
            raise ProbeFailed("it has no video stream")
        video = container.streams.video[0]
        if video.duration is None or video.time_base is None:
            return None
        rate = video.average_rate or video.guessed_rate
        frame_ticks = round(1 / (rate * video.time_base)) if rate else 1
        start = video.start_time or 0
        # Any keyframe at or before the last frame will do: decoding from it reaches the end.
        target = max(start, start + video.duration - frame_ticks)
        try:
            container.seek(target, stream=video, backward=True, any_frame=False)
            return _last_decoded(container, video)
        except av.FFmpegError:
            return None


def _last_from_start(path: Path) -> av.VideoFrame:
    with av.open(str(path)) as container:
        if not container.streams.video:
            raise ProbeFailed("it has no video stream")
        video = container.streams.video[0]
        frame = _last_decoded(container, video)
    if frame is None:
        raise ProbeFailed("its video stream has no frame that decodes")
    return frame


def _last_decoded(
    container: av.container.InputContainer, video: av.VideoStream
) -> av.VideoFrame | None:
    last: av.VideoFrame | None = None
    for frame in container.decode(video):
        if last is None or frame.pts is None or last.pts is None or frame.pts >= last.pts:
            last = frame
    return last


def _png(rgb: av.VideoFrame) -> bytes:
    codec = av.CodecContext.create("png", "w")
    codec.width, codec.height, codec.pix_fmt = rgb.width, rgb.height, "rgb24"
    return b"".join(bytes(packet) for packet in [*codec.encode(rgb), *codec.encode(None)])
