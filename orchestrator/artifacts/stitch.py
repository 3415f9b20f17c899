"""Joining a branch's segments into one MP4, by stream copy when their codec parameters allow,
by re-encoding otherwise. Synchronous: callers run ``join`` in a worker thread.

Stream copy: every segment has the first one's video codec, size, pixel format, frame rate and
codec configuration (extradata), and the same audio (codec, sample rate, layout) or none at
all. Packets are remuxed, each segment's timestamps shifted so that it starts where the
previous one's video ended (its last pts + duration). Audio goes with its segment's video: a
packet is kept when it starts within the kept video span (the first segment keeps its leading
priming packet too), so the audio of one segment never overlaps the next.

A continuation's first frame repeats its predecessor's last. Under stream copy one of the two
is dropped only where no other frame can depend on it:

(a) the predecessor's last packet in decode order is also its last in display order: that
    packet (the predecessor's last frame) is dropped;
(b) otherwise, if the continuation's second packet in decode order is a keyframe and its first
    is its first in display order: the continuation's first packet is dropped.

Else (typically B-frames on both sides) the whole join is re-encoded. Audio starting within the
dropped frame's time goes with it.

Re-encoding decodes every segment (without the repeated first frames), converts each frame to
the first segment's size and yuv420p and encodes H.264 at the first segment's frame rate; a
segment at another rate is converted in time (frames repeated or skipped), so that it keeps its
duration. Audio is resampled to the first segment's sample rate, mono or stereo as it is (48 kHz
stereo when only later segments have audio) and encoded to AAC, each segment's audio cut or
padded with silence to its video's span; a segment without audio gets silence.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal, TypeVar

import av
from av.audio.stream import AudioStream
from av.container import InputContainer, OutputContainer
from av.packet import Packet
from av.video.stream import VideoStream

_X264 = {"preset": "veryfast", "crf": "20"}
_MP4_OPTIONS = {"movflags": "+faststart"}
_RATE_TOLERANCE = Fraction(1, 1000)
"""Frame rates this close (relatively) count as equal: a file's average rate is measured from
its length and can be off by a hair."""
_SLOT_SLACK = Fraction(1, 100)
_DEFAULT_RATE = Fraction(24)
_DEFAULT_AUDIO = (48_000, "stereo")
_AUDIO_CHUNK = 4096

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Segment:
    path: Path
    drop_first_frame: bool = False
    """A continuation: its first frame repeats the previous segment's last."""


@dataclass(frozen=True, slots=True)
class Joined:
    method: Literal["copy", "reencode"]
    reason: str
    """Why it was re-encoded ("" for a copy)."""
    duration_s: float
    frames: int
    dropped_frames: int


class JoinFailed(Exception):
    """A segment cannot be joined; the message says which (by position) and why."""


@dataclass(frozen=True, slots=True)
class _Packet:
    pts: int
    duration: int
    keyframe: bool


@dataclass(frozen=True, slots=True)
class _Audio:
    codec: str
    rate: int
    layout: str
    channels: int
    extradata: bytes | None


@dataclass(slots=True)
class _Scan:
    """What one segment holds, read without decoding more than its first frame."""

    index: int
    segment: Segment
    codec: str
    width: int
    height: int
    pix_fmt: str | None
    rate: Fraction | None
    time_base: Fraction
    extradata: bytes | None
    audio: _Audio | None
    packets: list[_Packet] = field(default_factory=list)
    """Video packets in decode order."""


@dataclass(slots=True)
class _Cut:
    """Which of a segment's video packets a stream copy leaves out."""

    first: bool = False
    last: bool = False


def join(segments: Sequence[Segment], out: Path) -> Joined:
    """Join ``segments`` in order into one MP4 at ``out`` (one segment is remuxed as is).

    ``ValueError`` for no segments; ``JoinFailed`` naming the segment that does not open or
    decode."""
    if not segments:
        raise ValueError("nothing to join: no segments")
    scans = [_scan(i, segment) for i, segment in enumerate(segments)]
    plan = _copy_plan(scans)
    try:
        if isinstance(plan, str):
            return _reencode(scans, out, plan)
        try:
            return _copy(scans, plan, out)
        except _WriteFailed as exc:
            return _reencode(scans, out, f"the MP4 muxer refused the copied streams ({exc})")
    except BaseException:
        out.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def _writing(out: Path) -> Iterator[OutputContainer]:
    """``out`` open as an MP4. When the work inside fails, its error is the one raised, not the
    muxer's complaint about closing a file whose header it never wrote."""
    dst = av.open(str(out), "w", format="mp4", options=_MP4_OPTIONS)
    try:
        yield dst
    except BaseException:
        with contextlib.suppress(av.FFmpegError):
            dst.close()
        raise
    dst.close()


