"""Music or not: silence, noise, speech and sparse sounds get no genre.

Each window is judged by rules on signals that need no training on the files being
judged: loudness, how tonal it is (chroma), how much of it Silero VAD (a pretrained voice
detector shipped inside its wheel) hears as speech, and how much of it is pauses. The
first rule that holds names the window's kind; a file is music when enough of its
windows are (:class:`~ops.genre.params.GateSettings`).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from ops.genre.features import WindowFeatures
from ops.genre.params import GateSettings

WindowKind = Literal["music", "silence", "noise", "speech", "sparse"]
VAD_SAMPLE_RATE = 16_000  # the rate Silero VAD listens at
VAD_SPEECH_PROBABILITY = 0.5  # a 32-ms VAD frame above it is speech (the model's default)


class VoiceDetector:
    """Silero VAD, loaded on first use behind a lock (one per process is enough)."""

    _lock = threading.Lock()
    _model: Any = None

    def speech_share(self, windows: np.ndarray, sample_rate: int) -> np.ndarray:
        """``(K, samples)`` windows -> (K,) share of 32-ms frames heard as speech."""
        import torch
        from scipy.signal import resample_poly

        divisor = np.gcd(VAD_SAMPLE_RATE, sample_rate)
        resampled = resample_poly(
            windows, VAD_SAMPLE_RATE // divisor, sample_rate // divisor, axis=1
        ).astype(np.float32)
        model = self._loaded()
        with torch.inference_mode():
            probabilities = model.audio_forward(torch.from_numpy(resampled), VAD_SAMPLE_RATE)
        return (probabilities.numpy() > VAD_SPEECH_PROBABILITY).mean(axis=1)

    @classmethod
    def _loaded(cls) -> Any:
        with cls._lock:
            if cls._model is None:
                try:
                    from silero_vad import load_silero_vad
                except ImportError as error:
                    raise RuntimeError(
                        "the music gate needs the silero-vad package (pip install silero-vad)"
                    ) from error
                cls._model = load_silero_vad()
            return cls._model


def window_kinds(
    features: WindowFeatures, speech: np.ndarray, settings: GateSettings
) -> list[WindowKind]:
    """Each window's kind: the first rule that holds, in the order silence, noise, speech,
    sparse; music when none does."""
    kinds: list[WindowKind] = []
    for loudness, peak, pauses, voice in zip(
        features.rms_db, features.chroma_peak, features.low_energy, speech, strict=True
    ):
        if loudness < settings.silence_db:
            kinds.append("silence")
        elif peak < settings.min_chroma_peak:
            kinds.append("noise")
        elif voice >= settings.speech_share and pauses >= settings.speech_low_energy:
            kinds.append("speech")
        elif pauses >= settings.sparse_low_energy:
            kinds.append("sparse")
        else:
            kinds.append("music")
    return kinds


def music_share(kinds: Sequence[WindowKind]) -> float:
    """The share of windows judged music (0 for no window)."""
    return Counter(kinds)["music"] / len(kinds) if kinds else 0.0
