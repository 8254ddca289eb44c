"""The image-mood model's pipeline steps, written once for the ``train_mood`` DAG,
``dvc repro`` (stage ``mood_train``) and ``cinescope mood train``.

data (a labelled folder, one sub-folder per mood, versioned as ``labels/mood/vN``;
generated stand-ins when the default folder is missing) -> train (picture features,
Cho et al.'s k-fold evaluation with adjacent accuracy, a fit on every picture, the MLflow
run, a registered ``mood`` version and the champion gate). The folder is the setting
``CINESCOPE_MOOD_DATA_DIR``, so a user's labelled pictures replace the stand-ins; the
params are the params file's ``mood:`` section, with what a trigger gives on top.
Heavy imports happen inside the steps: the DAG file imports this module when parsed.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field

from ops.datasets.folders import LabelledFolder, generate_once, version_folder
from ops.mood.params import MoodModelSettings
from ops.scene.results import StepResult
from ops.settings import Settings, get_settings
from ops.tracking_store import RegisteredVersion

MOOD_DATASET = "labels/mood"
DEMO_PICTURES_PER_MOOD = 30


class MoodTrainParams(MoodModelSettings):
    """The mood model's settings and how it is evaluated: a DAG's trigger form, the
    params file's ``mood:`` section."""

    folds: int = Field(
        default=10, ge=2, description="k of the k-fold evaluation, by mood (Cho et al.: 10)"
    )

    @property
    def model_settings(self) -> MoodModelSettings:
        """The settings the model is saved with (without the evaluation's)."""
        fields = set(MoodModelSettings.model_fields)
        return MoodModelSettings.model_validate(self.model_dump(include=fields))


class TrainedMood(StepResult):
    """``train_step``: the model file, its k-fold scores and the registered version."""

    path: Path
    dataset_rev: str
    training_data: str
    pictures: int
    per_mood: dict[str, int]
    skipped: dict[str, str]
    accuracy: float
    accuracy_std: float
    adjacent_accuracy: float
    per_mood_recall: dict[str, float]
    registered: RegisteredVersion
    params: MoodTrainParams
    seconds: float


def mood_dir(settings: Settings) -> Path:
    """Where the steps write: the model file and ``train.json``."""
    return settings.home / "mood"


def standin_dir(settings: Settings) -> Path:
    """The default labelled folder, where generated stand-ins go."""
    return settings.home / "datasets" / "mood"


def data_dir(settings: Settings) -> Path:
    """The labelled folder: ``CINESCOPE_MOOD_DATA_DIR``, else the stand-ins' folder."""
    return settings.mood_data_dir or standin_dir(settings)


def run_params(settings: Settings, given: Mapping[str, Any] | None = None) -> MoodTrainParams:
    """A run's params: the params file's ``mood:`` section with ``given`` on top,
    validated as a whole (a refusal names each field)."""
    from ops.dag_params import model_from_params

    return model_from_params(MoodTrainParams, settings.params_section("mood") | dict(given or {}))


def generate_demo_data(
    settings: Settings | None = None, *, per_mood: int = DEMO_PICTURES_PER_MOOD, seed: int = 0
) -> Path:
    """Generated stand-in pictures in the default labelled folder, once per data root."""
    from ops.datasets.folders import mark_standins
    from ops.mood.standins import STANDIN_SIZE, write_standin_folder

    def write(folder: Path) -> None:
        write_standin_folder(folder, per_mood, seed=seed)
        generator = {"generator": "ops.mood.standins", "per_mood": per_mood, "seed": seed}
        mark_standins(folder, generator | {"size": list(STANDIN_SIZE)})

    return generate_once(standin_dir(settings or get_settings()), write)


def data_step(settings: Settings | None = None, folder: Path | None = None) -> LabelledFolder:
    """Version the labelled folder (``folder``, default: the setting's) as
    ``labels/mood/vN``; the default folder gets stand-ins first when it is missing."""
    settings = settings or get_settings()
    folder = folder or data_dir(settings)
    if folder == standin_dir(settings):
        generate_demo_data(settings)
    return version_folder(folder, MOOD_DATASET, settings)


def train_step(
    settings: Settings | None = None,
    data: LabelledFolder | None = None,
    params: MoodTrainParams | None = None,
) -> TrainedMood:
    """Featurise every picture, score the model by k-fold (accuracy and adjacent
    accuracy), fit it on every picture, save it (``home/mood/model.joblib``), register it
    and run the gate.

    ``data``: what ``data_step`` returned (default: run it); ``params``: a triggered run's
    (default: the params file's).
    """
    from ops.atomic import atomic_open
    from ops.mood.dataset import folder_dataset
    from ops.mood.model import MoodModel, cross_validate
    from ops.mood.tracking import register_mood_model

    settings = settings or get_settings()
    params = params or run_params(settings)
    data = data or data_step(settings)
    started = time.perf_counter()
    model_settings = params.model_settings
    read = folder_dataset(data.folder, side=model_settings.feature_side)
    dataset = read.model_copy(update={"training_data": data.training_data})
    evaluation = cross_validate(dataset, model_settings, folds=params.folds)
    model = MoodModel(model_settings).fit(dataset)
    path = model.save(mood_dir(settings) / "model.joblib")
    registered = register_mood_model(
        path,
        dataset,
        evaluation,
        folder=data.folder,
        dataset_rev=data.dataset_rev,
        tracking_uri=settings.tracking_uri,
        registry=str(settings.registry_dir),
        params=params.model_dump(mode="json"),
    )
    trained = TrainedMood(
        path=path,
        dataset_rev=data.dataset_rev,
        training_data=data.training_data,
        pictures=len(dataset.moods),
        per_mood=dataset.per_mood(),
        skipped=dataset.skipped,
        accuracy=evaluation.accuracy,
        accuracy_std=evaluation.accuracy_std,
        adjacent_accuracy=evaluation.adjacent_accuracy,
        per_mood_recall=evaluation.per_mood_recall,
        registered=registered,
        params=params,
        seconds=round(time.perf_counter() - started, 2),
    )
    with atomic_open(mood_dir(settings) / "train.json") as handle:
        handle.write(trained.model_dump_json(indent=2))
    return trained
