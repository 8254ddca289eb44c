"""Reading a mood video back to prove it is what was asked for.

It decodes the file as any viewer would and measures: the duration and frame count; the
picture's fade (each frame's mean brightness) against the sound's (the audio's RMS over
each frame's time), both divided by their maximum within each picture's share so that a
dark picture or a quiet passage does not count as a fade; the times of the fade minima
at every join, located to a fraction of a frame in both, which must agree within one
frame; and the largest jump between two consecutive audio samples, which a gap or a
click would show. Music with strong dynamics of its own lowers the correlation; a steady
tone gives nearly 1.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ops.media.decode import iter_frames, open_container, open_video
from ops.mood.render import RenderedVideo
from ops.scene.audio import iter_windows

PROBE_SIZE = (64, 36)
"""Frames are read this small: a mean brightness needs no more pixels."""
FINE_HOP_S = 0.005
"""The audio envelope is read every 5 ms to place its minima well inside one frame."""


class CheckLimits(BaseModel):
    """What a mood video must meet to pass."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_correlation: float = Field(default=0.8, ge=-1, le=1)
    max_sync_frames: float = Field(default=1.0, ge=0)
    max_jump: float = Field(
        default=0.25, gt=0, description="largest step between consecutive samples (full scale 1)"
    )


class VideoCheck(BaseModel):
    """What reading a mood video back found; ``problems`` is empty when it passes."""

    model_config = ConfigDict(frozen=True)

    path: Path
    duration_s: float
    audio_duration_s: float
    frames: int
    expected_frames: int
    fps: float
    correlation: float
    lag_frames: int
    video_minima_s: tuple[float, ...]
    audio_minima_s: tuple[float, ...]
    max_sync_offset_frames: float
    max_jump: float
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def check_render(rendered: RenderedVideo, limits: CheckLimits | None = None) -> VideoCheck:
    """Check a render against what it was asked to be."""
    return check_video(
        rendered.path,
        duration_s=rendered.duration_s,
        segments=len(rendered.images),
        limits=limits,
    )


def check_video(
    path: Path, *, duration_s: float, segments: int, limits: CheckLimits | None = None
) -> VideoCheck:
    """Read ``path`` back and check it as a ``duration_s`` video of ``segments`` pictures."""
    limits = limits or CheckLimits()
    info = open_video(path)
    fps = float(info.fps or info.nominal_fps or 0)
    if fps <= 0:
        raise ValueError(f"{path}: the video stream has no frame rate")
    width, height = PROBE_SIZE
    brightness = np.array(
        [
            frame.image.mean()
            for frame in iter_frames(path, width=width, height=height, pix_fmt="gray")
        ]
    )
    rate, sound = _audio(path, info.start_time_s)
    frames = brightness.size
    expected = round(duration_s * fps)
    segment_s = duration_s / segments
    centres = (np.arange(frames) + 0.5) / fps
    edges = np.round(np.arange(frames + 1) * rate / fps).astype(int)
    loudness = np.array([_rms(sound[start:end]) for start, end in itertools.pairwise(edges)])

    picture = _per_share(brightness, centres, segment_s)
    volume = _per_share(loudness, centres, segment_s)
    correlation = float(np.corrcoef(picture, volume)[0, 1]) if frames > 2 else float("nan")
    lag = _best_lag(picture, volume, max_lag=min(frames - 1, 2 * round(fps)))

    hop = max(1, round(FINE_HOP_S * rate))
    fine_starts = np.arange(0, max(sound.size - hop + 1, 1), hop)
    fine = np.array([_rms(sound[start : start + hop]) for start in fine_starts])
    fine_times = (fine_starts + hop / 2) / rate
    fine_volume = _per_share(fine, fine_times, segment_s)
    joins = [index * segment_s for index in range(1, segments)]
    video_minima = tuple(_minimum(picture, centres, join, segment_s / 2) for join in joins)
    audio_minima = tuple(_minimum(fine_volume, fine_times, join, segment_s / 2) for join in joins)
    offsets = [abs(v - a) * fps for v, a in zip(video_minima, audio_minima, strict=True)]
    max_offset = max(offsets, default=abs(lag))
    jump = float(np.abs(np.diff(sound)).max(initial=0.0))

    audio_duration = sound.size / rate
    problems = []
    if frames != expected:
        problems.append(f"{frames} frames decoded, {expected} expected")
    if info.duration_s is not None and abs(info.duration_s - duration_s) > 1 / fps:
        problems.append(f"video lasts {info.duration_s:.3f} s, {duration_s:.3f} s expected")
    if abs(audio_duration - duration_s) > 1 / fps:
        problems.append(f"audio lasts {audio_duration:.3f} s, {duration_s:.3f} s expected")
    if not correlation >= limits.min_correlation:
        problems.append(
            f"picture and sound fades correlate at {correlation:.3f}, "
            f"below {limits.min_correlation}"
        )
    if max_offset > limits.max_sync_frames or abs(lag) > limits.max_sync_frames:
        problems.append(
            f"fades out of sync: minima {max_offset:.2f} frames apart, best lag {lag} frames"
        )
    if jump > limits.max_jump:
        problems.append(f"a jump of {jump:.3f} between consecutive samples (a click)")
    return VideoCheck(
        path=path,
        duration_s=round(info.duration_s or frames / fps, 4),
        audio_duration_s=round(audio_duration, 4),
        frames=frames,
        expected_frames=expected,
        fps=fps,
        correlation=round(correlation, 4),
        lag_frames=lag,
        video_minima_s=tuple(round(t, 4) for t in video_minima),
        audio_minima_s=tuple(round(t, 4) for t in audio_minima),
        max_sync_offset_frames=round(max_offset, 3),
        max_jump=round(jump, 5),
        problems=tuple(problems),
    )


