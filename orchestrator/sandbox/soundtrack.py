"""The quiet tone under every sandbox video: encoded to AAC once, then copied into each video.

AAC costs more CPU than the 160x90 pictures (about 10 ms per 8 s of tone, against about 6 ms
for the 64 frames), so the tone is encoded once into an in-memory MP4 at least as long as the
longest video asked for so far (it doubles when a longer one comes) and every video copies the
packets it needs from it. 16 kHz mono at 16 kbit/s, a 500 Hz sine at -30 dBFS: its period
divides the 1,024-sample AAC frame, so every frame given to the encoder is the same.
"""

from __future__ import annotations

import io
import math
import threading
from array import array
from collections.abc import Iterator
from fractions import Fraction
from types import TracebackType

import av
from av.audio.stream import AudioStream
from av.container import OutputContainer
from av.packet import Packet

RATE = 16_000
_SAMPLES = 1_024
_MIN_SECONDS = 16
_TONE_HZ = 500
_AMPLITUDE = 10 ** (-30 / 20)


class _Tone:
    """The encoded tone, grown on demand; renders run in worker threads, hence the lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seconds = 0
        self._mp4 = b""

    def at_least(self, seconds: Fraction) -> bytes:
        with self._lock:
            if self._seconds < seconds:
                length = max(_MIN_SECONDS, self._seconds)
                while length < seconds:
                    length *= 2
                self._mp4, self._seconds = _encode(length), length
            return self._mp4


def _encode(seconds: int) -> bytes:
    wave = array(
        "f",
        (_AMPLITUDE * math.sin(2 * math.pi * _TONE_HZ * i / RATE) for i in range(_SAMPLES)),
    ).tobytes()
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=RATE, layout="mono")
        stream.bit_rate = 16_000
        for start in range(0, seconds * RATE, _SAMPLES):
            frame = av.AudioFrame(format="fltp", layout="mono", samples=_SAMPLES)
            frame.planes[0].update(wave)
            frame.sample_rate = RATE
            frame.pts = start
            frame.time_base = Fraction(1, RATE)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return buffer.getvalue()


_TONE = _Tone()


class Soundtrack:
    """The tone as an audio stream of ``out``, lasting ``duration`` or up to one AAC frame
    (64 ms) less, never more; ``mux_until`` copies its packets in step with the video's."""

    def __init__(self, out: OutputContainer, duration: Fraction) -> None:
        self._source = av.open(io.BytesIO(_TONE.at_least(duration)), "r")
        template = self._source.streams.audio[0]
        self._stream = out.add_stream_from_template(template)
        self._out = out
        self._end = duration * RATE
        self._packets: Iterator[Packet[AudioStream]] = self._source.demux(template)
        self._next = self._following()

    def _following(self) -> Packet[AudioStream] | None:
        # The demuxer ends with an empty packet (no timestamps) that must not be muxed.
        return next((p for p in self._packets if p.pts is not None), None)

    def mux_until(self, seconds: Fraction) -> None:
        """Copy every packet starting before ``seconds`` and ending by the end."""
        limit = seconds * RATE
        while (packet := self._next) is not None and packet.pts is not None:
            if packet.pts >= limit or packet.pts + (packet.duration or _SAMPLES) > self._end:
                return
            self._next = self._following()
            packet.stream = self._stream
            self._out.mux(packet)

    def __enter__(self) -> Soundtrack:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._source.close()
