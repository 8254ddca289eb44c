"""The mood video read back: length, frames, fades that move together, in sync, no clicks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile
from PIL import Image

import ops.mood.render as render
from ops.media.decode import MediaDecodeError, iter_frames, open_video
from ops.mood.check import check_render, check_video
from ops.mood.render import (
    RenderedVideo,
    RenderError,
    RenderSettings,
    fade_envelope,
    render_mood_video,
)
from ops.mood.standins import standin_image
from ops.sample_site.media import AUDIO_SAMPLE_RATE, mux

SMALL = RenderSettings(width=320, height=180, fps=25, fade_s=0.4, sample_rate=44_100)
RATE = 44_100


def _wav(path: Path, samples: np.ndarray, rate: int) -> Path:
    soundfile.write(path, samples, rate, subtype="PCM_16")
    return path


def tone(seconds: float, frequency: float = 440.0, amplitude: float = 0.5) -> np.ndarray:
    return amplitude * np.sin(2 * np.pi * frequency * np.arange(round(seconds * RATE)) / RATE)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], Path]:
    """Three stand-ins (landscape, portrait, square) and a 3.5-s tone."""
    folder = tmp_path_factory.mktemp("inputs")
    sizes = ((160, 120), (90, 160), (120, 120))
    pictures = []
    for index, (mood, size) in enumerate(zip(("joyful", "tense", "serene"), sizes, strict=True)):
        path = folder / f"{index}-{mood}.png"
        Image.fromarray(standin_image(mood, index, size=size)).save(path)
        pictures.append(path)
    return pictures, _wav(folder / "tone.wav", tone(3.5), RATE)


@pytest.fixture(scope="module")
def rendered(
    inputs: tuple[list[Path], Path], tmp_path_factory: pytest.TempPathFactory
) -> RenderedVideo:
    pictures, track = inputs
    target = tmp_path_factory.mktemp("out") / "mood.mp4"
    return render_mood_video(pictures, track, target, duration_s=3.0, settings=SMALL)


def test_the_envelope_is_zero_at_joins_one_between_and_smooth() -> None:
    times = np.linspace(0, 3, 30_001)
    envelope = fade_envelope(times, segment_s=1.0, fade_s=0.25)
    assert envelope[[0, 10_000, 20_000, 30_000]] == pytest.approx(0.0)
    assert envelope[5_000] == 1.0 and envelope.min() >= 0 and envelope.max() <= 1
    assert np.abs(np.diff(envelope)).max() < 1e-3  # continuous
    assert np.abs(np.diff(envelope, 2)).max() < 1e-6  # and without corners
    assert np.array_equal(fade_envelope(times, 1.0, 0.0), np.ones_like(times))


def test_the_video_reads_back_as_asked(rendered: RenderedVideo) -> None:
    info = open_video(rendered.path)
    assert (info.codec, info.width, info.height, float(info.fps or 0)) == ("h264", 320, 180, 25.0)
    assert rendered.frames == 75 and rendered.segment_s == 1.0 and rendered.fade_s == 0.4
    assert not rendered.looped and rendered.music_seconds == 3.0
    check = check_render(rendered)
    assert check.problems == ()
    assert check.frames == check.expected_frames == 75
    assert check.duration_s == pytest.approx(3.0, abs=0.04)
    assert check.audio_duration_s == pytest.approx(3.0, abs=0.04)
    assert check.correlation > 0.8
    assert check.lag_frames == 0 and check.max_sync_offset_frames < 1.0
    assert check.video_minima_s == pytest.approx((1.0, 2.0), abs=0.04)
    assert check.audio_minima_s == pytest.approx((1.0, 2.0), abs=0.04)
    # a 440 Hz tone at 0.5 moves at most 0.031 per sample; a click would be ~0.5
    assert check.max_jump < 0.05


def test_pictures_fade_through_black_and_are_letterboxed(rendered: RenderedVideo) -> None:
    frames = {
        frame.index: frame.image
        for frame in iter_frames(rendered.path, pix_fmt="gray", indices={0, 12, 24, 37})
    }
    assert frames[0].mean() < 0.1 * frames[12].mean()  # fading in
    assert frames[24].mean() < 0.1 * frames[12].mean()  # fading out at the first join
    portrait = frames[37]  # the middle of the portrait picture's share
    assert portrait[:, :40].max() < 30 and portrait[:, -40:].max() < 30  # black bars
    assert portrait[:, 150:170].mean() > 40


def test_crop_fills_the_frame(inputs: tuple[list[Path], Path], tmp_path: Path) -> None:
    pictures, track = inputs
    settings = SMALL.model_copy(update={"fit": "crop"})
    result = render_mood_video(
        pictures[1:2], track, tmp_path / "crop.mp4", duration_s=1.0, settings=settings
    )
    middle = next(iter_frames(result.path, pix_fmt="gray", indices={12})).image
    assert middle[:, :40].mean() > 30 and middle[:, -40:].mean() > 30


def test_short_music_loops_without_a_click(inputs: tuple[list[Path], Path], tmp_path: Path) -> None:
    pictures, _ = inputs
    short = _wav(tmp_path / "short.wav", tone(0.73, frequency=330.0), RATE)  # not whole periods
    result = render_mood_video(
        pictures[:2], short, tmp_path / "loop.mp4", duration_s=2.0, settings=SMALL
    )
    assert result.looped and result.music_seconds == pytest.approx(0.73)
    check = check_render(result)
    assert check.problems == ()
    assert check.max_jump < 0.05


def test_unreadable_pictures_are_skipped_with_their_reason(
    inputs: tuple[list[Path], Path], tmp_path: Path
) -> None:
    pictures, track = inputs
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not a picture")
    result = render_mood_video(
        [pictures[0], broken], track, tmp_path / "one.mp4", duration_s=1.0, settings=SMALL
    )
    assert result.images == (pictures[0],) and result.segment_s == 1.0
    assert "not a readable picture" in result.skipped[str(broken)]
    with pytest.raises(RenderError, match="none of the 1 picture"):
        render_mood_video([broken], track, tmp_path / "none.mp4", duration_s=1.0, settings=SMALL)
    with pytest.raises(MediaDecodeError, match="no such file"):
        render_mood_video(pictures, tmp_path / "absent.wav", tmp_path / "x.mp4", duration_s=1.0)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["broken.jpg", "one.mp4"]


def test_a_failed_render_leaves_no_partial_file_and_the_old_one_intact(
    inputs: tuple[list[Path], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pictures, track = inputs
    target = tmp_path / "mood.mp4"
    target.write_bytes(b"the previous video")
    calls = 0
    faded = render._faded

    def failing(planes: np.ndarray, black: np.ndarray, level: float) -> np.ndarray:
        nonlocal calls
        calls += 1
        if calls == 30:
            raise RuntimeError("disk full")
        return faded(planes, black, level)

    monkeypatch.setattr(render, "_faded", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        render_mood_video(pictures, track, target, duration_s=3.0, settings=SMALL)
    assert calls == 30
    assert [path.name for path in tmp_path.iterdir()] == ["mood.mp4"]
    assert target.read_bytes() == b"the previous video"


def test_the_checker_catches_fades_out_of_sync_and_clicks(tmp_path: Path) -> None:
    """A hand-made video whose sound fades 4 frames late and holds a hard step."""
    fps, rate, width, height = 12, AUDIO_SAMPLE_RATE, 64, 48
    centres = (np.arange(2 * fps) + 0.5) / fps
    frames = [
        np.full((height, width, 3), round(200 * level), np.uint8)
        for level in fade_envelope(centres, 1.0, 0.4)
    ]
    times = np.arange(2 * rate) / rate
    audio = 0.5 * np.sin(2 * np.pi * 440 * times) * fade_envelope(times - 4 / fps, 1.0, 0.4)
    audio[rate // 4 : rate // 4 + rate // 10] += 0.4  # steps up and down: clicks
    path = tmp_path / "bad.mp4"
    path.write_bytes(mux("mp4", frames, size=(width, height), fps=fps, audio=audio))
    check = check_video(path, duration_s=2.0, segments=2)
    assert not check.ok
    assert any("out of sync" in problem for problem in check.problems)
    assert any("click" in problem for problem in check.problems)
    assert check.max_sync_offset_frames == pytest.approx(4, abs=0.5)


def test_a_duration_between_frames_keeps_all_its_sound(
    inputs: tuple[list[Path], Path], tmp_path: Path
) -> None:
    pictures, track = inputs
    result = render_mood_video(
        pictures[:1], track, tmp_path / "odd.mp4", duration_s=1.01, settings=SMALL
    )
    assert result.frames == 25 and result.audio_samples == round(1.01 * RATE)
    check = check_render(result)
    assert check.audio_duration_s == pytest.approx(1.01, abs=0.001)
    assert check.problems == ()
