"""Cutting spans of a video into one, with its sound."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from ops.media.cut import cut_spans, merged_spans
from ops.sample_site.media import AUDIO_SAMPLE_RATE, make_video


@pytest.fixture
def video(tmp_path: Path) -> Path:
    path = tmp_path / "clip.mp4"
    path.write_bytes(make_video(0, seconds=3.0, fps=12, size=(64, 48)))
    return path


def test_spans_are_sorted_and_joined() -> None:
    assert merged_spans([(2.0, 3.0), (0.0, 1.0), (0.5, 1.5), (4.0, 4.0)]) == [
        (0.0, 1.5),
        (2.0, 3.0),
    ]


def test_the_spans_follow_one_another_with_their_sound(video: Path, tmp_path: Path) -> None:
    cut = cut_spans(video, [(2.0, 2.5), (0.5, 1.0)], tmp_path / "out.mp4")
    assert (cut.video_frames, cut.seconds) == (12, 1.0)
    with av.open(str(cut.path)) as container:
        kinds = sorted(stream.type for stream in container.streams)
        decoded = list(container.decode(video=0, audio=0))
    frames = sum(isinstance(frame, av.VideoFrame) for frame in decoded)
    samples = sum(frame.samples for frame in decoded if isinstance(frame, av.AudioFrame))
    sound_s = samples / AUDIO_SAMPLE_RATE
    assert kinds == ["audio", "video"] and frames == 12
    assert sound_s == pytest.approx(1.0, abs=0.15)


def test_nothing_to_cut_is_refused_and_leaves_no_file(video: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no span to cut"):
        cut_spans(video, [(1.0, 1.0)], tmp_path / "empty.mp4")
    with pytest.raises(ValueError, match="no video frame falls inside"):
        cut_spans(video, [(50.0, 60.0)], tmp_path / "late.mp4")
    assert not (tmp_path / "empty.mp4").exists() and not (tmp_path / "late.mp4").exists()
