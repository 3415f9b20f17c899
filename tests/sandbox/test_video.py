"""The sandbox's videos: marks that survive encoding, frame order, and the MP4 they make."""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import av
import pytest
from av.video.frame import PictureType

from orchestrator.sandbox.video import (
    NO_MARK,
    BadPicture,
    Part,
    Picture,
    Synthetic,
    code_for,
    mark_of_png,
    marked_png,
    picture_png,
    read_marks,
    render,
    synthetic_frame,
)


def png_of(frame: av.VideoFrame) -> bytes:
    codec = av.CodecContext.create("png", "w")
    codec.width, codec.height, codec.pix_fmt = frame.width, frame.height, "rgb24"
    rgb = frame.reformat(format="rgb24")
    return b"".join(bytes(packet) for packet in [*codec.encode(rgb), *codec.encode(None)])


def grey_png(level: int) -> bytes:
    frame = av.VideoFrame(64, 36, "gray")
    frame.planes[0].update(bytes([level]) * frame.planes[0].buffer_size)
    return png_of(frame)


def test_read_marks_returns_every_frame_of_a_render_in_order() -> None:
    """Synthetic parts come back frame by frame, codes and indexes at both 16-bit extremes."""
    parts = [Synthetic(0, 0, 3), Synthetic(65_535, 65_530, 6), Synthetic(0x1234, 9, 8)]
    marks = read_marks(render(parts))
    expected = [(0, i) for i in range(3)]
    expected += [(65_535, i) for i in range(65_530, 65_536)]
    expected += [(0x1234, i) for i in range(9, 17)]
    assert marks == expected


def test_frames_have_consecutive_timestamps_and_a_keyframe_every_eight() -> None:
    """Frame k is shown at k/8 s; keyframes fall on frames 0, 8, 16, ..., pictures or not."""
    data = render([Synthetic(7, 0, 10), Picture(marked_png(8, 0)), Synthetic(7, 10, 9)])
    with av.open(io.BytesIO(data), "r") as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
    assert [frame.time for frame in frames] == [k / 8 for k in range(20)]
    assert [k for k, frame in enumerate(frames) if frame.key_frame] == [0, 8, 16]


def test_a_picture_part_is_one_frame_showing_that_picture() -> None:
    """A marked PNG placed first comes back first with its own mark, then the synthetic frames."""
    png = marked_png(4_242, 7)
    assert mark_of_png(png) == (4_242, 7)
    marks = read_marks(render([Picture(png), Synthetic(5, 1, 3)]))
    assert marks == [(4_242, 7), (5, 1), (5, 2), (5, 3)]


def test_a_picture_of_another_size_is_scaled_and_keeps_its_mark() -> None:
    """A 320x180 JPEG still reads as its mark once scaled into the 160x90 video."""
    big = synthetic_frame(999, 3).reformat(320, 180, "yuvj420p")
    codec = av.CodecContext.create("mjpeg", "w")
    codec.width, codec.height, codec.pix_fmt = 320, 180, "yuvj420p"
    jpeg = b"".join(bytes(packet) for packet in [*codec.encode(big), *codec.encode(None)])
    assert mark_of_png(jpeg) == (999, 3)
    assert read_marks(render([Picture(picture_png(jpeg))])) == [(999, 3)]


def test_picture_png_keeps_a_160x90_picture_pixel_for_pixel() -> None:
    png = marked_png(1, 2)
    assert picture_png(png) == png


@pytest.mark.parametrize("level", [0, 16, 128, 235, 255])
def test_a_frame_without_a_mark_reads_as_no_mark(level: int) -> None:
    """Plain black, grey and white pictures carry no mark, in a PNG or in a video."""
    png = grey_png(level)
    assert mark_of_png(png) == NO_MARK
    assert read_marks(render([Picture(png)])) == [NO_MARK]


def test_marks_survive_reencoding_the_video(tmp_path: Path) -> None:
    """Decoded and encoded again at a high CRF, the frames keep their marks."""
    again = tmp_path / "again.mp4"
    with av.open(str(again), "w") as out:
        stream = out.add_stream("libx264", rate=8, options={"crf": "35", "preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = 160, 90, "yuv420p"
        with av.open(io.BytesIO(render([Synthetic(31_337, 0, 12)])), "r") as source:
            for frame in source.decode(source.streams.video[0]):
                frame.pict_type = PictureType.NONE
                out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    assert read_marks(again) == [(31_337, i) for i in range(12)]


def test_render_is_deterministic_and_the_index_comes_first() -> None:
    """The same description gives the same bytes, with ``moov`` before ``mdat``."""
    parts: list[Part] = [Picture(marked_png(3, 0)), Synthetic(3, 1, 15)]
    data = render(parts)
    assert render(parts) == data
    assert data[4:8] == b"ftyp"
    assert data.index(b"moov") < data.index(b"mdat")


def test_the_video_has_an_aac_track_as_long_as_the_pictures() -> None:
    """H.264 160x90 at 8 fps over mono AAC, both lasting the frames' duration."""
    with av.open(io.BytesIO(render([Synthetic(1, 0, 56)])), "r") as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert (video.codec_context.name, video.width, video.height) == ("h264", 160, 90)
        assert video.average_rate == 8
        assert video.duration is not None
        assert audio.duration is not None
        assert video.duration * Fraction(video.time_base or 0) == 7
        assert (audio.codec_context.name, audio.layout.name, audio.rate) == ("aac", "mono", 16_000)
        audio_s = audio.duration * Fraction(audio.time_base or 0)
        assert 7 - Fraction(1024, 16_000) < audio_s <= 7
        assert container.duration == 7_000_000


def test_render_needs_frames_and_marks_fit_in_16_bits() -> None:
    with pytest.raises(ValueError):
        render([Synthetic(1, 0, 0)])
    with pytest.raises(ValueError):
        Synthetic(65_536, 0, 1)
    with pytest.raises(ValueError):
        Synthetic(1, 65_535, 2)


def test_what_is_not_a_picture_is_refused() -> None:
    """Text, an empty body and a video are not pictures."""
    for data in (b"<html>not found</html>", b"", render([Synthetic(1, 0, 1)])):
        with pytest.raises(BadPicture):
            picture_png(data)


def test_code_for_is_16_bits_of_provider_and_task_id() -> None:
    """The same task always gets the same code; different tasks nearly always differ."""
    codes = [
        code_for(provider, f"task_{n}") for provider in ("apixo", "apimart") for n in range(100)
    ]
    assert all(0 <= code < 65_536 for code in codes)
    assert codes == [code_for(p, f"task_{n}") for p in ("apixo", "apimart") for n in range(100)]
    assert len(set(codes)) > 195


def test_an_extend_made_from_its_sources_video_plays_as_one_stream() -> None:
    """The sandbox copies an extend's source pictures and encodes only its own: the result
    reads back exactly like the same description encoded whole, frame for frame."""
    base = (Synthetic(5, 0, 64),)
    extend = (*base, Synthetic(6, 0, 56))
    deeper = (*extend, Synthetic(7, 0, 56))
    made = render(deeper, render(extend, render(base)))
    assert read_marks(made) == read_marks(render(deeper))
    with av.open(io.BytesIO(made), "r") as container:
        video = container.streams.video[0]
        assert video.frames == 176
        assert sum(1 for _ in container.decode(video)) == 176
