"""Generated audio for the genre tests: three made-up genres, speech-like babble, noise.

Each genre has its own sound and rhythm, so a working model separates them, and every
track differs (key, tempo, seed), so tracks are not copies of each other:
- ``chorale``: sustained four-voice chords with harmonics, a new chord every second;
- ``march``: a kick on every beat, hi-hat noise between, a plucked bass, 120-140 BPM;
- ``flute``: one fast breathy melody line with vibrato, eight notes a second.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile

RATE = 22_050
GENRES = ("chorale", "march", "flute")


def _tone(freq: float, seconds: float, harmonics: int = 4, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return np.sum([np.sin(2 * np.pi * freq * k * t) / k for k in range(1, harmonics + 1)], axis=0)


def track(genre: str, seed: int, seconds: float = 6.0, rate: int = RATE) -> np.ndarray:
    """``seconds`` of one made-up genre, float32 mono in [-1, 1]."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    out = np.zeros(n)
    root = 110 * 2 ** (rng.integers(0, 12) / 12)
    if genre == "chorale":
        for start in range(0, n, rate):
            chord = rng.choice([(0, 4, 7, 12), (5, 9, 12, 17), (7, 11, 14, 19)])
            length = min(rate, n - start)
            note = sum(_tone(root * 2 ** (s / 12), length / rate, rate=rate) for s in chord)
            out[start : start + length] += note * np.hanning(length) ** 0.3
    elif genre == "march":
        beat = int(rate * 60 / rng.uniform(120, 140))
        for start in range(0, n - beat, beat):
            t = np.arange(beat) / rate
            kick = np.sin(2 * np.pi * 60 * t) * np.exp(-t * 30)
            hat = rng.normal(0, 0.3, beat) * np.exp(-((t - t[-1] / 2).clip(0)) * 60)
            hat[: beat // 2] = 0
            bass = _tone(root / 2 * rng.choice([1, 1.5, 2]), beat / rate, rate=rate)
            out[start : start + beat] += kick + hat + 0.4 * bass * np.exp(-t * 2)
    elif genre == "flute":
        step = rate // 8
        scale = (0, 2, 4, 5, 7, 9, 11, 12)
        for start in range(0, n - step, step):
            t = np.arange(step) / rate
            freq = 2 * root * 2 ** (rng.choice(scale) / 12) * (1 + 0.01 * np.sin(2 * np.pi * 6 * t))
            phase = 2 * np.pi * np.cumsum(freq) / rate
            out[start : start + step] += (
                np.sin(phase) + 0.05 * rng.normal(size=step)
            ) * np.hanning(step) ** 0.2
    else:
        raise ValueError(genre)
    return (0.5 * out / np.abs(out).max()).astype(np.float32)


def babble(seed: int, seconds: float = 9.0, rate: int = RATE) -> np.ndarray:
    """Speech-like sound: a voiced buzz whose pitch glides, shaped by formants that change
    every syllable, syllables of 120-250 ms with short gaps and longer pauses."""
    from scipy.signal import lfilter

    rng = np.random.default_rng(seed)
    out = np.zeros(int(seconds * rate))
    position = int(0.2 * rate)
    while position < out.size - rate // 2:
        for _syllable in range(rng.integers(2, 6)):
            length = int(rate * rng.uniform(0.12, 0.25))
            t = np.arange(length) / rate
            pitch = rng.uniform(100, 160) * (1 - 0.3 * t / t[-1])
            pulses = (np.diff(np.floor(np.cumsum(pitch) / rate), prepend=0) > 0).astype(float)
            voiced = pulses + 0.02 * rng.normal(size=length)
            for formant in (rng.uniform(300, 800), rng.uniform(900, 2200), rng.uniform(2400, 3000)):
                radius = np.exp(-np.pi * 100 / rate)
                theta = 2 * np.pi * formant / rate
                voiced = lfilter([1.0], [1, -2 * radius * np.cos(theta), radius**2], voiced)
            end = min(position + length, out.size)
            out[position:end] += (voiced * np.hanning(length))[: end - position]
            position = end + int(rate * rng.uniform(0.03, 0.08))
        position += int(rate * rng.uniform(0.3, 0.6))
    return (0.5 * out / np.abs(out).max()).astype(np.float32)


def write(path: Path, audio: np.ndarray, rate: int = RATE) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, audio, rate)
    return path


def genre_folder(root: Path, tracks_per_genre: int, first_seed: int) -> Path:
    """A folder of genre sub-folders holding generated WAV tracks."""
    for number, genre in enumerate(GENRES):
        for k in range(tracks_per_genre):
            seed = first_seed + 100 * number + k
            write(root / genre / f"{genre}-{k}.wav", track(genre, seed))
    return root
