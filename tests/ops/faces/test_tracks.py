"""Face tracks through a video: linking, interpolation, and a real clip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ops.faces.people import cluster_people
from ops.faces.store import FaceStore
from ops.faces.tracks import (
    TrackSettings,
    UnreadableVideo,
    interpolated,
    iou,
    video_face_tracks,
)
from ops.sample_site.portraits import portrait_film, shots
from ops.settings import Settings


def test_iou_of_boxes() -> None:
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0


def test_boxes_are_interpolated_between_keyframes_and_held_half_an_interval_out() -> None:
    boxes = interpolated([(10, (0, 0, 10, 10)), (20, (10, 0, 20, 10))], every=10, frames=100)
    assert [box.frame for box in boxes] == list(range(5, 26))
    assert boxes[0].box == (0, 0, 10, 10) and not boxes[0].detected
    middle = next(box for box in boxes if box.frame == 15)
    assert middle.box == (5, 0, 15, 10) and not middle.detected
    assert [box.frame for box in boxes if box.detected] == [10, 20]
    at_start = interpolated([(0, (0, 0, 4, 4))], every=10, frames=3)
    assert [box.frame for box in at_start] == [0, 1, 2]  # clamped to the video


def test_a_shot_boundary_near_a_track_is_where_it_starts_and_ends() -> None:
    boxes = interpolated(
        [(12, (0, 0, 4, 4)), (24, (0, 0, 4, 4))], every=12, frames=99, cuts=[3, 36]
    )
    assert (boxes[0].frame, boxes[-1].frame) == (3, 35)
    far = interpolated([(24, (0, 0, 4, 4))], every=12, frames=99, cuts=[3, 50])
    assert (far[0].frame, far[-1].frame) == (18, 30)  # the cuts are too far to say


def test_a_track_never_crosses_a_cut_to_another_face_in_the_same_place(tmp_path: Path) -> None:
    """The portrait film cuts between two people framed alike: one track per shot."""
    film = tmp_path / "film.mp4"
    film.write_bytes(portrait_film())
    found = video_face_tracks(film, TrackSettings(workers=1))
    spans = [(track.start_s, track.end_s) for track in found.tracks]
    assert spans == [(start, end) for _, start, end in shots()]
    first, second, third = (np.asarray(track.descriptor) for track in found.tracks)
    assert np.linalg.norm(first - third) < 0.4 < np.linalg.norm(first - second)


def test_the_clip_gives_tracks_with_a_face_each(shared_data: Path) -> None:
    clip = shared_data / "video" / "short_hamilton_clip.mp4"
    found = video_face_tracks(clip, TrackSettings(workers=1))
    assert found.frames == 275 and found.keyframes == 23
    assert found.tracks, "the clip shows faces"
    for track in found.tracks:
        frames = [box.frame for box in track.boxes]
        assert frames == list(range(frames[0], frames[-1] + 1))
        assert 0 <= track.start_s < track.end_s <= found.frames / found.fps + 1e-6
        assert len(track.descriptor) == 128 or track.refused is not None
    described = [track for track in found.tracks if track.descriptor]
    assert len(described) >= 2


def test_the_performers_three_tracks_cluster_as_one_person(
    home: Settings, shared_data: Path
) -> None:
    """Checked by eye: tracks 0-2 of the clip are the one performer in three shots;
    track 3, a face in the audience, is too blurred to describe."""
    added = FaceStore(home).add_video(shared_data / "video" / "short_hamilton_clip.mp4", "clip")
    assert (added.faces_added, added.refused) == (3, {"blurred": 1})
    run = cluster_people(home)
    assert (run.faces, run.clusters) == (3, 1)
    again = FaceStore(home).add_video(shared_data / "video" / "short_hamilton_clip.mp4", "clip")
    assert (again.faces_added, again.already_known) == (0, 3)


def test_a_broken_video_is_refused_with_the_reason(home: Settings, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from ops.cli import app

    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    with pytest.raises(UnreadableVideo, match=r"broken\.mp4: not a readable video"):
        video_face_tracks(broken)
    for command in (["faces", "add", str(broken)], ["faces", "tracks", str(broken)]):
        result = CliRunner().invoke(app, command)
        assert result.exit_code == 2, command
        assert "not a readable video" in result.stderr and result.exception is not None
    assert FaceStore(home).faces().empty
