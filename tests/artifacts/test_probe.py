"""Probing kept videos with FFmpeg's libraries: what they measure, and what is not a video."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import pytest

from orchestrator.artifacts.pictures import picture_signature, same_picture
from orchestrator.artifacts.probe import Probe, ProbeFailed, probe
from tests.artifacts.clips import make_clip, picture

SAMPLE = Path(__file__).parent / "sample.mp4"


def make_video(path: Path, *, frames: int, fps: int, size: tuple[int, int]) -> None:
    """A silent MPEG-4 video of ``frames`` grey frames."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.time_base = Fraction(1, fps)
        for i in range(frames):
            frame = av.VideoFrame(size[0], size[1], "yuv420p")
            for plane in frame.planes:
                plane.update(bytes([i * 8 % 256]) * plane.buffer_size)
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def test_the_sandbox_video_is_measured(tmp_path: Path) -> None:
    path = tmp_path / "sample.mp4"
    path.write_bytes(SAMPLE.read_bytes())
    found = probe(path)
    assert (found.duration_s, found.fps, found.frames) == (1.0, 24.0, 24)
    assert (found.width, found.height) == (160, 90)
    assert (found.video_codec, found.audio_codec) == ("h264", "aac")


def test_a_video_made_here_is_measured_as_made(tmp_path: Path) -> None:
    path = tmp_path / "made.mp4"
    make_video(path, frames=16, fps=8, size=(32, 32))
    found = probe(path)
    assert (found.fps, found.frames, found.width, found.height) == (8.0, 16, 32, 32)
    assert found.duration_s == pytest.approx(2.0, abs=1 / 8)
    assert (found.video_codec, found.audio_codec) == ("mpeg4", None)
    assert found.as_json()["frames"] == 16


@pytest.mark.parametrize(
    "content",
    [b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 200, b"", b"<html>expired</html>"],
)
def test_what_does_not_decode_is_not_a_video(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.mp4"
    path.write_bytes(content)
    with pytest.raises(ProbeFailed) as refused:
        probe(path)
    assert str(tmp_path) not in str(refused.value)  # says why, not where


def test_the_first_frame_is_fingerprinted(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "a.mp4", [42, 43, 44], bframes=2)
    found = probe(clip)
    assert found.first_frame is not None
    assert same_picture(found.first_frame, picture_signature(picture(42)))
    assert not same_picture(found.first_frame, picture_signature(picture(43)))
    assert found.as_json()["first_frame"] == found.first_frame
    assert Probe.from_json(found.as_json()) == found


def test_a_probe_stored_before_fingerprints_still_loads() -> None:
    stored = {
        "duration_s": 8.0,
        "fps": 24.0,
        "frames": 192,
        "width": 1280,
        "height": 720,
        "video_codec": "h264",
        "audio_codec": "aac",
    }
    loaded = Probe.from_json(stored)
    assert loaded.first_frame is None
    assert (loaded.frames, loaded.width) == (192, 1280)
