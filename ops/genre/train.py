"""Train the genre model on a labelled folder and save it (``cinescope genre train``)."""

from __future__ import annotations

import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from ops.genre.dataset import featurise_folder
from ops.genre.model import GenreModel
from ops.genre.params import GenreSettings
from ops.settings import Settings


class TrainedGenreModel(BaseModel):
    """What one training run produced and where it is."""

    model_config = ConfigDict(frozen=True)

    path: Path
    genres: list[str]
    tracks: int
    windows: int
    tracks_per_genre: dict[str, int]
    unreadable: dict[str, str]
    settings: GenreSettings
    seconds: float


def default_model_path(settings: Settings) -> Path:
    """Where the genre model lives under the data root unless told otherwise."""
    return settings.home / "genre" / "model.joblib"


def train_genre_model(
    data_dir: Path, model_path: Path, settings: GenreSettings | None = None
) -> TrainedGenreModel:
    """Featurise every track of ``data_dir``'s genre sub-folders, fit, save atomically."""
    started = time.perf_counter()
    model = GenreModel(settings)
    tracks = featurise_folder(data_dir, model, baseline=False)
    model.fit_features(tracks.features, tracks.genres)
    model.save(model_path)
    return TrainedGenreModel(
        path=model_path,
        genres=list(model.labels),
        tracks=len(tracks),
        windows=tracks.windows,
        tracks_per_genre={genre: tracks.genres.count(genre) for genre in model.labels},
        unreadable=tracks.unreadable,
        settings=model.settings,
        seconds=round(time.perf_counter() - started, 2),
    )