def _audio(path: Path, origin_s: float) -> tuple[int, np.ndarray]:
    """The first audio stream as mono samples from the first video frame on, at its own
    rate, cut to the stream's stated duration (an AAC encoder pads its last block)."""
    with open_container(path) as container:
        if not container.streams.audio:
            raise ValueError(f"{path}: no audio stream")
        stream = container.streams.audio[0]
        rate = int(stream.rate)
        stated = float(stream.duration * stream.time_base) if stream.duration else None
    windows = list(iter_windows(path, sample_rate=rate, window=rate, origin_s=origin_s))
    sound = np.concatenate(windows) if windows else np.zeros(0, dtype=np.float32)
    if stated is not None:
        sound = sound[: round(stated * rate)]
    return rate, sound


def _rms(block: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(block, dtype=np.float64)))) if block.size else 0.0


def _per_share(values: np.ndarray, times: np.ndarray, segment_s: float) -> np.ndarray:
    """``values`` divided by their maximum within each picture's share of the video."""
    shares = (times // segment_s).astype(int)
    scaled = values.astype(np.float64)
    for share in np.unique(shares):
        inside = shares == share
        peak = scaled[inside].max()
        if peak > 0:
            scaled[inside] /= peak
    return scaled


def _best_lag(first: np.ndarray, second: np.ndarray, max_lag: int) -> int:
    """The shift of ``second`` (in samples of the envelopes) that best matches ``first``."""
    a, b = first - first.mean(), second - second.mean()
    scores = {
        lag: float(
            np.dot(a[max(lag, 0) : a.size + min(lag, 0)], b[max(-lag, 0) : b.size - max(lag, 0)])
        )
        for lag in range(-max_lag, max_lag + 1)
    }
    return max(scores, key=lambda lag: (scores[lag], -abs(lag)))


def _minimum(values: np.ndarray, times: np.ndarray, around: float, reach: float) -> float:
    """The time of the lowest point within ``reach`` of ``around``, refined by a parabola
    through it and its two neighbours (the fade's bottom is quadratic)."""
    inside = np.flatnonzero(np.abs(times - around) <= reach)
    index = int(inside[np.argmin(values[inside])])
    if 0 < index < values.size - 1:
        left, middle, right = values[index - 1 : index + 2]
        curvature = left - 2 * middle + right
        if curvature > 0:
            step = times[index + 1] - times[index]
            return float(times[index] + 0.5 * (left - right) / curvature * step)
    return float(times[index])
