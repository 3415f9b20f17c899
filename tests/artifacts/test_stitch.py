"""Joining segments: stream copy when the codec parameters match, the repeated frame at a
continuation's seam left out, re-encoding otherwise, and inputs that cannot be joined."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import av
import pytest

from orchestrator.artifacts.probe import probe
from orchestrator.artifacts.stitch import Joined, JoinFailed, Segment, join
from tests.artifacts.clips import (
    audio_seconds,
    blanked,
    make_clip,
    read_ids,
    sound_onset,
    video_packets,
)

FPS = 8
FRAME_S = 1 / FPS


def ids(start: int, count: int, *, after: int | None = None) -> list[int]:
    """``count`` new ids from ``start``, after a first frame showing ``after`` (a continuation)."""
    fresh = list(range(start, start + count))
    return fresh if after is None else [after, *fresh]


def joined(tmp_path: Path, segments: Sequence[Segment]) -> tuple[Joined, Path]:
    out = tmp_path / "whole.mp4"
    return join(segments, out), out


def assert_lasts(out: Path, result: Joined, expected_s: float) -> None:
    """The file and the result agree on a duration within one frame of ``expected_s``."""
    measured = probe(out)
    assert measured.duration_s == pytest.approx(expected_s, abs=FRAME_S + 1e-6)
    assert result.duration_s == pytest.approx(expected_s, abs=FRAME_S + 1e-6)
    assert measured.frames == result.frames


def assert_audio_follows(out: Path) -> None:
    assert probe(out).audio_codec == "aac"
    assert audio_seconds(out) == pytest.approx(probe(out).duration_s, abs=0.1)


def test_one_segment_is_remuxed_as_is(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "a.mp4", ids(0, 16))
    result, out = joined(tmp_path, [Segment(clip)])
    assert (result.method, result.reason, result.dropped_frames) == ("copy", "", 0)
    assert video_packets(out) == video_packets(clip)
    assert read_ids(out) == ids(0, 16)
    assert_lasts(out, result, 16 / FPS)
    assert_audio_follows(out)


def test_matching_segments_are_copied_packet_for_packet(tmp_path: Path) -> None:
    clips = [make_clip(tmp_path / f"{n}.mp4", ids(100 * n, 12 + n)) for n in range(3)]
    result, out = joined(tmp_path, [Segment(c) for c in clips])
    assert (result.method, result.reason, result.dropped_frames) == ("copy", "", 0)
    # Not re-encoded: the output holds the inputs' very packets, in order.
    assert video_packets(out) == [p for c in clips for p in video_packets(c)]
    assert read_ids(out) == ids(0, 12) + ids(100, 13) + ids(200, 14)
    assert_lasts(out, result, (12 + 13 + 14) / FPS)
    assert_audio_follows(out)


def test_a_continuation_loses_its_repeated_frame_under_copy(tmp_path: Path) -> None:
    """Without B-frames the previous segment's last packet goes (rule a): no frame refers
    to it, and it shows the picture the continuation starts with."""
    base = make_clip(tmp_path / "base.mp4", ids(0, 16))
    extend = make_clip(tmp_path / "extend.mp4", ids(100, 14))
    cont = make_clip(tmp_path / "cont.mp4", ids(200, 15, after=113))
    result, out = joined(tmp_path, [Segment(base), Segment(extend), Segment(cont, True)])
    assert (result.method, result.dropped_frames) == ("copy", 1)
    assert read_ids(out) == ids(0, 16) + ids(100, 14) + ids(200, 15)
    kept = video_packets(base) + video_packets(extend)[:-1] + video_packets(cont)
    assert video_packets(out) == kept
    assert_lasts(out, result, (16 + 14 + 16 - 1) / FPS)
    assert_audio_follows(out)


def test_a_continuation_starting_with_a_lone_keyframe_loses_it_under_copy(
    tmp_path: Path,
) -> None:
    """When the previous segment ends on a B-frame (rule a is out) but the continuation's
    second frame is a keyframe, the continuation's first packet goes (rule b)."""
    base = make_clip(tmp_path / "base.mp4", ids(0, 12), bframes=2)
    cont = make_clip(tmp_path / "cont.mp4", ids(100, 12, after=11), bframes=2, keyframes=[1])
    result, out = joined(tmp_path, [Segment(base), Segment(cont, drop_first_frame=True)])
    assert (result.method, result.dropped_frames) == ("copy", 1)
    assert read_ids(out) == ids(0, 12) + ids(100, 12)
    assert video_packets(out) == video_packets(base) + video_packets(cont)[1:]
    assert_lasts(out, result, (12 + 13 - 1) / FPS)
    assert_audio_follows(out)


