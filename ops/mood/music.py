"""A track's place on the mood circle, from four acoustic cues, and no trained model.

The cues and their directions are the robust findings of music-emotion research
(Gabrielsson & Lindström, "The role of structure in the musical expression of
emotions", 2010; Eerola & Vuoskoski's review, 2013): fast tempo, loudness and a bright
timbre raise arousal; the major mode, and to a lesser degree fast tempo and brightness,
raise valence, while the minor mode lowers it. Measured with librosa:

- tempo: the onset envelope's autocorrelation tempo (``librosa.feature.tempo``), bpm;
- mode: the mean constant-Q chromagram correlated with Krumhansl & Kessler's major and
  minor key profiles (1982) in all twelve keys; the best key names the track's key, and
  the gap between the best major and best minor correlation is how clearly it is major
  (positive) or minor (negative);
- energy: loudness in dBFS of the mean RMS;
- brightness: the spectral centroid in Hz, averaged with loud frames weighing more.

Each cue becomes a term in [-1, 1] (its distance from a centre, divided by a span, then
clipped; brightness in octaves), and

    arousal = 0.40 tempo + 0.35 energy + 0.25 brightness
    valence = 0.60 mode + 0.25 tempo + 0.15 brightness

(the weights and centres are :class:`MusicMoodSettings`). The track's mood is the octant
of ``(valence, arousal)`` (:func:`ops.mood.circle.mood_at`); so a fast, loud piece in a
minor key lands on tense or angry, a slow, soft one in minor on gloomy or sad, and a
quick major one on excited or joyful.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from tqdm import tqdm

from ops.media.decode import MediaDecodeError
from ops.mood.circle import Mood, mood_at, point_angle
from ops.scene.audio import iter_windows

KEY_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
"""Krumhansl & Kessler's probe-tone ratings of the 12 pitch classes in C major / C minor."""

Term = tuple[float, float, float]


class MusicMoodError(ValueError):
    """A track whose mood cannot be measured (too short, silent, no audio)."""


class MusicMoodSettings(BaseModel):
    """Where each cue is neutral, how far it goes to full strength, and how cues combine."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sample_rate: int = Field(default=22_050, gt=0)
    max_seconds: float = Field(default=120.0, gt=0, description="analyse this much at most")
    min_seconds: float = Field(default=3.0, gt=0, description="shorter tracks are refused")
    tempo_centre_bpm: float = Field(default=110.0, gt=0)
    tempo_span_bpm: float = Field(default=40.0, gt=0)
    loudness_centre_db: float = Field(default=-20.0)
    loudness_span_db: float = Field(default=8.0, gt=0)
    brightness_centre_hz: float = Field(default=1500.0, gt=0)
    brightness_span_octaves: float = Field(default=1.0, gt=0)
    mode_span: float = Field(
        default=0.1, gt=0, description="major-minor correlation gap that counts as fully clear"
    )
    arousal_weights: Term = Field(
        default=(0.40, 0.35, 0.25), description="(tempo, energy, brightness)"
    )
    valence_weights: Term = Field(
        default=(0.60, 0.25, 0.15), description="(mode, tempo, brightness)"
    )


class TrackMood(BaseModel):
    """One track's cues, its point on the circle and its mood."""

    model_config = ConfigDict(frozen=True)

    track_id: str
    path: Path
    mood: Mood
    valence: float
    arousal: float
    angle_deg: float
    strength: float = Field(description="distance from the neutral centre, 0 to about 1.4")
    tempo_bpm: float
    key: str
    mode: Literal["major", "minor"]
    mode_clarity: float = Field(description="best major minus best minor key correlation")
    loudness_db: float
    brightness_hz: float
    seconds: float


class AnalysedTracks(BaseModel):
    """Moods of the tracks that could be measured, and the others with their reason."""

    model_config = ConfigDict(frozen=True)

    tracks: tuple[TrackMood, ...]
    skipped: dict[str, str]


def load_track(path: Path, settings: MusicMoodSettings) -> np.ndarray:
    """Up to ``max_seconds`` of the track as mono float32 at ``sample_rate`` (decoded by FFmpeg)."""
    limit = round(settings.max_seconds * settings.sample_rate)
    blocks: list[np.ndarray] = []
    gathered = 0
    for block in iter_windows(path, sample_rate=settings.sample_rate, window=settings.sample_rate):
        blocks.append(block)
        gathered += block.size
        if gathered >= limit:
            break
    if not blocks:
        raise MusicMoodError(f"{path}: no audio stream")
    return np.concatenate(blocks)[:limit]