# --- reading -----------------------------------------------------------------------------


def _why(exc: av.FFmpegError) -> str:
    return exc.strerror or type(exc).__name__


def _open(index: int, path: Path) -> InputContainer:
    try:
        return av.open(str(path))
    except av.FFmpegError as exc:
        raise JoinFailed(f"segment {index} cannot be read ({_why(exc)})") from None
    except OSError as exc:
        raise JoinFailed(f"segment {index} cannot be read ({exc.strerror})") from None


def _reading(index: int, items: Iterable[_T]) -> Iterator[_T]:
    """``items``, with FFmpeg's read and decode errors said as the segment's."""
    try:
        yield from items
    except av.FFmpegError as exc:
        raise JoinFailed(f"segment {index} does not decode ({_why(exc)})") from None


def _scan(index: int, segment: Segment) -> _Scan:
    with _open(index, segment.path) as container:
        if not container.streams.video:
            raise JoinFailed(f"segment {index} has no video stream")
        video = container.streams.video[0]
        codec = video.codec_context
        if video.time_base is None:
            raise JoinFailed(f"segment {index}'s video has no time base")
        audio = None
        if container.streams.audio:
            sound = container.streams.audio[0].codec_context
            layout = sound.layout
            audio = _Audio(
                sound.name, sound.sample_rate, layout.name, layout.nb_channels, sound.extradata
            )
        scan = _Scan(
            index=index,
            segment=segment,
            codec=codec.name,
            width=codec.width,
            height=codec.height,
            pix_fmt=None if codec.format is None else codec.format.name,
            rate=video.average_rate,
            time_base=Fraction(video.time_base),
            extradata=codec.extradata,
            audio=audio,
        )
        rate = video.average_rate or video.guessed_rate or _DEFAULT_RATE
        one_frame = max(1, round(1 / (rate * scan.time_base)))
        decoded = False
        try:
            for packet in container.demux(video):
                if not decoded:  # a segment whose frames don't decode is refused here
                    decoded = bool(packet.decode())
                if packet.pts is not None:
                    scan.packets.append(
                        _Packet(packet.pts, packet.duration or one_frame, packet.is_keyframe)
                    )
        except av.FFmpegError as exc:
            raise JoinFailed(f"segment {index} does not decode ({_why(exc)})") from None
    if not scan.packets or not decoded:
        raise JoinFailed(f"segment {index} has no video frame that decodes")
    return scan


# --- stream copy -------------------------------------------------------------------------


def _same_rate(a: Fraction | None, b: Fraction | None) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) <= b * _RATE_TOLERANCE


def _fps(rate: Fraction | None) -> str:
    return "an unknown rate" if rate is None else f"{round(float(rate), 3):g} fps"


def _mismatch(scan: _Scan, first: _Scan) -> str | None:
    """Why ``scan`` cannot be copied after ``first``, or None."""
    i, f = f"segment {scan.index}", f"segment {first.index}"
    if scan.codec != first.codec:
        return f"{i}'s video is {scan.codec}, {f}'s is {first.codec}"
    if (scan.width, scan.height) != (first.width, first.height):
        return f"{i} is {scan.width}x{scan.height}, {f} is {first.width}x{first.height}"
    if scan.pix_fmt != first.pix_fmt:
        return f"{i}'s pixel format is {scan.pix_fmt}, {f}'s is {first.pix_fmt}"
    if not _same_rate(scan.rate, first.rate):
        return f"{i} runs at {_fps(scan.rate)}, {f} at {_fps(first.rate)}"
    if scan.extradata != first.extradata:
        return f"{i}'s {scan.codec} configuration (extradata) differs from {f}'s"
    if (scan.audio is None) != (first.audio is None):
        return f"{i} has no audio, {f} has" if scan.audio is None else f"{i} has audio, {f} not"
    if scan.audio is not None and first.audio is not None:
        mine, theirs = scan.audio, first.audio
        if mine.codec != theirs.codec:
            return f"{i}'s audio is {mine.codec}, {f}'s is {theirs.codec}"
        if mine.rate != theirs.rate:
            return f"{i}'s audio is at {mine.rate} Hz, {f}'s at {theirs.rate} Hz"
        if mine.layout != theirs.layout:
            return f"{i}'s audio is {mine.layout}, {f}'s is {theirs.layout}"
        if mine.extradata != theirs.extradata:
            return f"{i}'s {mine.codec} configuration (extradata) differs from {f}'s"
    return None


