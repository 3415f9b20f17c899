"""Benchmark: what the media work costs per video: probing, last frames, and joining a branch.

    python bench/media.py [--runs 5] [--segments 20]

Made first, outside the timing (libx264 veryfast, 24 fps, a moving picture, AAC 48 kHz stereo):
one 8 s video at 160x90 and one at 1280x720, and two chains of ``--segments`` segments of 7 and
8 s (alternately) at 160x90 in which every other segment is a continuation, its first frame
repeating the previous segment's last:

- the copy chain has no B-frames, so the repeated frame can be dropped without decoding and the
  segments are joined by stream copy;
- the re-encode chain has B-frames on both sides of its seams, so it is re-encoded.

Each operation runs ``--runs`` times; the table gives the median wall time and the median CPU
time of this process (``time.process_time``: every thread, so libx264's threads count and CPU
can exceed wall), with the join's method and reason. Not a test: numbers only.
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from functools import partial
from pathlib import Path
from typing import TypeVar

import av

from orchestrator.artifacts.frames import last_frame_png
from orchestrator.artifacts.probe import probe
from orchestrator.artifacts.stitch import Segment, join

T = TypeVar("T")

FPS = 24
SAMPLE_RATE = 48_000
_TONE_CHUNK = 1024
_TONE = array(
    "f", (0.1 * math.sin(2 * math.pi * 375 * i / SAMPLE_RATE) for i in range(_TONE_CHUNK))
).tobytes()  # 375 Hz: its period (128 samples) divides the chunk, so every chunk is the same
_RAMP = bytes(16 + abs(i % 440 - 220) for i in range(440 + 1280 + 720))


@dataclass(frozen=True)
class Row:
    name: str
    wall_ms: float
    cpu_ms: float
    note: str = ""


def picture(index: int, width: int, height: int) -> av.VideoFrame:
    """Frame ``index`` of a diagonal ramp that moves 3 px per frame."""
    frame = av.VideoFrame(width, height, "yuv420p")
    luma = frame.planes[0]
    pad = bytes(luma.line_size - width)
    shift = 3 * index
    luma.update(
        b"".join(_RAMP[(y + shift) % 440 : (y + shift) % 440 + width] + pad for y in range(height))
    )
    for n, plane in enumerate(frame.planes[1:]):
        plane.update(bytes([96 + 64 * n + index % 32]) * plane.buffer_size)
    return frame


def make_video(path: Path, first: int, count: int, size: tuple[int, int], bframes: int) -> Path:
    """Frames ``first`` .. ``first + count - 1`` at 24 fps, with a tone as long."""
    with av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"}) as out:
        video = out.add_stream("libx264", rate=FPS, options={"preset": "veryfast", "crf": "23"})
        video.width, video.height, video.pix_fmt = size[0], size[1], "yuv420p"
        video.time_base = Fraction(1, FPS)
        video.codec_context.options["bf"] = str(bframes)
        audio = out.add_stream("aac", rate=SAMPLE_RATE, layout="stereo")
        for n in range(count):
            frame = picture(first + n, *size)
            frame.pts, frame.time_base = n, Fraction(1, FPS)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        for start in range(0, count * SAMPLE_RATE // FPS, _TONE_CHUNK):
            chunk = av.AudioFrame(format="fltp", layout="stereo", samples=_TONE_CHUNK)
            for plane in chunk.planes:
                plane.update(_TONE)
            chunk.sample_rate, chunk.pts = SAMPLE_RATE, start
            chunk.time_base = Fraction(1, SAMPLE_RATE)
            out.mux(audio.encode(chunk))
        out.mux(audio.encode(None))
    return path


def make_chain(where: Path, segments: int, bframes: int) -> list[Segment]:
    """7 and 8 s segments; every odd one a continuation starting with its predecessor's last
    frame."""
    chain, frame = [], 0
    for n in range(segments):
        count = (7 if n % 2 else 8) * FPS
        continues = n % 2 == 1
        start = frame - 1 if continues else frame
        path = make_video(where / f"{n:02d}.mp4", start, count, (160, 90), bframes)
        chain.append(Segment(path, drop_first_frame=continues))
        frame = start + count
    return chain


def measure(runs: int, work: Callable[[], T]) -> tuple[float, float, T]:
    """Median wall and CPU milliseconds of ``work`` over ``runs`` runs, and its result."""
    walls, cpus = [], []
    for _ in range(runs):
        cpu, wall = time.process_time(), time.perf_counter()
        result = work()
        walls.append(1e3 * (time.perf_counter() - wall))
        cpus.append(1e3 * (time.process_time() - cpu))
    return statistics.median(walls), statistics.median(cpus), result


def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="reelay-media-bench-") as tmp:
        where = Path(tmp)
        print("making the videos (not timed)...", flush=True)
        small = make_video(where / "small.mp4", 0, 8 * FPS, (160, 90), bframes=3)
        large = make_video(where / "large.mp4", 0, 8 * FPS, (1280, 720), bframes=3)
        (where / "copy").mkdir()
        (where / "reencode").mkdir()
        copy_chain = make_chain(where / "copy", args.segments, bframes=0)
        reencode_chain = make_chain(where / "reencode", args.segments, bframes=2)
        seconds = sum(probe(s.path).duration_s for s in copy_chain)

        rows = []
        for label, video in (("8 s 160x90", small), ("8 s 1280x720", large)):
            wall, cpu, _ = measure(args.runs, partial(probe, video))
            rows.append(Row(f"probe, {label}", wall, cpu))
        for label, video in (("8 s 160x90", small), ("8 s 1280x720", large)):
            wall, cpu, png = measure(args.runs, partial(last_frame_png, video))
            rows.append(Row(f"last frame, {label}", wall, cpu, f"PNG {len(png):,} bytes"))
        for label, chain in (("copy chain", copy_chain), ("re-encode chain", reencode_chain)):
            out = where / f"{label}.mp4"
            wall, cpu, joined = measure(args.runs, partial(join, chain, out))
            note = f"{joined.method}, {joined.frames} frames, {joined.dropped_frames} dropped"
            note += f" ({joined.reason})" if joined.reason else ""
            rows.append(Row(f"join {len(chain)} x 7-8 s 160x90, {label}", wall, cpu, note))

        print(f"\n{args.segments} segments, {seconds:.0f} s in all; median of {args.runs} runs\n")
        print(f"{'operation':<40} {'wall':>10} {'CPU':>10}  note")
        for row in rows:
            figures = f"{row.wall_ms:8.1f}ms {row.cpu_ms:8.1f}ms"
            print(f"{row.name:<40} {figures}  {row.note}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--segments", type=int, default=20)
    main(parser.parse_args())