def music_mood(
    path: Path, *, track_id: str | None = None, settings: MusicMoodSettings | None = None
) -> TrackMood:
    """Measure the track's cues and place it on the mood circle."""
    settings = settings or MusicMoodSettings()
    samples = load_track(path, settings)
    return samples_mood(samples, path=path, track_id=track_id or path.name, settings=settings)


def samples_mood(
    samples: np.ndarray, *, path: Path, track_id: str, settings: MusicMoodSettings
) -> TrackMood:
    """:func:`music_mood` for samples already decoded (mono, ``settings.sample_rate``)."""
    import librosa  # slow to import; only music analysis needs it

    rate = settings.sample_rate
    seconds = samples.size / rate
    if seconds < settings.min_seconds:
        raise MusicMoodError(
            f"{path}: {seconds:.1f} s of audio, at least {settings.min_seconds:g} s needed"
        )
    rms = librosa.feature.rms(y=samples)[0]
    if float(rms.max(initial=0.0)) < 1e-4:
        raise MusicMoodError(f"{path}: silent (peak RMS below -80 dBFS)")
    onsets = librosa.onset.onset_strength(y=samples, sr=rate)
    tempo = float(librosa.feature.tempo(onset_envelope=onsets, sr=rate)[0])
    chroma = librosa.feature.chroma_cqt(y=samples, sr=rate).mean(axis=1)
    tonic, mode, clarity = estimate_key(chroma)
    centroid = librosa.feature.spectral_centroid(y=samples, sr=rate)[0]
    frames = min(centroid.size, rms.size)
    brightness = float(np.average(centroid[:frames], weights=rms[:frames] + 1e-9))
    loudness = float(20 * np.log10(rms.mean() + 1e-12))

    tempo_term = _term(tempo - settings.tempo_centre_bpm, settings.tempo_span_bpm)
    energy_term = _term(loudness - settings.loudness_centre_db, settings.loudness_span_db)
    bright_term = _term(
        math.log2(max(brightness, 1.0) / settings.brightness_centre_hz),
        settings.brightness_span_octaves,
    )
    mode_term = _term(clarity, settings.mode_span)
    arousal = float(np.dot(settings.arousal_weights, (tempo_term, energy_term, bright_term)))
    valence = float(np.dot(settings.valence_weights, (mode_term, tempo_term, bright_term)))
    return TrackMood(
        track_id=track_id,
        path=path,
        mood=mood_at(valence, arousal),
        valence=round(valence, 4),
        arousal=round(arousal, 4),
        angle_deg=round(point_angle(valence, arousal), 2),
        strength=round(math.hypot(valence, arousal), 4),
        tempo_bpm=round(tempo, 1),
        key=f"{KEY_NAMES[tonic]} {mode}",
        mode=mode,
        mode_clarity=round(clarity, 4),
        loudness_db=round(loudness, 2),
        brightness_hz=round(brightness, 1),
        seconds=round(seconds, 2),
    )


def estimate_key(chroma: np.ndarray) -> tuple[int, Literal["major", "minor"], float]:
    """(tonic pitch class, mode, major-minus-minor clarity) of a 12-bin mean chroma vector,
    by correlation with Krumhansl & Kessler's profiles in every key."""
    if chroma.shape != (12,) or not np.ptp(chroma):
        raise MusicMoodError("the chromagram is flat: no pitch content to find a key in")
    major = np.array([np.corrcoef(chroma, np.roll(MAJOR_PROFILE, k))[0, 1] for k in range(12)])
    minor = np.array([np.corrcoef(chroma, np.roll(MINOR_PROFILE, k))[0, 1] for k in range(12)])
    clarity = float(major.max() - minor.max())
    if clarity >= 0:
        return int(major.argmax()), "major", clarity
    return int(minor.argmax()), "minor", clarity


def analyse_tracks(
    tracks: Sequence[tuple[str, Path]], settings: MusicMoodSettings | None = None
) -> AnalysedTracks:
    """Moods of ``(track_id, path)`` tracks; one that cannot be read is skipped with its reason."""
    settings = settings or MusicMoodSettings()
    found: list[TrackMood] = []
    skipped: dict[str, str] = {}
    for track_id, path in tqdm(tracks, desc="music mood", unit="track", leave=False):
        try:
            found.append(music_mood(path, track_id=track_id, settings=settings))
        except (MediaDecodeError, MusicMoodError) as error:
            skipped[track_id] = str(error)
    return AnalysedTracks(tracks=tuple(found), skipped=skipped)


def _term(offset: float, span: float) -> float:
    return float(np.clip(offset / span, -1.0, 1.0))