def _copy_plan(scans: Sequence[_Scan]) -> list[_Cut] | str:
    """The packets each segment leaves out under stream copy, or why it must be re-encoded."""
    for scan in scans[1:]:
        if (reason := _mismatch(scan, scans[0])) is not None:
            return reason
    cuts = [_Cut() for _ in scans]
    for i, scan in enumerate(scans):
        if not scan.segment.drop_first_frame:
            continue
        before = None if i == 0 else _why_last_stays(scans[i - 1], cuts[i - 1])
        if i > 0 and before is None:
            cuts[i - 1].last = True
        elif (own := _why_first_stays(scan)) is None:
            cuts[i].first = True
        else:
            whys = own if before is None else f"{before}; {own}"
            return f"segment {i} repeats a frame that stream copy cannot leave out: {whys}"
    return cuts


def _kept(scan: _Scan, cut: _Cut) -> list[_Packet]:
    return scan.packets[int(cut.first) : len(scan.packets) - int(cut.last)]


def _why_last_stays(scan: _Scan, cut: _Cut) -> str | None:
    """Why the segment's last frame cannot be left out (rule a), or None."""
    kept = _kept(scan, cut)
    if len(kept) < 2:
        return f"segment {scan.index} has no other frame"
    if kept[-1].pts != max(p.pts for p in kept):
        return f"segment {scan.index}'s last frame is referred to by frames decoded after it"
    return None


def _why_first_stays(scan: _Scan) -> str | None:
    """Why the segment's first frame cannot be left out (rule b), or None."""
    packets = scan.packets
    if len(packets) < 2:
        return f"segment {scan.index} has no other frame"
    if packets[0].pts != min(p.pts for p in packets):
        return f"segment {scan.index}'s first packet is not its first frame"
    if not packets[1].keyframe:
        return f"segment {scan.index}'s next frames refer to its first"
    return None


def _span(scan: _Scan, cut: _Cut) -> tuple[Fraction, Fraction]:
    """The kept video's start and end, in seconds of the segment's own timeline."""
    kept = _kept(scan, cut)
    start = min(p.pts for p in kept)
    end = max(p.pts + p.duration for p in kept)
    return start * scan.time_base, end * scan.time_base


class _WriteFailed(Exception):
    """The MP4 muxer refused the copied packets."""


class _Timeline:
    """Output timestamps of one stream: rescaled, shifted, and decode times kept increasing."""

    def __init__(self, time_base: Fraction) -> None:
        self.time_base = time_base
        self._last_dts: int | None = None

    def place(self, packet: Packet[Any], shift: Fraction) -> None:
        """Move ``packet`` by ``shift`` seconds into this timeline."""
        source = Fraction(packet.time_base)
        pts = None if packet.pts is None else round((packet.pts * source + shift) / self.time_base)
        dts = pts if packet.dts is None else round((packet.dts * source + shift) / self.time_base)
        if dts is not None and self._last_dts is not None and dts <= self._last_dts:
            dts = self._last_dts + 1
            pts = None if pts is None else max(pts, dts)
        if packet.duration:
            packet.duration = max(1, round(packet.duration * source / self.time_base))
        packet.pts, packet.dts, packet.time_base = pts, dts, self.time_base
        self._last_dts = dts


class _Remux:
    """A stream copy's output: streams made from the first segment's, and where it got to."""

    def __init__(self, dst: OutputContainer, first: InputContainer) -> None:
        self._dst = dst
        video = first.streams.video[0]
        audio = first.streams.audio[0] if first.streams.audio else None
        try:
            self._video = dst.add_stream_from_template(video)
            self._audio = None if audio is None else dst.add_stream_from_template(audio)
        except av.FFmpegError as exc:
            raise _WriteFailed(_why(exc)) from None
        assert video.time_base is not None
        self._video_line = _Timeline(Fraction(video.time_base))
        self._audio_line = _Timeline(Fraction(1) if audio is None else _audio_base(audio))
        self.frames = 0
        self.cursor = Fraction(0)
        """Where the next segment starts, in seconds."""

    def segment(self, src: InputContainer, scan: _Scan, cut: _Cut) -> None:
        """Mux a segment's kept packets after what is already there."""
        start, end = _span(scan, cut)
        shift = self.cursor - start
        video = src.streams.video[0]
        audio = src.streams.audio[0] if src.streams.audio and self._audio is not None else None
        lead_in = scan.index == 0 and not cut.first  # the first segment keeps its priming audio
        last = len(scan.packets) - 1
        position = -1
        for packet in _reading(
            scan.index, src.demux((video,) if audio is None else (video, audio))
        ):
            if packet.pts is None:
                continue  # the demuxer's closing empty packet
            if packet.stream is video:
                position += 1
                if (cut.first and position == 0) or (cut.last and position == last):
                    continue
                self._video_line.place(packet, shift)
                packet.stream = self._video
                self.frames += 1
            elif self._audio is not None:
                begins = packet.pts * Fraction(packet.time_base)
                if begins >= end or (begins < start and not lead_in):
                    continue
                self._audio_line.place(packet, shift)
                packet.stream = self._audio
            try:
                self._dst.mux(packet)
            except av.FFmpegError as exc:
                raise _WriteFailed(_why(exc)) from None
        self.cursor += end - start


