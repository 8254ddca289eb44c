"""The image-mood model's MLflow life: one run per training, the registry, the champion gate.

A version is the saved joblib model wrapped as the pyfunc ``mood``: a DataFrame with a
``path`` column of pictures in, per row the mood, its probability (``confidence``) and
the probabilities of all eight moods out (a picture that cannot be read gets its reason
in ``error``, and the rest of the batch goes on). A version becomes ``champion`` when its
k-fold accuracy beats the champion's on the same dataset revision (see
:func:`ops.tracking_store.register_pyfunc_version`); adjacent accuracy (a guess one step
round the circle counts) is logged beside it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.pyfunc import PythonModel
from mlflow.types import ColSpec, DataType, Schema
from mlflow.types.schema import Map

from ops.faces.pictures import UnreadablePicture, read_picture
from ops.mood.circle import MOODS
from ops.mood.dataset import MoodDataset
from ops.mood.features import image_features
from ops.mood.model import MoodEvaluation, MoodModel
from ops.tracking_store import (
    PyfuncModel,
    RegisteredVersion,
    TrainingRecord,
    pinned_requirements,
    register_pyfunc_version,
    require_intact_store,
    tracking_uri_context,
)

MOOD_MODEL = "mood"
PRIMARY_METRIC = "accuracy"
MODEL_FILE_KEY = "model"
OUTPUT_COLUMNS = ("path", "mood", "confidence", "probabilities", "error")
REGISTERED_DESCRIPTION = (
    "Image mood, one of eight moods on a circle (after Cho et al.). Input: a `path` column "
    "of pictures; output: mood, confidence and the eight mood probabilities per picture. "
    "Refresh uses the version under alias `champion`."
)


class MoodPyfunc(PythonModel):
    """The pyfunc ``mood``: picture paths in, mood / confidence / probabilities out."""

    def __init__(self) -> None:
        self.model: MoodModel | None = None

    def load_context(self, context: Any) -> None:
        self.model = MoodModel.load(Path(context.artifacts[MODEL_FILE_KEY]))

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        if self.model is None:
            raise RuntimeError("the mood pyfunc was used before its model was loaded")
        if "path" not in model_input:
            raise ValueError("mood input needs a 'path' column of pictures")
        paths = list(model_input["path"])
        side = self.model.settings.feature_side
        features: dict[int, np.ndarray] = {}
        errors: dict[int, str] = {}
        for row, path in enumerate(paths):
            try:  # one picture in memory at a time: its features are all that is kept
                features[row] = image_features(read_picture(Path(path)), side)
            except UnreadablePicture as error:
                errors[row] = f"{path}: {error}"
        readable = list(features)
        found = (
            self.model.proba_from_features(np.stack([features[row] for row in readable]))
            if readable
            else np.zeros((0, len(MOODS)))
        )
        probabilities = dict(zip(readable, found, strict=True))
        rows: list[tuple[Any, ...]] = []
        for row, path in enumerate(paths):
            if row in errors:
                rows.append((path, None, 0.0, {}, errors[row]))
                continue
            best = int(probabilities[row].argmax())
            rows.append(
                (
                    path,
                    MOODS[best],
                    round(float(probabilities[row][best]), 4),
                    {
                        mood: round(float(p), 4)
                        for mood, p in zip(MOODS, probabilities[row], strict=True)
                    },
                    None,
                )
            )
        return pd.DataFrame(rows, columns=list(OUTPUT_COLUMNS))


def model_signature() -> ModelSignature:
    """A ``path`` string in; path, mood (none when unreadable), confidence, the eight
    probabilities and the reason a picture could not be read out."""
    return ModelSignature(
        inputs=Schema([ColSpec(DataType.string, "path")]),
        outputs=Schema(
            [
                ColSpec(DataType.string, "path"),
                ColSpec(DataType.string, "mood", required=False),
                ColSpec(DataType.double, "confidence"),
                ColSpec(Map(DataType.double), "probabilities"),
                ColSpec(DataType.string, "error", required=False),
            ]
        ),
    )


def version_description(dataset_rev: str, evaluation: MoodEvaluation) -> str:
    """What the MLflow UI shows on a version's and its run's page."""
    standin = (
        " — generated stand-ins: its labels are withheld outside the demo"
        if evaluation.training_data == "generated"
        else ""
    )
    return (
        f"Trained on `{dataset_rev}` ({evaluation.training_data} data{standin}): "
        f"{evaluation.images} pictures. {evaluation.folds}-fold accuracy "
        f"{evaluation.accuracy:.3f}, adjacent accuracy {evaluation.adjacent_accuracy:.3f} "
        f"(chance {evaluation.chance_accuracy:.3f} and {evaluation.chance_adjacent_accuracy:.3f})."
    )


def register_mood_model(
    model_path: Path,
    dataset: MoodDataset,
    evaluation: MoodEvaluation,
    *,
    folder: Path,
    dataset_rev: str,
    tracking_uri: str,
    registry: str,
    params: Mapping[str, Any] | None = None,
) -> RegisteredVersion:
    """Log the model saved at ``model_path`` (trained on ``dataset``, read from ``folder``
    and scored by ``evaluation``) in a run of experiment ``mood``, register it as a new
    ``mood`` version and promote it when its k-fold accuracy beats the champion's.

    A champion trained on another dataset revision is re-scored on ``dataset``.
    """
    side = MoodModel.load(model_path).settings.feature_side
    metrics = {
        PRIMARY_METRIC: evaluation.accuracy,
        "accuracy_std": evaluation.accuracy_std,
        "adjacent_accuracy": evaluation.adjacent_accuracy,
        "mean_steps": evaluation.mean_steps,
        "chance_accuracy": evaluation.chance_accuracy,
        "pictures": float(evaluation.images),
    } | {f"recall_{mood}": recall for mood, recall in evaluation.per_mood_recall.items()}
    record = TrainingRecord(
        dataset_rev=dataset_rev,
        training_data=dataset.training_data,
        table=pd.DataFrame({"path": dataset.image_ids, "mood": dataset.moods}),
        params=dict(params or {}) | {"folds": evaluation.folds, "data.pictures": evaluation.images},
        metrics=metrics,
        documents={
            "evaluation.json": evaluation.model_dump(mode="json"),
            "skipped.json": dataset.skipped,
        },
        description=version_description(dataset_rev, evaluation),
    )
    pyfunc = PyfuncModel(
        python_model=MoodPyfunc(),
        artifacts={MODEL_FILE_KEY: model_path},
        signature=model_signature(),
        input_example=pd.DataFrame({"path": ["picture.jpg"]}),
        pip_requirements=pinned_requirements(
            "mlflow", "scikit-learn", "opencv-python-headless", "pillow", "pandas", "numpy"
        ),
        description=REGISTERED_DESCRIPTION,
    )
    return register_pyfunc_version(
        MOOD_MODEL,
        pyfunc,
        record,
        metric=PRIMARY_METRIC,
        tracking_uri=tracking_uri,
        registry=registry,
        evaluate_champion=champion_evaluator(dataset, folder, side, tracking_uri),
    )


def champion_evaluator(
    dataset: MoodDataset, folder: Path, side: int, tracking_uri: str
) -> Callable[[str], float]:
    """For the gate: a model URI's accuracy on every picture of ``dataset`` (pictures it
    may have been trained on, so a champion is never under-rated). The dataset's features
    (pictures shrunk to ``side``) are reused when the champion shrinks them alike, else
    its own are computed from ``folder``."""

    def accuracy(model_uri: str) -> float:
        champion = load_mood_model(model_uri, tracking_uri)
        wanted = champion.settings.feature_side
        features = (
            dataset.features
            if wanted == side
            else np.stack(
                [image_features(read_picture(folder / name), wanted) for name in dataset.image_ids]
            )
        )
        guesses = champion.proba_from_features(features).argmax(axis=1)
        right = [MOODS[guess] == mood for guess, mood in zip(guesses, dataset.moods, strict=True)]
        return round(float(np.mean(right)), 4)

    return accuracy


def load_mood_model(model_uri: str, tracking_uri: str) -> MoodModel:
    """A registered mood version (``models:/mood/3``, ``models:/mood@champion``)."""
    require_intact_store(tracking_uri)
    with tracking_uri_context(tracking_uri):
        loaded = mlflow.pyfunc.load_model(model_uri)
    wrapped = loaded.unwrap_python_model()
    if not isinstance(wrapped, MoodPyfunc) or wrapped.model is None:
        raise ValueError(f"{model_uri} is not a mood model")
    return wrapped.model
