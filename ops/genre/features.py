"""Hand-made features of audio windows, and the whole-track MFCC statistics of the baseline.

One short-time Fourier transform per batch of windows feeds every feature, the model's
and the music gate's alike; librosa computes each one for the whole batch in one call
(per-window calls cost several times more). Every frame-level feature is summarised over
the window by its mean and standard deviation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

N_FFT = 2048
HOP_LENGTH = 512
N_MELS = 128
N_MFCC = 20
BATCH_WINDOWS = 32  # windows per feature call: fast, and a few tens of MB at most
_EPS = 1e-10


@dataclass(frozen=True)
class WindowFeatures:
    """``matrix`` (K, D): the model's features; the rest (K,) are the gate's signals:
    ``rms_db`` loudness (dBFS), ``chroma_peak`` mean share of the strongest pitch class,
    ``low_energy`` share of frames below half the window's mean RMS."""

    matrix: np.ndarray
    rms_db: np.ndarray
    chroma_peak: np.ndarray
    low_energy: np.ndarray

    def __len__(self) -> int:
        return int(self.matrix.shape[0])


def window_features(windows: np.ndarray, sample_rate: int) -> WindowFeatures:
    """Features of ``(K, samples)`` windows: MFCC with first and second deltas, chroma,
    spectral contrast, centroid, bandwidth, roll-off, flatness, zero-crossing rate, RMS,
    tonnetz, and onset strength with the tempo it implies (185 numbers per window)."""
    import librosa  # slow to import; only feature extraction needs it

    if windows.ndim != 2 or windows.shape[1] < N_FFT:
        raise ValueError(f"windows must be (K, >= {N_FFT}) samples, got shape {windows.shape}")
    samples = np.ascontiguousarray(windows, dtype=np.float32)
    magnitude = np.abs(librosa.stft(samples, n_fft=N_FFT, hop_length=HOP_LENGTH))
    power = magnitude**2
    mel_db = librosa.power_to_db(
        librosa.feature.melspectrogram(S=power, sr=sample_rate, n_mels=N_MELS)
    )
    mfcc = librosa.feature.mfcc(S=mel_db, n_mfcc=N_MFCC)
    chroma = librosa.feature.chroma_stft(S=power, sr=sample_rate, tuning=0.0)
    rms = librosa.feature.rms(S=magnitude, frame_length=N_FFT)
    onset = librosa.onset.onset_strength(S=mel_db, sr=sample_rate)
    tempo = librosa.feature.tempo(onset_envelope=onset, sr=sample_rate, hop_length=HOP_LENGTH)
    frame_level = (
        mfcc,
        librosa.feature.delta(mfcc),
        librosa.feature.delta(mfcc, order=2),
        chroma,
        librosa.feature.spectral_contrast(S=magnitude, sr=sample_rate),
        librosa.feature.spectral_centroid(S=magnitude, sr=sample_rate),
        librosa.feature.spectral_bandwidth(S=magnitude, sr=sample_rate),
        librosa.feature.spectral_rolloff(S=magnitude, sr=sample_rate),
        librosa.feature.spectral_flatness(S=magnitude),
        librosa.feature.zero_crossing_rate(samples, frame_length=N_FFT, hop_length=HOP_LENGTH),
        rms,
        librosa.feature.tonnetz(chroma=chroma, sr=sample_rate),
        onset[:, np.newaxis, :],
    )
    summaries = [_mean_and_std(values) for values in frame_level]
    summaries.append(np.log(np.maximum(tempo.reshape(len(samples), -1), 1.0)))
    level = rms[:, 0, :]
    chroma_share = chroma / np.maximum(chroma.sum(axis=1, keepdims=True), _EPS)
    return WindowFeatures(
        matrix=np.concatenate(summaries, axis=1).astype(np.float32),
        rms_db=20 * np.log10(np.sqrt(np.mean(samples.astype(np.float64) ** 2, axis=1)) + _EPS),
        chroma_peak=chroma_share.max(axis=1).mean(axis=1),
        low_energy=(level < 0.5 * level.mean(axis=1, keepdims=True)).mean(axis=1),
    )


def mfcc_statistics(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """The baseline's track descriptor: mean and standard deviation of 20 MFCCs over the
    whole track (40 numbers)."""
    import librosa

    mfcc = librosa.feature.mfcc(
        y=np.ascontiguousarray(audio, dtype=np.float32), sr=sample_rate, n_mfcc=N_MFCC
    )
    return _mean_and_std(mfcc[np.newaxis])[0]


def _mean_and_std(values: np.ndarray) -> np.ndarray:
    """``(K, d, frames)`` -> ``(K, 2d)``: mean then standard deviation over frames."""
    return np.concatenate([values.mean(axis=-1), values.std(axis=-1)], axis=-1)
