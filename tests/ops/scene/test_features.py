"""Segments from real encoded files: timing, frame sampling, audio alignment and the cache."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from models.contracts import AudioContract, FrameContract
from ops.media.decode import MediaDecodeError
from ops.sample_site import media
from ops.scene import features
from ops.scene.audio import log_mel_patches, silent_patch
from ops.scene.features import (
    FEATURE_VERSION,
    Segment,
    cache_folder,
    extract_to_cache,
    iter_segments,
    load_cached,
    to_tensors,
)

FRAMES = FrameContract(frames_per_segment=2, height=32, width=32)
AUDIO = AudioContract()
RATE = 16_000
SHA = "ab" * 32
TONE_HZ = 1_000.0


def write_clip(
    path: Path,
    *,
    frame_count: int,
    fps: int = 8,
    size: tuple[int, int] = (64, 48),
    grey: Callable[[int], int] = lambda index: 10 * index,
    audio: np.ndarray | None = None,
    video_start_s: float = 0.0,
    pts: Callable[[int], int] = lambda index: index,
) -> Path:
    """An MP4 of flat grey frames (level ``grey(index)``) at ``pts(index)`` frame periods
    after ``video_start_s``, with ``audio`` (mono, 16 kHz, from t = 0) as AAC when given."""
    width, height = size
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"crf": "10"}
        sound = None
        if audio is not None:
            sound = container.add_stream("aac", rate=RATE)
            sound.layout = "mono"
        for index in range(frame_count):
            picture = np.full((height, width, 3), grey(index), dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts = pts(index) + round(video_start_s * fps)
            frame.time_base = Fraction(1, fps)
            container.mux(video.encode(frame))
        container.mux(video.encode())
        if sound is not None and audio is not None:
            for start in range(0, len(audio), 1024):
                block = audio[start : start + 1024].astype(np.float32).reshape(1, -1)
                samples = av.AudioFrame.from_ndarray(block, format="fltp", layout="mono")
                samples.sample_rate, samples.pts = RATE, start
                container.mux(sound.encode(samples))
            container.mux(sound.encode())
    return path


def tone(seconds: float, *, from_s: float = 0.0) -> np.ndarray:
    """A 1 kHz tone that starts at ``from_s`` (silence before)."""
    t = np.arange(round(seconds * RATE)) / RATE
    return np.where(t >= from_s, 0.5 * np.sin(2 * np.pi * TONE_HZ * t), 0.0)


def tone_band_level(segment: Segment) -> float:
    """Mean log-mel energy of the bands around 1 kHz."""
    import librosa

    centres = librosa.mel_frequencies(AUDIO.n_mels + 2, fmin=125, fmax=7500, htk=True)[1:-1]
    band = np.abs(centres - TONE_HZ) < 150
    return float(segment.logmel[:, band].mean())


def test_segments_have_the_contract_shapes_and_one_second_buckets(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "clip.mp4", frame_count=24, audio=tone(3.0))

    segments = list(iter_segments(clip, FRAMES, AUDIO))

    assert [(s.index, s.start_s, s.end_s) for s in segments] == [
        (0, 0.0, 1.0),
        (1, 1.0, 2.0),
        (2, 2.0, 3.0),
    ]
    for segment in segments:
        assert segment.frames.shape == (2, 32, 32, 3) and segment.frames.dtype == np.uint8
        assert segment.logmel.shape == (96, 64) and segment.logmel.dtype == np.float32
        assert segment.has_audio


def test_frames_are_the_pictures_on_screen_at_even_times_inside_each_segment(
    tmp_path: Path,
) -> None:
    # 8 fps, N = 2: targets at i + 0.25 s and i + 0.75 s show frames 8i + 2 and 8i + 6.
    clip = write_clip(tmp_path / "clip.mp4", frame_count=24, size=(96, 64))

    segments = list(iter_segments(clip, FRAMES, AUDIO))

    for segment in segments:
        levels = [float(picture.mean()) for picture in segment.frames]
        expected = [10 * (8 * segment.index + 2), 10 * (8 * segment.index + 6)]
        assert levels == pytest.approx(expected, abs=3)


@pytest.mark.parametrize(
    ("frame_count", "expected_ends"),
    [
        (21, [1.0, 2.0, 2.625]),  # a last 0.625 s is kept, clipped to the video's end
        (19, [1.0, 2.0]),  # a last 0.375 s is dropped
    ],
)
def test_the_last_partial_segment_is_kept_only_from_half_a_second(
    tmp_path: Path, frame_count: int, expected_ends: list[float]
) -> None:
    clip = write_clip(tmp_path / "clip.mp4", frame_count=frame_count)

    segments = list(iter_segments(clip, FRAMES, AUDIO))

    assert [s.end_s for s in segments] == pytest.approx(expected_ends)
    if frame_count == 21:
        # Its second target (2.75 s) lies past the end: the last frame (20) is repeated.
        assert float(segments[-1].frames[1].mean()) == pytest.approx(200, abs=3)


def test_a_gap_in_the_stream_shows_the_last_frame_until_the_next_one(tmp_path: Path) -> None:
    # Frames 0-7 cover 0-1 s, then nothing until frame 8 at 2.5 s (pts jump of 12 frames).
    clip = write_clip(tmp_path / "gap.mp4", frame_count=12, pts=lambda i: i if i < 8 else i + 12)

    segments = list(iter_segments(clip, FRAMES, AUDIO))

    assert [(s.start_s, s.end_s) for s in segments] == [(0, 1), (1, 2), (2, 3)]
    levels = [[round(float(f.mean()) / 10) for f in s.frames] for s in segments]
    assert levels == [[2, 6], [7, 7], [7, 10]]


def test_times_start_at_the_first_frame_and_the_audio_follows_them(tmp_path: Path) -> None:
    # The first picture is at 1 s on the file's clock, the audio starts at 0 and is silent
    # until 1 s: aligned to the pictures, every segment hears the tone.
    clip = write_clip(
        tmp_path / "late.mp4", frame_count=16, audio=tone(3.0, from_s=1.0), video_start_s=1.0
    )

    segments = list(iter_segments(clip, FRAMES, AUDIO))

    assert [(s.start_s, s.end_s) for s in segments] == [(0.0, 1.0), (1.0, 2.0)]
    assert float(segments[0].frames[0].mean()) == pytest.approx(20, abs=3)
    silence = float(np.log(AUDIO.log_offset))
    assert all(tone_band_level(segment) > silence + 5 for segment in segments)


def test_a_video_without_sound_gets_silent_patches_and_a_flag(tmp_path: Path) -> None:
    clip = tmp_path / "mute.mp4"
    clip.write_bytes(media.make_video(0, seconds=2.0, size=(64, 48), fps=8, with_audio=False))

    segments = list(iter_segments(clip, FRAMES, AUDIO))

    assert len(segments) == 2
    assert not any(segment.has_audio for segment in segments)
    for segment in segments:
        np.testing.assert_array_equal(segment.logmel, silent_patch(AUDIO))


def test_silence_reads_exactly_as_the_silent_patch() -> None:
    patches = log_mel_patches(np.zeros((2, RATE), dtype=np.float32), AUDIO)

    np.testing.assert_array_equal(patches, np.stack([silent_patch(AUDIO)] * 2))


def test_an_audio_only_file_is_refused_unless_frames_are_optional(tmp_path: Path) -> None:
    track = tmp_path / "track.m4a"
    track.write_bytes(media.make_music(0, genre="jazz", seconds=3.0))

    with pytest.raises(MediaDecodeError, match="no video stream"):
        list(iter_segments(track, FRAMES, AUDIO))
    segments = list(iter_segments(track, FRAMES, AUDIO, require_frames=False))

    assert len(segments) == 3
    assert all(segment.frames.shape == (0, 32, 32, 3) for segment in segments)
    assert all(segment.logmel.max() > np.log(AUDIO.log_offset) + 1 for segment in segments)
    with pytest.raises(ValueError, match="audio-only file has no frames"):
        to_tensors(segments, FRAMES)


def test_to_tensors_builds_normalised_model_batches(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "clip.mp4", frame_count=16, audio=tone(2.0))
    segments = list(iter_segments(clip, FRAMES, AUDIO))

    pixels, audio = to_tensors(segments, FRAMES)

    assert pixels.shape == (2, 2, 3, 32, 32) and pixels.dtype == torch.float32
    assert audio.shape == (2, 1, 96, 64) and audio.dtype == torch.float32
    raw = torch.from_numpy(segments[1].frames[0].astype(np.float32) / 255).permute(2, 0, 1)
    torch.testing.assert_close(pixels[1, 0], FRAMES.normalise(raw))
    FRAMES.check_frames(pixels)
    AUDIO.check_audio(audio)


def test_extract_to_cache_writes_the_segments_and_a_second_call_decodes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clip = write_clip(tmp_path / "clip.mp4", frame_count=24, audio=tone(3.0))
    expected = list(iter_segments(clip, FRAMES, AUDIO))

    folder = extract_to_cache(clip, SHA, tmp_path / "cache", FRAMES, AUDIO)

    assert folder == cache_folder(tmp_path / "cache", SHA, FRAMES, AUDIO)
    assert folder.parent.name.startswith(f"{FEATURE_VERSION}-")
    cached = load_cached(folder)
    assert isinstance(cached.frames, np.memmap) and len(cached) == 3
    assert cached.frames.shape == (3, 2, 32, 32, 3) and cached.logmel.shape == (3, 96, 64)
    np.testing.assert_array_equal(cached.times, [[0, 1], [1, 2], [2, 3]])
    np.testing.assert_array_equal(cached.frames, np.stack([s.frames for s in expected]))
    np.testing.assert_array_equal(cached.logmel, np.stack([s.logmel for s in expected]))
    assert cached.has_audio
    assert sorted(p.name for p in folder.iterdir()) == [
        "frames.npy",
        "logmel.npy",
        "meta.json",
        "times.npy",
    ]

    def no_decoding(*args: object, **kwargs: object) -> None:
        raise AssertionError("a cached file was decoded again")

    monkeypatch.setattr(features, "iter_segments", no_decoding)
    assert extract_to_cache(clip, SHA, tmp_path / "cache", FRAMES, AUDIO) == folder


def test_the_cache_spills_long_files_in_chunks_and_assembles_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(features, "CACHE_CHUNK", 2)  # 5 segments: chunks of 2, 2 and 1
    clip = write_clip(tmp_path / "clip.mp4", frame_count=40, grey=lambda i: 5 * i)

    cached = load_cached(extract_to_cache(clip, SHA, tmp_path / "cache", FRAMES, AUDIO))

    assert len(cached) == 5
    assert [round(float(f.mean()) / 5) for f in cached.frames[:, 0]] == [2, 10, 18, 26, 34]
    assert not list(cached.folder.glob("*.chunk.npy"))


def test_contracts_get_their_own_cache_folders(tmp_path: Path) -> None:
    other = FrameContract(frames_per_segment=4, height=32, width=32)

    assert cache_folder(tmp_path, SHA, FRAMES, AUDIO) != cache_folder(tmp_path, SHA, other, AUDIO)
    with pytest.raises(ValueError, match="sha256"):
        cache_folder(tmp_path, "../escape", FRAMES, AUDIO)


def test_a_clip_shorter_than_half_a_segment_caches_no_segment(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "blink.mp4", frame_count=3, audio=tone(0.375))

    cached = load_cached(extract_to_cache(clip, SHA, tmp_path / "cache", FRAMES, AUDIO))

    assert len(cached) == 0
    assert cached.frames.shape == (0, 2, 32, 32, 3) and cached.logmel.shape == (0, 96, 64)


def test_a_failed_extraction_leaves_no_cache_folder(tmp_path: Path) -> None:
    whole = write_clip(tmp_path / "whole.mp4", frame_count=24, audio=tone(3.0))
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(media.truncated_copy(whole.read_bytes(), 0.3))

    with pytest.raises(MediaDecodeError):
        extract_to_cache(broken, SHA, tmp_path / "cache", FRAMES, AUDIO)

    version_folder = cache_folder(tmp_path / "cache", SHA, FRAMES, AUDIO).parent
    assert list(version_folder.iterdir()) == []