def _audio_base(stream: AudioStream) -> Fraction:
    if stream.time_base is None:
        return Fraction(1, stream.codec_context.sample_rate)
    return Fraction(stream.time_base)


def _copy(scans: Sequence[_Scan], cuts: Sequence[_Cut], out: Path) -> Joined:
    remux: _Remux | None = None
    try:
        with _writing(out) as dst:
            for scan, cut in zip(scans, cuts, strict=True):
                with _open(scan.index, scan.segment.path) as src:
                    remux = remux or _Remux(dst, src)
                    remux.segment(src, scan, cut)
    except av.FFmpegError as exc:  # writing the index at the end
        raise _WriteFailed(_why(exc)) from None
    assert remux is not None
    return Joined(
        method="copy",
        reason="",
        duration_s=round(float(remux.cursor), 3),
        frames=remux.frames,
        dropped_frames=sum(int(c.first) + int(c.last) for c in cuts),
    )


# --- re-encoding -------------------------------------------------------------------------


@dataclass(slots=True)
class _Encoder:
    """The output of a re-encode and how far it got: frames and audio samples written."""

    dst: OutputContainer
    video: VideoStream
    audio: AudioStream | None
    rate: Fraction
    width: int
    height: int
    sample_rate: int
    layout: str
    frames: int = 0
    samples: int = 0

    def picture(self, frame: av.VideoFrame, times: int) -> None:
        if times <= 0:
            return
        frame = frame.reformat(self.width, self.height, "yuv420p")
        for _ in range(times):
            frame.pts, frame.time_base = self.frames, 1 / self.rate
            self.dst.mux(self.video.encode(frame))
            self.frames += 1

    def sound(self, frame: av.AudioFrame) -> None:
        assert self.audio is not None
        frame.pts, frame.time_base = self.samples, Fraction(1, self.sample_rate)
        frame.sample_rate = self.sample_rate
        self.dst.mux(self.audio.encode(frame))
        self.samples += frame.samples

    def silence(self, samples: int) -> None:
        while samples > 0:
            chunk = min(samples, _AUDIO_CHUNK)
            frame = av.AudioFrame(format="fltp", layout=self.layout, samples=chunk)
            for plane in frame.planes:
                plane.update(bytes(plane.buffer_size))
            self.sound(frame)
            samples -= chunk

    def sample_at(self, frames: int) -> int:
        """The audio sample at which output frame ``frames`` starts."""
        return round(frames / self.rate * self.sample_rate)

    def finish(self) -> None:
        self.dst.mux(self.video.encode(None))
        if self.audio is not None:
            self.dst.mux(self.audio.encode(None))


def _reencode(scans: Sequence[_Scan], out: Path, reason: str) -> Joined:
    first = scans[0]
    rate = first.rate or _DEFAULT_RATE
    # yuv420p needs even sizes: an odd first segment loses its last row or column.
    width, height = max(2, first.width & ~1), max(2, first.height & ~1)
    has_audio = any(scan.audio is not None for scan in scans)
    sample_rate, layout = _DEFAULT_AUDIO
    if first.audio is not None:
        # AAC takes few layouts: mono stays mono, anything else is mixed to stereo.
        sample_rate, layout = first.audio.rate, "mono" if first.audio.channels == 1 else "stereo"
    dropped = 0
    with _writing(out) as dst:
        video = dst.add_stream("libx264", rate=rate, options=_X264)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.time_base = 1 / rate
        audio = dst.add_stream("aac", rate=sample_rate, layout=layout) if has_audio else None
        encoder = _Encoder(dst, video, audio, rate, width, height, sample_rate, layout)
        for scan in scans:
            origin, did_drop = _reencode_video(scan, encoder)
            dropped += did_drop
            if audio is not None:
                _reencode_audio(scan, encoder, origin, encoder.sample_at(encoder.frames))
        encoder.finish()
    return Joined(
        method="reencode",
        reason=reason,
        duration_s=round(encoder.frames / float(rate), 3),
        frames=encoder.frames,
        dropped_frames=dropped,
    )


