"""Speech synthesised with espeak-ng for the speech tests and benchmark, between stretches
of silence, so where the words are is known to the sample.

The English default is espeak-ng's Klatt voice at 170 words a minute: of the voices and
speeds tried on six sentences, the one the US English recogniser read best (word error
rate 0.13, against 0.45-0.95 for the default voice and others).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile

ESPEAK = "espeak-ng"
RATE = 22_050  # espeak-ng's output rate


@dataclass(frozen=True)
class Spoken:
    """A synthesised file and when its voice starts and ends (seconds)."""

    path: Path
    text: str
    start_s: float
    end_s: float


def espeak_missing() -> str | None:
    """Why speech cannot be synthesised here, or None."""
    if shutil.which(ESPEAK) is None:
        return f"{ESPEAK} is not installed (apt-get install espeak-ng)"
    return None


def require_espeak() -> None:
    reason = espeak_missing()
    if reason:
        pytest.skip(reason)


ENGLISH_VOICE = "en-us+klatt"
ENGLISH_SPEED = 170


def voice(text: str, *, name: str = ENGLISH_VOICE, speed: int = ENGLISH_SPEED) -> np.ndarray:
    """espeak-ng's float32 samples of ``text`` at :data:`RATE`, edge silence trimmed."""
    with tempfile.TemporaryDirectory() as folder:
        wav = Path(folder) / "voice.wav"
        subprocess.run(
            [ESPEAK, "-v", name, "-s", str(speed), "-w", str(wav), text],
            check=True,
            capture_output=True,
            timeout=60,
        )
        samples, rate = soundfile.read(wav, dtype="float32")
    assert rate == RATE, rate
    sounding = np.flatnonzero(np.abs(samples) > 1e-3)
    return samples[sounding[0] : sounding[-1] + 1]


def speak(
    text: str,
    path: Path,
    *,
    name: str = ENGLISH_VOICE,
    speed: int = ENGLISH_SPEED,
    lead_s: float = 1.0,
    tail_s: float = 1.0,
) -> Spoken:
    """``text`` spoken into a WAV file after ``lead_s`` and before ``tail_s`` of silence."""
    samples = voice(text, name=name, speed=speed)
    lead, tail = np.zeros(round(lead_s * RATE)), np.zeros(round(tail_s * RATE))
    soundfile.write(path, np.concatenate([lead, samples, tail]).astype(np.float32), RATE)
    return Spoken(path, text, lead_s, lead_s + samples.size / RATE)
