"""The genre model's MLflow life: one run per training, the registry, the champion gate.

A version is the saved joblib model wrapped as the pyfunc ``genre``: a DataFrame with a
``path`` column of audio files in, per row whether it is music, its genre and the genre
probabilities out (a file that cannot be read gets its reason in ``error``, and the rest
of the batch goes on). The pyfunc classifies behind the music gate, exactly as
``cinescope genre predict`` does. A version becomes ``champion`` when its k-fold
accuracy beats the champion's on the same dataset revision (see
:func:`ops.tracking_store.register_pyfunc_version`).
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

from ops.genre.audio import UnreadableAudio, load_audio
from ops.genre.dataset import TrackSet
from ops.genre.evaluate import KFoldEvaluation
from ops.genre.model import GenreModel
from ops.genre.params import GateSettings
from ops.genre.predict import GenreClassifier
from ops.tracking_store import (
    PyfuncModel,
    RegisteredVersion,
    TrainingRecord,
    pinned_requirements,
    register_pyfunc_version,
    require_intact_store,
    tracking_uri_context,
)

GENRE_MODEL = "genre"
PRIMARY_METRIC = "accuracy"
MODEL_FILE_KEY = "model"
OUTPUT_COLUMNS = ("path", "music", "genre", "probabilities", "error")
REGISTERED_DESCRIPTION = (
    "Music genre per track behind a music-or-not gate (after Cambridge Consultants' "
    "Aficionado). Input: a `path` column of audio files; output: music, genre and the "
    "genre probabilities per file. Refresh uses the version under alias `champion`."
)


class GenrePyfunc(PythonModel):
    """The pyfunc ``genre``: audio paths in, music / genre / probabilities out."""

    def __init__(self, gate: GateSettings | None = None) -> None:
        self.gate = gate or GateSettings()
        self.classifier: GenreClassifier | None = None

    def load_context(self, context: Any) -> None:
        model = GenreModel.load(Path(context.artifacts[MODEL_FILE_KEY]))
        self.classifier = GenreClassifier(model, self.gate)

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        if self.classifier is None:
            raise RuntimeError("the genre pyfunc was used before its model was loaded")
        if "path" not in model_input:
            raise ValueError("genre input needs a 'path' column of audio files")
        rows: list[dict[str, Any]] = []
        for path in model_input["path"]:
            try:
                answer = self.classifier.classify_file(Path(path))
            except UnreadableAudio as error:
                rows.append(
                    {"path": path, "music": False, "genre": None, "probabilities": {}}
                    | {"error": str(error)}
                )
                continue
            rows.append(
                {
                    "path": path,
                    "music": answer.music,
                    "genre": answer.genre,
                    "probabilities": answer.probabilities,
                    "error": None,
                }
            )
        return pd.DataFrame(rows, columns=list(OUTPUT_COLUMNS))


def model_signature() -> ModelSignature:
    """A ``path`` string in; path, music, genre (none when not music), the probabilities
    (empty when not music) and the reason a file could not be read out."""
    return ModelSignature(
        inputs=Schema([ColSpec(DataType.string, "path")]),
        outputs=Schema(
            [
                ColSpec(DataType.string, "path"),
                ColSpec(DataType.boolean, "music"),
                ColSpec(DataType.string, "genre", required=False),
                ColSpec(Map(DataType.double), "probabilities"),
                ColSpec(DataType.string, "error", required=False),
            ]
        ),
    )


def training_table(tracks: TrackSet) -> pd.DataFrame:
    """One row per training track: its path in the labelled folder and its genre."""
    return pd.DataFrame(
        {
            "path": [f"{path.parent.name}/{path.name}" for path in tracks.paths],
            "genre": tracks.genres,
        }
    )


def version_description(
    dataset_rev: str, training_data: str, evaluation: KFoldEvaluation, genres: list[str]
) -> str:
    """What the MLflow UI shows on a version's and its run's page."""
    standin = (
        " — generated stand-ins: its labels are withheld outside the demo"
        if training_data == "generated"
        else ""
    )
    return (
        f"Trained on `{dataset_rev}` ({training_data} data{standin}): {evaluation.tracks} "
        f"tracks of {', '.join(genres)}. {evaluation.folds}-fold accuracy "
        f"{evaluation.accuracy:.3f} (MFCC + SVM baseline {evaluation.baseline_accuracy:.3f})."
    )


def register_genre_model(
    model_path: Path,
    tracks: TrackSet,
    evaluation: KFoldEvaluation,
    *,
    dataset_rev: str,
    training_data: str,
    tracking_uri: str,
    registry: str,
    params: Mapping[str, Any] | None = None,
    gate: GateSettings | None = None,
) -> RegisteredVersion:
    """Log the model saved at ``model_path`` (trained on ``tracks``, scored by
    ``evaluation``) in a run of experiment ``genre``, register it as a new ``genre``
    version and promote it when its k-fold accuracy beats the champion's.

    A champion trained on another dataset revision is re-scored on ``tracks``.
    """
    model = GenreModel.load(model_path)
    metrics = {
        PRIMARY_METRIC: evaluation.accuracy,
        "accuracy_std": round(float(np.std(evaluation.fold_accuracies)), 4),
        "baseline_accuracy": evaluation.baseline_accuracy,
        "tracks": float(len(tracks)),
        "windows": float(tracks.windows),
        "kfold_seconds": evaluation.seconds,
    }
    run_params = dict(params or {}) | {
        "genres": ",".join(model.labels),
        "folds": evaluation.folds,
        "data.tracks": len(tracks),
    }
    record = TrainingRecord(
        dataset_rev=dataset_rev,
        training_data=training_data,
        table=training_table(tracks),
        params=run_params,
        metrics=metrics,
        documents={"evaluation.json": evaluation.model_dump(mode="json")},
        description=version_description(dataset_rev, training_data, evaluation, [*model.labels]),
    )
    pyfunc = PyfuncModel(
        python_model=GenrePyfunc(gate),
        artifacts={MODEL_FILE_KEY: model_path},
        signature=model_signature(),
        input_example=pd.DataFrame({"path": ["track.wav"]}),
        pip_requirements=pinned_requirements(
            "mlflow", "scikit-learn", "librosa", "av", "silero-vad", "torch", "pandas", "numpy"
        ),
        description=REGISTERED_DESCRIPTION,
    )
    return register_pyfunc_version(
        GENRE_MODEL,
        pyfunc,
        record,
        metric=PRIMARY_METRIC,
        tracking_uri=tracking_uri,
        registry=registry,
        evaluate_champion=champion_evaluator(tracks, model, tracking_uri),
    )


def champion_evaluator(
    tracks: TrackSet, trained: GenreModel, tracking_uri: str
) -> Callable[[str], float]:
    """For the gate: a model URI's accuracy on every track of ``tracks`` (tracks it may
    have been trained on, so a champion is never under-rated). Features are reused when
    the champion cuts windows as ``trained`` does, else computed for it."""

    def accuracy(model_uri: str) -> float:
        champion = load_genre_classifier(model_uri, tracking_uri).model
        windows = ("sample_rate", "window_s", "hop_s")
        if all(getattr(champion.settings, k) == getattr(trained.settings, k) for k in windows):
            features = tracks.features
        else:
            rate = champion.settings.sample_rate
            features = [champion.features(load_audio(path, rate)) for path in tracks.paths]
        guesses = champion.predict_proba_features(features).argmax(axis=1)
        right = [
            champion.labels[guess] == genre
            for guess, genre in zip(guesses, tracks.genres, strict=True)
        ]
        return round(float(np.mean(right)), 4)

    return accuracy


def load_genre_classifier(model_uri: str, tracking_uri: str) -> GenreClassifier:
    """A registered genre version (``models:/genre/3``, ``models:/genre@champion``) as the
    classifier behind its music gate."""
    require_intact_store(tracking_uri)
    with tracking_uri_context(tracking_uri):
        loaded = mlflow.pyfunc.load_model(model_uri)
    wrapped = loaded.unwrap_python_model()
    if not isinstance(wrapped, GenrePyfunc) or wrapped.classifier is None:
        raise ValueError(f"{model_uri} is not a genre model")
    return wrapped.classifier
