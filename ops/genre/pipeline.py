"""The genre model's pipeline steps, written once for the ``train_genre`` DAG, ``dvc repro``
(stage ``genre_train``) and ``cinescope genre train``.

data (a labelled folder, one sub-folder per genre, versioned as ``labels/genre/vN``;
generated stand-ins when the default folder is missing) -> train (window features, a
k-fold evaluation against the MFCC + SVM baseline, a fit on every track, the MLflow run,
a registered ``genre`` version and the champion gate). The folder is the setting
``CINESCOPE_GENRE_DATA_DIR``, so a user's labelled music replaces the stand-ins; the
params are the params file's ``genre:`` section, with what a trigger gives on top.
Heavy imports happen inside the steps: the DAG file imports this module when parsed.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import Field

from ops.datasets.folders import LabelledFolder, generate_once, version_folder
from ops.genre.params import GenreSettings
from ops.scene.results import StepResult
from ops.settings import Settings, get_settings
from ops.tracking_store import RegisteredVersion

GENRE_DATASET = "labels/genre"
DEMO_TRACKS_PER_GENRE = 20
DEMO_SECONDS = 15.0


class GenreTrainParams(GenreSettings):
    """The genre model's settings and how it is evaluated: a DAG's trigger form, the
    params file's ``genre:`` section."""

    folds: int = Field(default=5, ge=2, description="k of the k-fold evaluation, by genre")

    @property
    def model_settings(self) -> GenreSettings:
        """The settings the model is saved with (without the evaluation's)."""
        return GenreSettings.model_validate(
            self.model_dump(include=set(GenreSettings.model_fields))
        )


class TrainedGenre(StepResult):
    """``train_step``: the model file, its k-fold scores and the registered version."""

    path: Path
    dataset_rev: str
    training_data: str
    genres: list[str]
    tracks: int
    windows: int
    tracks_per_genre: dict[str, int]
    unreadable: dict[str, str]
    accuracy: float
    baseline_accuracy: float
    per_genre: dict[str, float]
    fold_accuracies: list[float]
    registered: RegisteredVersion
    params: GenreTrainParams
    seconds: float


def genre_dir(settings: Settings) -> Path:
    """Where the steps write: the model file and ``train.json``."""
    return settings.home / "genre"


def standin_dir(settings: Settings) -> Path:
    """The default labelled folder, where generated stand-ins go."""
    return settings.home / "datasets" / "genre"


def data_dir(settings: Settings) -> Path:
    """The labelled folder: ``CINESCOPE_GENRE_DATA_DIR``, else the stand-ins' folder."""
    return settings.genre_data_dir or standin_dir(settings)


def run_params(settings: Settings, given: Mapping[str, Any] | None = None) -> GenreTrainParams:
    """A run's params: the params file's ``genre:`` section with ``given`` on top,
    validated as a whole (a refusal names each field)."""
    from ops.dag_params import model_from_params

    return model_from_params(GenreTrainParams, settings.params_section("genre") | dict(given or {}))


def generate_demo_data(
    settings: Settings | None = None,
    *,
    per_genre: int = DEMO_TRACKS_PER_GENRE,
    seconds: float = DEMO_SECONDS,
    genres: Sequence[str] | None = None,
) -> Path:
    """Generated stand-in music in the default labelled folder, once per data root."""
    from ops.genre.standins import write_standin_folder
    from ops.sample_site.media import GENRES

    def write(folder: Path) -> Path:
        return write_standin_folder(folder, per_genre, seconds=seconds, genres=genres or GENRES)

    return generate_once(standin_dir(settings or get_settings()), write)


def data_step(settings: Settings | None = None, folder: Path | None = None) -> LabelledFolder:
    """Version the labelled folder (``folder``, default: the setting's) as
    ``labels/genre/vN``; the default folder gets stand-ins first when it is missing."""
    settings = settings or get_settings()
    folder = folder or data_dir(settings)
    if folder == standin_dir(settings):
        generate_demo_data(settings)
    return version_folder(folder, GENRE_DATASET, settings)


def train_step(
    settings: Settings | None = None,
    data: LabelledFolder | None = None,
    params: GenreTrainParams | None = None,
) -> TrainedGenre:
    """Featurise every track, score the model and the baseline by k-fold, fit the model on
    every track, save it (``home/genre/model.joblib``), register it and run the gate.

    ``data``: what ``data_step`` returned (default: run it); ``params``: a triggered run's
    (default: the params file's).
    """
    from ops.atomic import atomic_open
    from ops.genre.dataset import featurise_folder
    from ops.genre.evaluate import kfold_genres
    from ops.genre.model import GenreModel
    from ops.genre.tracking import register_genre_model
    from ops.genre.train import default_model_path

    settings = settings or get_settings()
    params = params or run_params(settings)
    data = data or data_step(settings)
    started = time.perf_counter()
    model = GenreModel(params.model_settings)
    tracks = featurise_folder(data.folder, model)
    per_genre = {genre: tracks.genres.count(genre) for genre in sorted(set(tracks.genres))}
    fewest = min(per_genre, key=per_genre.__getitem__)
    if per_genre[fewest] < params.folds:
        raise ValueError(
            f"{params.folds}-fold evaluation needs at least {params.folds} tracks of every "
            f"genre; {fewest} has {per_genre[fewest]} in {data.folder}"
        )
    evaluation = kfold_genres(tracks, model.settings, folds=params.folds, seed=params.seed)
    model.fit_features(tracks.features, tracks.genres)
    path = model.save(default_model_path(settings))
    logged = params.model_dump(mode="json") | {"classifiers": ",".join(params.classifiers)}
    registered = register_genre_model(
        path,
        tracks,
        evaluation,
        dataset_rev=data.dataset_rev,
        training_data=data.training_data,
        tracking_uri=settings.tracking_uri,
        registry=str(settings.registry_dir),
        params=logged,
    )
    trained = TrainedGenre(
        path=path,
        dataset_rev=data.dataset_rev,
        training_data=data.training_data,
        genres=list(model.labels),
        tracks=len(tracks),
        windows=tracks.windows,
        tracks_per_genre=per_genre,
        unreadable=tracks.unreadable,
        accuracy=evaluation.accuracy,
        baseline_accuracy=evaluation.baseline_accuracy,
        per_genre=evaluation.per_genre,
        fold_accuracies=evaluation.fold_accuracies,
        registered=registered,
        params=params,
        seconds=round(time.perf_counter() - started, 2),
    )
    with atomic_open(genre_dir(settings) / "train.json") as handle:
        handle.write(trained.model_dump_json(indent=2))
    return trained
