"""Music mood: generated pieces land where the cues put them; unreadable tracks are skipped."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile

from ops.mood.music import (
    MusicMoodError,
    MusicMoodSettings,
    analyse_tracks,
    estimate_key,
    music_mood,
)

RATE = 22_050


def _wav(path: Path, samples: np.ndarray, rate: int) -> Path:
    soundfile.write(path, samples, rate, subtype="PCM_16")
    return path


def _piece(
    midi_notes: list[list[int]], beat_s: float, amplitude: float, partials: int, seconds: float
) -> np.ndarray:
    """Chords (lists of MIDI notes) in turn, one per beat, each with a short attack and decay."""
    beat = round(beat_s * RATE)
    t = np.arange(beat) / RATE
    envelope = np.minimum(1.0, t / 0.01) * np.exp(-2.0 * t / beat_s)
    blocks = []
    for index in range(round(seconds / beat_s)):
        chord = midi_notes[index % len(midi_notes)]
        tone = sum(
            np.sin(2 * np.pi * 440.0 * 2 ** ((note - 69) / 12) * k * t) / k
            for note in chord
            for k in range(1, partials + 1)
        )
        blocks.append(tone * envelope)
    piece = np.concatenate(blocks)
    return amplitude * piece / np.abs(piece).max()


C_MAJOR = [[60, 64, 67, 72], [65, 69, 72, 77], [67, 71, 74, 79], [60, 64, 67, 84]]
A_MINOR = [[45, 48, 52], [45, 52, 57], [50, 53, 57], [45, 48, 52]]


@pytest.fixture
def bright_major(tmp_path: Path) -> Path:
    return _wav(tmp_path / "major.wav", _piece(C_MAJOR, 60 / 160, 0.9, 8, 12.0), RATE)


@pytest.fixture
def dark_minor(tmp_path: Path) -> Path:
    return _wav(tmp_path / "minor.wav", _piece(A_MINOR, 60 / 60, 0.05, 1, 12.0), RATE)


def test_a_fast_loud_bright_major_piece_is_pleasant_and_aroused(bright_major: Path) -> None:
    mood = music_mood(bright_major)
    assert mood.key == "C major" and mood.mode == "major" and mood.mode_clarity > 0
    assert mood.valence > 0.3 and mood.arousal > 0.3
    assert mood.mood in ("joyful", "excited")
    assert mood.tempo_bpm > 120
    assert mood.track_id == "major.wav" and mood.seconds == pytest.approx(12.0, abs=0.05)


def test_a_slow_soft_dark_minor_piece_is_unpleasant_and_unaroused(dark_minor: Path) -> None:
    mood = music_mood(dark_minor, track_id="t-1")
    assert mood.key == "A minor" and mood.mode == "minor" and mood.mode_clarity < 0
    assert mood.valence < -0.3 and mood.arousal < -0.3
    assert mood.mood in ("sad", "gloomy", "calm")
    assert mood.loudness_db < -30
    assert mood.track_id == "t-1"


def test_the_key_follows_the_krumhansl_profiles() -> None:
    e_minor = np.zeros(12)
    e_minor[[4, 7, 11]] = 1.0  # E, G, B
    e_minor[[6, 9, 0, 2]] = 0.4
    assert estimate_key(e_minor)[:2] == (4, "minor")
    with pytest.raises(MusicMoodError, match="flat"):
        estimate_key(np.ones(12))


def test_weights_are_settings(bright_major: Path) -> None:
    calm = MusicMoodSettings(arousal_weights=(0.0, 0.0, 0.0))
    assert music_mood(bright_major, settings=calm).arousal == 0.0
    assert music_mood(bright_major, settings=calm).mood == "joyful"


def test_unreadable_silent_and_short_tracks_are_skipped_with_a_reason(
    bright_major: Path, tmp_path: Path
) -> None:
    silent = _wav(tmp_path / "silent.wav", np.zeros(5 * RATE), RATE)
    short = _wav(tmp_path / "short.wav", _piece(C_MAJOR, 0.3, 0.5, 3, 1.2), RATE)
    broken = tmp_path / "broken.ogg"
    broken.write_bytes(b"OggS but not really")
    result = analyse_tracks(
        [("good", bright_major), ("silent", silent), ("short", short), ("broken", broken)]
    )
    assert [track.track_id for track in result.tracks] == ["good"]
    assert set(result.skipped) == {"silent", "short", "broken"}
    assert "silent" in result.skipped["silent"]
    assert "at least 3 s needed" in result.skipped["short"]
    assert "broken.ogg" in result.skipped["broken"]


def test_real_recordings_major_ragtime_and_minor_dance(shared_data: Path) -> None:
    examples = shared_data / "music" / "librosa_examples"
    settings = MusicMoodSettings(max_seconds=30)
    ragtime = music_mood(
        examples / "ragtime" / "lena-orsa_pistachio-ice-cream-ragtime.hq.ogg", settings=settings
    )
    assert ragtime.mode == "major" and ragtime.valence > 0
    # the whole dance (46 s): its opening half-minute is less clearly minor
    brahms = music_mood(examples / "classical" / "Brahms_Hungarian_Dance_5_string_orchestra.hq.ogg")
    assert brahms.mode == "minor" and brahms.valence < 0 and brahms.arousal > 0
    assert brahms.mood in ("tense", "angry")
