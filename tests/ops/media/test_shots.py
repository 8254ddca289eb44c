"""Shot boundaries and keyframes on generated videos whose cuts and fades are known."""

from __future__ import annotations

import itertools
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from ops.media.decode import DecodedFrame
from ops.media.shots import (
    ContentChangeDetector,
    ShotSettings,
    detect_shots,
    extract_keyframes,
    shots_from_cuts,
)

FPS = 24
HEIGHT, WIDTH = 48, 64
TOLERANCE = 2
START_S = 1.5  # the stream's first timestamp: times must still count from the first frame


def write_video(
    path: Path, frames: list[np.ndarray], *, first_pts: int = 0, rotation: int = 0
) -> Path:
    """Encode RGB frames as H.264 at ``FPS``, the first one stamped ``first_pts`` ticks of 1/FPS."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height = WIDTH, HEIGHT
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast"}
        if rotation:
            stream.set_display_rotation(rotation)
        for number, picture in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts = first_pts + number
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def scene(kind: str, count: int) -> list[np.ndarray]:
    """``count`` frames of one shot: a distinct pattern that moves a little every frame."""
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH]
    frames = []
    for step in range(count):
        if kind == "gradient":
            picture = np.stack([xs * 4, xs * 2, np.full_like(xs, 40)], axis=-1)
            picture[10:20, 4 + step : 14 + step] = 255
        elif kind == "stripes":
            band = ((xs + step) // 8) % 2
            picture = np.stack([band * 230, band * 210, 200 - band * 150], axis=-1)
        else:
            checker = ((xs // 8 + (ys + step) // 8) % 2).astype(np.int64)
            picture = np.stack([220 - checker * 200, 60 + checker * 160, 220 - checker * 200], -1)
        frames.append(np.clip(picture, 0, 255).astype(np.uint8))
    return frames


def fade(frames: list[np.ndarray], *, out: bool) -> list[np.ndarray]:
    levels = (
        np.linspace(1, 0, len(frames) + 1)[1:] if out else np.linspace(0, 1, len(frames) + 1)[1:]
    )
    return [
        (picture * level).astype(np.uint8) for picture, level in zip(frames, levels, strict=True)
    ]


def black(count: int) -> list[np.ndarray]:
    return [np.zeros((HEIGHT, WIDTH, 3), np.uint8) for _ in range(count)]


# The known edit: fade-in, shot A, hard cut, shot B, fade through black, shot C, fade-out.
CUT_AT = 32
BLACK_RUN = (64, 67)


def edited_frames() -> list[np.ndarray]:
    a, b, c = scene("gradient", 28), scene("stripes", 32), scene("checker", 40)
    frames = black(4) + fade(a[:4], out=False) + a[4:]  # frames 0-31
    frames += b[:24] + fade(b[24:], out=True)  # 32-63: cut at 32, fade-out 56-63
    frames += black(4)  # 64-67
    frames += fade(c[:8], out=False) + c[8:32] + fade(c[32:], out=True) + black(4)  # 68-111
    assert len(frames) == 112
    return frames


@pytest.fixture(scope="module")
def edited_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("shots")
    return write_video(folder / "edited.mp4", edited_frames(), first_pts=round(START_S * FPS))


def test_hard_cut_and_fade_through_black(edited_video: Path) -> None:
    shots = detect_shots(edited_video)
    assert len(shots) == 3, shots  # the opening fade-in and closing fade-out are no boundaries
    cut, faded = shots[1].start_frame, shots[2].start_frame
    assert abs(cut - CUT_AT) <= TOLERANCE
    assert BLACK_RUN[0] - TOLERANCE <= faded <= BLACK_RUN[1] + TOLERANCE
    assert shots[1].start_s == pytest.approx(
        cut / FPS
    )  # from the first frame, not the stream start


def test_shots_tile_the_video_and_keyframes_sit_inside(edited_video: Path) -> None:
    shots = detect_shots(edited_video)
    assert shots[0].start_frame == 0 and shots[0].start_s == 0.0
    assert shots[-1].end_frame == 112
    assert shots[-1].end_s == pytest.approx(112 / FPS)
    for before, after in itertools.pairwise(shots):
        assert before.end_frame == after.start_frame and before.end_s == after.start_s
    for shot in shots:
        assert shot.start_frame <= shot.keyframe_index < shot.end_frame
        assert shot.start_s <= shot.keyframe_s < shot.end_s


def test_keyframes_one_jpeg_per_shot(edited_video: Path, tmp_path: Path) -> None:
    shots = detect_shots(edited_video)
    paths = extract_keyframes(edited_video, shots, tmp_path / "keyframes")
    assert [path.name for path in paths] == ["shot_00000.jpg", "shot_00001.jpg", "shot_00002.jpg"]
    assert sorted((tmp_path / "keyframes").iterdir()) == paths  # no temporary files left behind
    source = edited_frames()
    for shot, path in zip(shots, paths, strict=True):
        with Image.open(path) as image:
            assert image.format == "JPEG" and image.size == (WIDTH, HEIGHT)
            pixels = np.asarray(image.convert("RGB"), dtype=np.float64)
        # The picture is this shot's keyframe, not any other shot's.
        distances = [np.abs(pixels - source[other.keyframe_index]).mean() for other in shots]
        assert int(np.argmin(distances)) == shot.index


def test_keyframes_are_upright_and_capped(tmp_path: Path) -> None:
    video = write_video(tmp_path / "turned.mp4", scene("gradient", 24), rotation=90)
    shots = detect_shots(video)
    [path] = extract_keyframes(video, shots, tmp_path / "keyframes", max_side=32)
    with Image.open(path) as image:
        assert image.size == (24, 32)  # 64x48 turned a quarter, longer side capped at 32


def test_a_flash_is_not_a_cut(tmp_path: Path) -> None:
    frames = scene("stripes", 48)
    frames[24] = np.full((HEIGHT, WIDTH, 3), 255, np.uint8)
    video = write_video(tmp_path / "flash.mp4", frames)
    assert len(detect_shots(video)) == 1


def test_min_shot_length_merges_quick_cuts(tmp_path: Path) -> None:
    frames = scene("gradient", 24) + scene("stripes", 6) + scene("checker", 24)
    video = write_video(tmp_path / "quick.mp4", frames)
    starts = [shot.start_frame for shot in detect_shots(video)]
    assert starts == [0, 24]  # the cut 6 frames (0.25 s) later is dropped
    relaxed = detect_shots(video, settings=ShotSettings(min_shot_s=0.1))
    assert [shot.start_frame for shot in relaxed] == [0, 24, 30]


def test_detector_fed_by_hand_reports_cuts_late_and_flushes() -> None:
    detector = ContentChangeDetector(ShotSettings(min_shot_s=0))
    dark, bright = np.full((36, 64), 60, np.uint8), np.full((36, 64), 200, np.uint8)
    reported = []
    for index in range(8):
        image = dark if index < 6 else bright
        reported.append(detector.process(DecodedFrame(index, index / FPS, image)))
    assert all(not cuts for cuts in reported)  # the cut at 6 needs look-ahead frames
    [cut] = detector.flush()
    assert (cut.frame, cut.kind) == (6, "cut")


def test_shots_from_cuts_handles_edges() -> None:
    times = [i / 10 for i in range(10)]
    shots = shots_from_cuts([5, 0, 5, 42], times)  # frame 0, duplicates and overflow ignored
    assert [(shot.start_frame, shot.end_frame) for shot in shots] == [(0, 5), (5, 10)]
    assert [shot.keyframe_index for shot in shots] == [2, 7]
    assert shots[-1].end_s == pytest.approx(1.0)
    assert shots_from_cuts([], []) == []


def test_settings_and_detector_together_are_refused(edited_video: Path) -> None:
    with pytest.raises(ValueError, match="not both"):
        detect_shots(edited_video, settings=ShotSettings(), detector=ContentChangeDetector())


def test_shared_footage_cuts(shared_data: Path) -> None:
    """GoldenEye, variable frame rate: hard cuts at 3.754 s and 8.759 s (see the data README)."""
    video = shared_data / "video" / "pyscenedetect_goldeneye-vfr-drop3.mp4"
    if not video.is_file():
        pytest.skip(f"{video} not found")
    starts = [shot.start_s for shot in detect_shots(video)[1:]]
    assert starts == pytest.approx([3.754, 8.759], abs=2 / 23.976)
