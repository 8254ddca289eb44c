"""A labelled folder decoded and featurised once: every track's window features (for the
genre model) and whole-track MFCC statistics (for the baseline).

Features are kept per track, never pooled, so every split downstream is a split of
tracks: no track can have windows on both sides. A file that cannot be decoded is
skipped with its reason instead of stopping the folder.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ops.genre.audio import UnreadableAudio, labelled_tracks, load_audio
from ops.genre.model import BaselineModel, GenreModel


@dataclass(frozen=True)
class TrackSet:
    """Featurised tracks: ``features[i]`` (K_i, D) windows of ``paths[i]`` whose genre is
    ``genres[i]``; ``descriptors`` (n, 40) the baseline's, empty when not asked for."""

    genres: list[str]
    paths: list[Path]
    features: list[np.ndarray]
    descriptors: np.ndarray
    unreadable: dict[str, str]
    seconds: float

    def __len__(self) -> int:
        return len(self.genres)

    @property
    def windows(self) -> int:
        return sum(len(features) for features in self.features)

    def subset(self, indices: np.ndarray) -> TrackSet:
        """The tracks at ``indices`` (whole tracks, with all their windows)."""
        return TrackSet(
            genres=[self.genres[i] for i in indices],
            paths=[self.paths[i] for i in indices],
            features=[self.features[i] for i in indices],
            descriptors=self.descriptors[indices] if len(self.descriptors) else self.descriptors,
            unreadable={},
            seconds=0.0,
        )


def featurise_folder(folder: Path, model: GenreModel, *, baseline: bool = True) -> TrackSet:
    """Decode every track of ``folder``'s genre sub-folders once and featurise it for
    ``model`` (and the baseline); a progress bar on stderr."""
    started = time.perf_counter()
    tracks = list(labelled_tracks(folder))
    rate = model.settings.sample_rate
    reference = BaselineModel(rate)
    genres: list[str] = []
    paths: list[Path] = []
    features: list[np.ndarray] = []
    descriptors: list[np.ndarray] = []
    unreadable: dict[str, str] = {}
    for track in tqdm(tracks, desc=f"features {folder.name}", unit="track", leave=False):
        try:
            audio = load_audio(track.path, rate)
        except UnreadableAudio as error:
            unreadable[track.path.relative_to(folder).as_posix()] = str(error)
            continue
        genres.append(track.genre)
        paths.append(track.path)
        features.append(model.features(audio))
        if baseline:
            descriptors.append(reference.descriptor(audio))
    if not genres:
        reason = f" ({len(unreadable)} unreadable)" if unreadable else ""
        raise ValueError(f"{folder} holds no readable audio in genre sub-folders{reason}")
    return TrackSet(
        genres=genres,
        paths=paths,
        features=features,
        descriptors=np.stack(descriptors) if descriptors else np.zeros((0, 0), np.float32),
        unreadable=unreadable,
        seconds=time.perf_counter() - started,
    )