def _frame_time(frame: av.VideoFrame, fallback: Fraction) -> Fraction:
    if frame.pts is None or frame.time_base is None:
        return fallback
    return frame.pts * Fraction(frame.time_base)


def _slot(at: Fraction, rate: Fraction) -> int:
    """The first output frame (of a segment) that starts at or after ``at`` seconds, give or
    take the rounding of the input's timestamps."""
    return math.ceil(at * rate - _SLOT_SLACK)


def _reencode_video(scan: _Scan, encoder: _Encoder) -> tuple[Fraction, bool]:
    """Encode one segment's frames; the time of its first kept frame (its own timeline) and
    whether its first frame was dropped.

    Output frame k of the segment shows the last input frame that started by time k / rate:
    at the same rate, every frame once."""
    one_frame = 1 / (scan.rate or _DEFAULT_RATE)
    origin: Fraction | None = None
    pending: av.VideoFrame | None = None
    pending_end = Fraction(0)
    emitted = 0
    dropped = False
    with _open(scan.index, scan.segment.path) as src:
        stream = src.streams.video[0]
        for n, frame in enumerate(_reading(scan.index, src.decode(stream))):
            if n == 0 and scan.segment.drop_first_frame:
                dropped = True
                continue
            at = _frame_time(frame, n * one_frame)
            if origin is None:
                origin = at
            if pending is not None:
                slots = _slot(at - origin, encoder.rate) - emitted
                encoder.picture(pending, slots)
                emitted += max(0, slots)
            length = one_frame
            if frame.duration and frame.time_base is not None:
                length = frame.duration * Fraction(frame.time_base)
            pending, pending_end = frame, at + length
    if pending is not None and origin is not None:
        slots = max(_slot(pending_end - origin, encoder.rate) - emitted, 1 if not emitted else 0)
        encoder.picture(pending, slots)
    elif not dropped:
        raise JoinFailed(f"segment {scan.index} has no video frame that decodes")
    return (origin if origin is not None else Fraction(0)), dropped


def _reencode_audio(scan: _Scan, encoder: _Encoder, origin: Fraction, until: int) -> None:
    """Write audio up to output sample ``until``: the segment's own from its video's first kept
    frame (``origin``) on, resampled, else silence."""
    if scan.audio is not None:
        resampler = av.AudioResampler(
            format="fltp", layout=encoder.layout, rate=encoder.sample_rate
        )
        fifo = av.AudioFifo()
        skip: int | None = None
        with _open(scan.index, scan.segment.path) as src:
            decoded = _reading(scan.index, src.decode(src.streams.audio[0]))
            for frame in _then_none(decoded):
                if skip is None and frame is not None:
                    # Where the segment's sound starts against its kept video: pad or cut.
                    at = _audio_time(frame, origin)
                    lead = round((at - origin) * encoder.sample_rate)
                    encoder.silence(min(lead, until - encoder.samples))
                    skip = max(0, -lead)
                for part in resampler.resample(frame):
                    part.pts = None
                    fifo.write(part)
                skip = _drain(fifo, encoder, until, skip or 0, final=frame is None)
                if encoder.samples >= until:
                    break
    encoder.silence(until - encoder.samples)


def _audio_time(frame: av.AudioFrame, fallback: Fraction) -> Fraction:
    if frame.pts is None or frame.time_base is None:
        return fallback
    return frame.pts * Fraction(frame.time_base)


def _then_none(frames: Iterator[av.AudioFrame]) -> Iterator[av.AudioFrame | None]:
    """The frames, then None (which flushes the resampler)."""
    yield from frames
    yield None


def _drain(fifo: av.AudioFifo, encoder: _Encoder, until: int, skip: int, *, final: bool) -> int:
    """Encode what ``fifo`` holds, after skipping ``skip`` samples, up to output sample
    ``until`` (keeping a short tail for later unless ``final``); the samples still to skip."""
    if skip and fifo.samples:
        taken = fifo.read(min(skip, fifo.samples))
        skip -= 0 if taken is None else taken.samples
    while fifo.samples and encoder.samples < until and (final or fifo.samples >= _AUDIO_CHUNK):
        chunk = fifo.read(min(_AUDIO_CHUNK, until - encoder.samples, fifo.samples))
        if chunk is None:
            break
        encoder.sound(chunk)
    return skip
