"""Pictures out of videos: the true last frame as a PNG, and fingerprints that tell one picture
from another across encodings."""

from __future__ import annotations

import io
from pathlib import Path

import av
import pytest

from orchestrator.artifacts.frames import last_frame_png
from orchestrator.artifacts.pictures import picture_signature, same_picture
from orchestrator.artifacts.probe import ProbeFailed
from tests.artifacts.clips import blanked, make_clip, picture, read_id


def decode_png(png: bytes) -> av.VideoFrame:
    with av.open(io.BytesIO(png), "r") as image:
        assert image.streams.video[0].codec_context.name == "png"
        return next(image.decode(video=0))


def first_frame(path: Path) -> av.VideoFrame:
    with av.open(str(path)) as container:
        return next(container.decode(video=0))


@pytest.mark.parametrize("bframes", [0, 2, 3])
@pytest.mark.parametrize("count", [1, 2, 12, 19, 40])
def test_the_last_frame_is_the_last_shown(tmp_path: Path, bframes: int, count: int) -> None:
    """With B-frames the last packet decoded is not the last frame shown; the PNG is."""
    clip = make_clip(tmp_path / "v.mp4", list(range(count)), bframes=bframes, audio=False)
    frame = decode_png(last_frame_png(clip))
    assert (frame.width, frame.height, frame.format.name) == (160, 90, "rgb24")
    assert read_id(frame) == count - 1


def test_a_stream_of_unknown_length_is_decoded_from_the_start(tmp_path: Path) -> None:
    """A raw H.264 stream says nothing of its length, so there is nowhere to seek to."""
    raw = make_clip(tmp_path / "v.h264", list(range(20)), bframes=2, audio=False, container="h264")
    assert read_id(decode_png(last_frame_png(raw))) == 19


def test_the_last_frame_of_an_mpeg4_video_with_sound(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "v.mp4", list(range(30)), codec="mpeg4", size=(192, 108))
    frame = decode_png(last_frame_png(clip))
    assert (frame.width, frame.height) == (192, 108)
    assert read_id(frame) == 29


@pytest.mark.parametrize("content", [b"", b"<html>expired</html>", b"\x00" * 4096])
def test_what_is_not_a_video_has_no_last_frame(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.mp4"
    path.write_bytes(content)
    with pytest.raises(ProbeFailed):
        last_frame_png(path)


def test_a_video_whose_frames_do_not_decode_has_no_last_frame(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "v.mp4", list(range(12)), audio=False)
    with pytest.raises(ProbeFailed):
        last_frame_png(blanked(clip, tmp_path / "broken.mp4"))


def test_encodings_of_one_picture_are_the_same_picture(tmp_path: Path) -> None:
    h264 = make_clip(tmp_path / "a.mp4", [7, 8], audio=False)
    mpeg4 = make_clip(tmp_path / "b.mp4", [7, 8], codec="mpeg4", size=(192, 108), audio=False)
    large = make_clip(tmp_path / "c.mp4", [7, 8], size=(640, 360), audio=False)
    original = picture_signature(picture(7))
    for clip in (h264, mpeg4, large):
        assert same_picture(picture_signature(first_frame(clip)), original)
    # A PNG of the last frame (RGB) matches the video's picture (YUV).
    png = decode_png(last_frame_png(h264))
    assert same_picture(picture_signature(png), picture_signature(picture(8)))


def test_different_pictures_are_not_the_same_picture() -> None:
    signatures = [picture_signature(picture(n)) for n in range(24)]
    for i, one in enumerate(signatures):
        for other in signatures[i + 1 :]:
            assert not same_picture(one, other)
    flat = av.VideoFrame(160, 90, "yuv420p")
    for plane in flat.planes:
        plane.update(bytes([128]) * plane.buffer_size)
    assert not same_picture(picture_signature(flat), signatures[0])


def test_a_signature_is_small_and_comparisons_refuse_nonsense() -> None:
    signature = picture_signature(picture(3))
    assert len(signature) == 2 * 16 * 9
    assert same_picture(signature, signature)
    assert not same_picture(signature, signature[:-2])
    assert not same_picture(signature, "not hex")
    assert not same_picture("", "")
