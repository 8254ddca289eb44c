"""A file or a stream of windows -> music or not, and the genre with its probabilities.

The one inference path: ``cinescope genre predict``, ``cinescope listen`` and the
benchmark all go through :class:`GenreClassifier`, so what is measured is what ships.
Windows are featurised a batch at a time, and the features feed both the gate and the
model.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict

from ops.genre.audio import stream_windows
from ops.genre.features import BATCH_WINDOWS, window_features
from ops.genre.gate import VoiceDetector, WindowKind, music_share, window_kinds
from ops.genre.model import GenreModel
from ops.genre.params import GateSettings


class GenrePrediction(BaseModel):
    """A whole file's answer: ``genre`` and ``probabilities`` (the mean over its music
    windows) are empty when the file is not music."""

    model_config = ConfigDict(frozen=True)

    music: bool
    genre: str | None
    probabilities: dict[str, float]
    music_share: float
    windows: int
    window_kinds: dict[str, int]


@dataclass(frozen=True)
class WindowVerdicts:
    """A batch of windows: each one's kind and ``probabilities`` (K, labels)."""

    kinds: list[WindowKind]
    probabilities: np.ndarray


class GenreClassifier:
    """A trained genre model behind the music gate."""

    def __init__(self, model: GenreModel, gate: GateSettings | None = None) -> None:
        self.model = model
        self.gate = gate or GateSettings()
        self._voice = VoiceDetector()

    @property
    def sample_rate(self) -> int:
        return self.model.settings.sample_rate

    def judge(self, windows: np.ndarray) -> WindowVerdicts:
        """Kinds and genre probabilities of ``(K, samples)`` windows."""
        features = window_features(windows, self.sample_rate)
        speech = self._voice.speech_share(windows, self.sample_rate)
        return WindowVerdicts(
            kinds=window_kinds(features, speech, self.gate),
            probabilities=self.model.window_probabilities(features.matrix),
        )

    def windows(self, path: Path) -> Iterator[np.ndarray]:
        """The model's windows of ``path``, decoded as they are needed."""
        settings = self.model.settings
        return stream_windows(
            path, settings.sample_rate, settings.window_samples, settings.hop_samples
        )

    def classify_file(self, path: Path) -> GenrePrediction:
        """Music or not for the whole file and, when music, its genre."""
        return self.classify_windows(self.windows(path))

    def classify_windows(self, windows: Iterable[np.ndarray]) -> GenrePrediction:
        """Like :meth:`classify_file`, for windows from anywhere."""
        kinds: list[WindowKind] = []
        sums = np.zeros(len(self.model.labels))
        source = iter(windows)
        while batch := list(islice(source, BATCH_WINDOWS)):
            verdicts = self.judge(np.stack(batch))
            kinds += verdicts.kinds
            sums += verdicts.probabilities[[kind == "music" for kind in verdicts.kinds]].sum(0)
        share = music_share(kinds)
        music = bool(kinds) and share >= self.gate.music_share
        probabilities = sums / max(kinds.count("music"), 1)
        labels = self.model.labels
        return GenrePrediction(
            music=music,
            genre=labels[int(probabilities.argmax())] if music else None,
            probabilities=(
                {label: round(float(probabilities[i]), 4) for i, label in enumerate(labels)}
                if music
                else {}
            ),
            music_share=round(share, 4),
            windows=len(kinds),
            window_kinds=dict(Counter(kinds)),
        )