def test_b_frames_on_both_sides_of_a_seam_are_re_encoded(tmp_path: Path) -> None:
    """Neither rule holds: dropping either frame would break frames that refer to it."""
    base = make_clip(tmp_path / "base.mp4", ids(0, 12), bframes=2)
    cont = make_clip(tmp_path / "cont.mp4", ids(100, 12, after=11), bframes=2)
    result, out = joined(tmp_path, [Segment(base), Segment(cont, drop_first_frame=True)])
    assert (result.method, result.dropped_frames) == ("reencode", 1)
    assert result.reason == (
        "segment 1 repeats a frame that stream copy cannot leave out: segment 0's last frame is"
        " referred to by frames decoded after it; segment 1's next frames refer to its first"
    )
    assert read_ids(out) == ids(0, 12) + ids(100, 12)
    assert_lasts(out, result, (12 + 13 - 1) / FPS)
    assert_audio_follows(out)


@pytest.mark.parametrize("bframes", [0, 2])
def test_b_frame_chains_never_repeat_the_seam_frame(tmp_path: Path, bframes: int) -> None:
    """Whichever way it goes (a rule or a re-encode), every frame shows once, in order."""
    sizes = [12, 13, 16, 17]
    segments, expected, last = [], [], None
    for n, size in enumerate(sizes):
        fresh = ids(100 * n, size)
        clip = make_clip(
            tmp_path / f"{n}.mp4", fresh if last is None else [last, *fresh], bframes=bframes
        )
        segments.append(Segment(clip, drop_first_frame=last is not None))
        expected += fresh
        last = fresh[-1]
    result, out = joined(tmp_path, segments)
    assert read_ids(out) == expected
    assert result.dropped_frames == len(sizes) - 1
    assert_lasts(out, result, len(expected) / FPS)
    assert_audio_follows(out)


@pytest.mark.parametrize(
    ("bframes", "method", "onset_frame"),
    [(0, "copy", 11), (2, "reencode", 12)],
    ids=["copy", "reencode"],
)
def test_sound_stays_with_its_pictures_across_a_seam(
    tmp_path: Path, bframes: int, method: str, onset_frame: int
) -> None:
    """A silent segment, then a loud continuation: the loud sound starts with the
    continuation's first kept picture. The copy drops the previous segment's last frame (so
    the continuation starts at frame 11), the re-encode the continuation's own first (frame 12:
    its sound under that frame goes with it)."""
    quiet = make_clip(tmp_path / "a.mp4", ids(0, 12), bframes=bframes, volume=0.0)
    loud = make_clip(tmp_path / "b.mp4", ids(100, 12, after=11), bframes=bframes, volume=0.3)
    result, out = joined(tmp_path, [Segment(quiet), Segment(loud, drop_first_frame=True)])
    assert result.method == method
    assert read_ids(out) == ids(0, 12) + ids(100, 12)
    onset = sound_onset(out)
    assert onset is not None
    assert onset == pytest.approx(onset_frame / FPS, abs=0.03)
    assert_audio_follows(out)


def test_a_different_size_is_re_encoded_to_the_first_segments(tmp_path: Path) -> None:
    first = make_clip(tmp_path / "a.mp4", ids(0, 10))
    bigger = make_clip(tmp_path / "b.mp4", ids(100, 10, after=9), size=(192, 108))
    result, out = joined(tmp_path, [Segment(first), Segment(bigger, drop_first_frame=True)])
    assert result.method == "reencode"
    assert result.reason == "segment 1 is 192x108, segment 0 is 160x90"
    measured = probe(out)
    assert (measured.width, measured.height, measured.video_codec) == (160, 90, "h264")
    assert read_ids(out) == ids(0, 10) + ids(100, 10)
    assert_lasts(out, result, 20 / FPS)
    assert_audio_follows(out)


def test_a_different_frame_rate_is_re_encoded_and_keeps_its_duration(tmp_path: Path) -> None:
    first = make_clip(tmp_path / "a.mp4", ids(0, 16))
    faster = make_clip(tmp_path / "b.mp4", ids(100, 32), fps=16)
    result, out = joined(tmp_path, [Segment(first), Segment(faster)])
    assert result.method == "reencode"
    assert result.reason == "segment 1 runs at 16 fps, segment 0 at 8 fps"
    assert probe(out).fps == FPS
    seen = read_ids(out)
    assert seen[:16] == ids(0, 16)
    assert seen[16:] == ids(100, 32)[::2]  # every other frame of the 16 fps segment
    assert_lasts(out, result, 2 + 2)
    assert_audio_follows(out)


def test_mpeg4_segments_are_copied_and_mixed_codecs_re_encoded(tmp_path: Path) -> None:
    one = make_clip(tmp_path / "a.mp4", ids(0, 10), codec="mpeg4")
    two = make_clip(tmp_path / "b.mp4", ids(100, 10, after=9), codec="mpeg4")
    result, out = joined(tmp_path, [Segment(one), Segment(two, drop_first_frame=True)])
    assert (result.method, result.dropped_frames) == ("copy", 1)
    assert read_ids(out) == ids(0, 10) + ids(100, 10)

    h264 = make_clip(tmp_path / "c.mp4", ids(200, 10))
    result, out = joined(tmp_path, [Segment(one), Segment(h264)])
    assert result.method == "reencode"
    assert result.reason == "segment 1's video is h264, segment 0's is mpeg4"
    assert read_ids(out) == ids(0, 10) + ids(200, 10)
    assert probe(out).video_codec == "h264"


