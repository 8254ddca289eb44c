"""Window features and the gate's signals on generated sound."""

from __future__ import annotations

import numpy as np
import pytest

from ops.genre.audio import frame_windows
from ops.genre.features import mfcc_statistics, window_features
from tests.ops.genre.synth import RATE, track


def _windows(audio: np.ndarray) -> np.ndarray:
    return frame_windows(audio, 3 * RATE, RATE * 3 // 2)


def test_every_window_gets_the_same_finite_features() -> None:
    features = window_features(_windows(track("march", 0, seconds=9.0)), RATE)
    assert features.matrix.shape == (5, 185) and len(features) == 5
    assert np.isfinite(features.matrix).all()


def test_silence_has_finite_features_and_reads_as_silent() -> None:
    features = window_features(np.zeros((2, 3 * RATE), np.float32), RATE)
    assert np.isfinite(features.matrix).all()
    assert (features.rms_db < -100).all()


def test_tonal_sound_has_a_strong_pitch_class_and_noise_has_none() -> None:
    rng = np.random.default_rng(0)
    noise = window_features(_windows(rng.normal(0, 0.1, 6 * RATE).astype(np.float32)), RATE)
    chords = window_features(_windows(track("chorale", 0)), RATE)
    assert noise.chroma_peak.max() < 0.12 < 0.3 < chords.chroma_peak.min()
    assert noise.rms_db == pytest.approx(-20, abs=0.5)  # RMS 0.1


def test_pauses_raise_the_low_energy_share() -> None:
    steady = track("flute", 0)
    gapped = steady.copy()
    for start in range(0, gapped.size, RATE // 2):
        gapped[start : start + RATE // 4] = 0  # silent half of every half second
    assert window_features(_windows(steady), RATE).low_energy.max() < 0.1
    assert window_features(_windows(gapped), RATE).low_energy.min() > 0.4


def test_the_baseline_descriptor_is_mfcc_means_and_deviations() -> None:
    descriptor = mfcc_statistics(track("flute", 0), RATE)
    assert descriptor.shape == (40,)
    assert (descriptor[20:] >= 0).all()  # the second half are standard deviations


def test_windows_too_short_for_one_frame_are_refused() -> None:
    with pytest.raises(ValueError, match="windows must be"):
        window_features(np.zeros((1, 100), np.float32), RATE)
