"""The decoding seam on small generated videos: sizes, timestamps, counts and errors."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from ops.media.decode import MediaDecodeError, decode_only, iter_frames, open_video
from ops.sample_site.media import make_music, make_video

FPS = 12
SECONDS = 2.0
FRAMES = round(FPS * SECONDS)
SIZE = (160, 120)


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("decode") / "clip.mp4"
    path.write_bytes(make_video(0, seconds=SECONDS, size=SIZE, fps=FPS))
    return path


def shifted_copy(source: Path, target: Path, seconds: float) -> Path:
    """Remux with every timestamp moved later, as in a clip cut from a longer recording."""
    with av.open(str(source)) as src, av.open(str(target), "w") as dst:
        in_stream = src.streams.video[0]
        out_stream = dst.add_stream_from_template(in_stream)
        assert in_stream.time_base is not None
        offset = round(seconds / in_stream.time_base)
        for packet in src.demux(in_stream):
            if packet.pts is None or packet.dts is None:  # the demuxer's end-of-stream marker
                continue
            packet.pts += offset
            packet.dts += offset
            packet.stream = out_stream
            dst.mux(packet)
    return target


def test_open_video_reads_stream_properties(video: Path) -> None:
    info = open_video(video)
    assert (info.width, info.height) == SIZE
    assert info.display_size == SIZE
    assert info.codec == "h264"
    assert info.fps == Fraction(FPS)
    assert info.frame_count == FRAMES
    assert info.duration_s == pytest.approx(SECONDS, abs=0.1)
    assert info.rotation == 0
    assert info.start_time_s == 0.0


def test_frames_are_scaled_converted_and_timed_from_the_first(video: Path) -> None:
    frames = list(iter_frames(video, width=32, height=24, pix_fmt="gray"))
    assert [frame.index for frame in frames] == list(range(FRAMES))
    assert frames[0].image.shape == (24, 32)
    assert frames[0].image.dtype == np.uint8
    times = [frame.time_s for frame in frames]
    assert times[0] == 0.0
    assert np.allclose(np.diff(times), 1 / FPS)


def test_one_dimension_keeps_the_aspect_ratio(video: Path) -> None:
    frame = next(iter_frames(video, height=60))
    assert frame.image.shape == (60, 80, 3)
    native = next(iter_frames(video))
    assert native.image.shape == (SIZE[1], SIZE[0], 3)


def test_indices_yield_only_those_frames(video: Path) -> None:
    picked = list(iter_frames(video, width=16, height=12, indices=[20, 3, 11]))
    assert [frame.index for frame in picked] == [3, 11, 20]
    assert picked[1].time_s == pytest.approx(11 / FPS)
    assert list(iter_frames(video, indices=[])) == []


def test_a_late_first_timestamp_still_gives_times_from_zero(video: Path, tmp_path: Path) -> None:
    late = shifted_copy(video, tmp_path / "late.mp4", seconds=1.5)
    assert open_video(late).start_time_s == pytest.approx(1.5, abs=1e-3)
    times = [frame.time_s for frame in iter_frames(late, width=16, height=12, pix_fmt="gray")]
    assert times[0] == 0.0
    assert times[-1] == pytest.approx((FRAMES - 1) / FPS)


def test_decode_only_counts_every_frame(video: Path) -> None:
    assert decode_only(video) == FRAMES
    assert decode_only(video, threads=False) == FRAMES


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MediaDecodeError, match="no such file"):
        open_video(tmp_path / "absent.mp4")
    with pytest.raises(MediaDecodeError, match="no such file"):
        iter_frames(tmp_path / "absent.mp4")
    with pytest.raises(MediaDecodeError, match="no such file"):
        decode_only(tmp_path / "absent.mp4")


def test_corrupt_files(video: Path, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"definitely not a video " * 100)
    with pytest.raises(MediaDecodeError, match="cannot open"):
        open_video(garbage)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(video.read_bytes()[:600])
    with pytest.raises(MediaDecodeError, match=str(truncated)):
        open_video(truncated)


def test_audio_only_file_has_no_video_stream(tmp_path: Path) -> None:
    song = tmp_path / "song.m4a"
    song.write_bytes(make_music(0, genre="jazz", seconds=1.0))
    with pytest.raises(MediaDecodeError, match="no video stream"):
        open_video(song)


def test_bad_requests_are_refused_before_decoding(video: Path) -> None:
    with pytest.raises(ValueError, match="unknown pixel format"):
        iter_frames(video, pix_fmt="no-such-format")
    with pytest.raises(ValueError, match="width must be positive"):
        iter_frames(video, width=0)