def test_a_segment_without_audio_gets_silence(tmp_path: Path) -> None:
    loud = make_clip(tmp_path / "a.mp4", ids(0, 12))
    mute = make_clip(tmp_path / "b.mp4", ids(100, 12), audio=False)
    also = make_clip(tmp_path / "c.mp4", ids(200, 12))
    result, out = joined(tmp_path, [Segment(loud), Segment(mute), Segment(also)])
    assert result.method == "reencode"
    assert result.reason == "segment 1 has no audio, segment 0 has"
    assert read_ids(out) == ids(0, 12) + ids(100, 12) + ids(200, 12)
    assert_lasts(out, result, 36 / FPS)
    assert_audio_follows(out)


def test_audio_from_later_segments_only_is_48k_stereo(tmp_path: Path) -> None:
    mute = make_clip(tmp_path / "a.mp4", ids(0, 12), audio=False)
    loud = make_clip(tmp_path / "b.mp4", ids(100, 12), sample_rate=16_000, layout="mono")
    result, out = joined(tmp_path, [Segment(mute), Segment(loud)])
    assert result.reason == "segment 1 has audio, segment 0 not"
    with av.open(str(out)) as container:
        sound = container.streams.audio[0].codec_context
        assert (sound.sample_rate, sound.layout.name) == (48_000, "stereo")
    assert_audio_follows(out)


def test_different_audio_rates_are_resampled_to_the_first(tmp_path: Path) -> None:
    first = make_clip(tmp_path / "a.mp4", ids(0, 12), sample_rate=44_100)
    other = make_clip(tmp_path / "b.mp4", ids(100, 12))
    result, out = joined(tmp_path, [Segment(first), Segment(other)])
    assert result.reason == "segment 1's audio is at 48000 Hz, segment 0's at 44100 Hz"
    with av.open(str(out)) as container:
        assert container.streams.audio[0].codec_context.sample_rate == 44_100
    assert_audio_follows(out)


def test_silent_segments_join_without_audio(tmp_path: Path) -> None:
    clips = [make_clip(tmp_path / f"{n}.mp4", ids(100 * n, 9), audio=False) for n in range(2)]
    result, out = joined(tmp_path, [Segment(c) for c in clips])
    assert result.method == "copy"
    assert probe(out).audio_codec is None
    assert read_ids(out) == ids(0, 9) + ids(100, 9)


def test_streams_mp4_cannot_hold_are_re_encoded(tmp_path: Path) -> None:
    """Matroska segments with PCM sound match each other, but MP4 takes no PCM: the copy
    fails when the file is closed, and the join is re-encoded instead."""
    one, two = (
        make_clip(tmp_path / name, frames, audio_codec="pcm_s16le", container="matroska")
        for name, frames in (("a.mkv", ids(0, 10)), ("b.mkv", ids(100, 10, after=9)))
    )
    result, out = joined(tmp_path, [Segment(one), Segment(two, drop_first_frame=True)])
    assert result.method == "reencode"
    assert result.reason.startswith("the MP4 muxer refused the copied streams (")
    assert read_ids(out) == ids(0, 10) + ids(100, 10)
    assert_lasts(out, result, 20 / FPS)
    assert_audio_follows(out)


def test_nothing_to_join_is_a_caller_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no segments"):
        join([], tmp_path / "out.mp4")


def test_a_segment_that_is_not_a_video_is_named(tmp_path: Path) -> None:
    good = make_clip(tmp_path / "a.mp4", ids(0, 8))
    html = tmp_path / "b.mp4"
    html.write_bytes(b"<html>expired</html>")
    with pytest.raises(JoinFailed, match=r"^segment 1 cannot be read \("):
        join([Segment(good), Segment(html)], tmp_path / "out.mp4")
    with pytest.raises(JoinFailed, match=r"^segment 2 cannot be read \("):
        join([Segment(good), Segment(good), Segment(tmp_path / "gone.mp4")], tmp_path / "o.mp4")


def test_a_segment_without_video_is_named(tmp_path: Path) -> None:
    good = make_clip(tmp_path / "a.mp4", ids(0, 8))
    sound_only = tmp_path / "sound.mp4"
    with av.open(str(sound_only), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=48_000, layout="stereo")
        frame = av.AudioFrame(format="fltp", layout="stereo", samples=1024)
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        frame.sample_rate, frame.pts = 48_000, 0
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    with pytest.raises(JoinFailed, match=r"^segment 1 has no video stream$"):
        join([Segment(good), Segment(sound_only)], tmp_path / "out.mp4")


def test_a_segment_whose_frames_do_not_decode_is_named(tmp_path: Path) -> None:
    good = make_clip(tmp_path / "a.mp4", ids(0, 8))
    broken = blanked(good, tmp_path / "broken.mp4")
    with pytest.raises(JoinFailed, match=r"^segment 1 does not decode \("):
        join([Segment(good), Segment(broken)], tmp_path / "out.mp4")
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    with pytest.raises(JoinFailed, match=r"^segment 0 cannot be read \("):
        join([Segment(cut), Segment(good)], tmp_path / "out.mp4")
