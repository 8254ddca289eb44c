"""The image-mood model: picture features into the eight moods, after Cho et al.

Cho et al. sort pictures into eight moods arranged on a circle and report 72.4 %
accuracy in 10-fold cross-validation; because neighbouring moods are similar, a guess
one step round the circle is a near miss, which :func:`cross_validate` counts as
``adjacent_accuracy``. The model is a scikit-learn pipeline over
:mod:`ops.mood.features`; it is saved with joblib together with what it was trained on,
so anything that shows its labels can say whether they come from generated stand-ins.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import joblib
import numpy as np
import sklearn
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sklearn.base import clone
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from tqdm import tqdm

from ops.atomic import atomic_path
from ops.faces.pictures import UnreadablePicture, read_picture
from ops.mood.circle import MOODS, Mood, circle_distance
from ops.mood.dataset import MoodDataset, TrainingData
from ops.mood.features import FEATURE_NAMES, FEATURES_VERSION, feature_matrix
from ops.mood.params import MoodModelSettings

MODEL_NAME = "mood"
_FORMAT = 1


class MoodModelError(ValueError):
    """A saved model that cannot be used here (not a mood model, other features, damaged)."""


class MoodModelInfo(BaseModel):
    """What a fitted model was trained on and how: its MLflow tags to be."""

    model_config = ConfigDict(frozen=True)

    name: Literal["mood"] = "mood"
    training_data: TrainingData
    trained_on: str
    images: int
    per_mood: dict[str, int]
    features_version: int
    feature_names: tuple[str, ...]
    settings: MoodModelSettings
    sklearn_version: str
    trained_at: dt.datetime


class MoodPrediction(BaseModel):
    """One picture's mood and the model's probability for it."""

    model_config = ConfigDict(frozen=True)

    mood: Mood
    confidence: float


class ImageMood(BaseModel):
    """A picture with its predicted mood: what the mood-video planner picks from."""

    model_config = ConfigDict(frozen=True)

    image_id: str
    path: Path
    mood: Mood
    confidence: float = Field(ge=0, le=1)


class ClassifiedPictures(BaseModel):
    """Moods of the readable pictures, and the others with the reason each was skipped."""

    model_config = ConfigDict(frozen=True)

    pictures: tuple[ImageMood, ...]
    skipped: dict[str, str]


class MoodEvaluation(BaseModel):
    """k-fold cross-validation of the model on one dataset (Cho et al.'s protocol)."""

    model_config = ConfigDict(frozen=True)

    folds: int
    images: int
    training_data: TrainingData
    trained_on: str
    accuracy: float
    accuracy_std: float
    adjacent_accuracy: float
    mean_steps: float
    chance_accuracy: float
    chance_adjacent_accuracy: float
    per_mood_recall: dict[str, float]
    confusion: tuple[tuple[int, ...], ...]
    """Rows: true mood, columns: predicted mood, both in :data:`MOODS` order."""
    settings: MoodModelSettings


def build_classifier(settings: MoodModelSettings) -> Pipeline:
    """The untrained scikit-learn pipeline the settings describe."""
    estimator: Any
    if settings.classifier == "forest":
        estimator = RandomForestClassifier(
            n_estimators=settings.trees,
            min_samples_leaf=settings.min_leaf,
            class_weight="balanced",
            random_state=settings.seed,
            n_jobs=settings.threads,
        )
    else:
        estimator = LogisticRegression(
            C=settings.c, class_weight="balanced", max_iter=5000, random_state=settings.seed
        )
    return make_pipeline(StandardScaler(), estimator)


class MoodModel:
    """Fit on a :class:`MoodDataset`, predict the moods of uint8 RGB pictures, save, load."""

    def __init__(self, settings: MoodModelSettings | None = None) -> None:
        self.settings = settings or MoodModelSettings()
        self.info: MoodModelInfo | None = None
        self._classifier: Pipeline | None = None

    def fit(self, dataset: MoodDataset) -> MoodModel:
        """Train on every picture of ``dataset``; returns the model itself."""
        self._classifier = build_classifier(self.settings).fit(
            dataset.features, np.asarray(dataset.moods)
        )
        self.info = MoodModelInfo(
            training_data=dataset.training_data,
            trained_on=dataset.source,
            images=len(dataset.moods),
            per_mood=dataset.per_mood(),
            features_version=FEATURES_VERSION,
            feature_names=FEATURE_NAMES,
            settings=self.settings,
            sklearn_version=sklearn.__version__,
            trained_at=dt.datetime.now(dt.UTC),
        )
        return self

    def predict_proba(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """``(n, 8)`` probabilities, columns in :data:`MOODS` order (a mood absent from the
        training data gets 0)."""
        return self.proba_from_features(feature_matrix(images, self.settings.feature_side))

    def proba_from_features(self, features: np.ndarray) -> np.ndarray:
        """:meth:`predict_proba` for pictures whose features are already computed."""
        if self._classifier is None:
            raise RuntimeError("the mood model is not fitted: call fit() or load() first")
        return _circle_columns(self._classifier, features)

    def predict(self, images: Sequence[np.ndarray]) -> list[MoodPrediction]:
        """The most probable mood of each picture, with its probability."""
        probabilities = self.predict_proba(images)
        best = probabilities.argmax(axis=1)
        return [
            MoodPrediction(mood=MOODS[index], confidence=float(row[index]))
            for index, row in zip(best, probabilities, strict=True)
        ]

    def save(self, path: Path) -> Path:
        """Write the fitted model and its info to ``path`` (joblib, atomically)."""
        if self._classifier is None or self.info is None:
            raise RuntimeError("only a fitted mood model can be saved")
        payload = {
            "format": _FORMAT,
            "name": MODEL_NAME,
            "info": self.info.model_dump(mode="json"),
            "classifier": self._classifier,
        }
        with atomic_path(path) as tmp:
            joblib.dump(payload, tmp)
        return path

    @classmethod
    def load(cls, path: Path) -> MoodModel:
        """A model saved by :meth:`save`. joblib files are pickles: load only your own."""
        try:
            payload = joblib.load(path)
        except FileNotFoundError:
            raise
        except Exception as error:  # a pickle can fail in any way; say which file and why
            raise MoodModelError(f"{path}: not a readable mood model: {error}") from error
        if not isinstance(payload, dict) or payload.get("name") != MODEL_NAME:
            raise MoodModelError(f"{path}: not a mood model")
        if payload.get("format") != _FORMAT:
            raise MoodModelError(f"{path}: model format {payload.get('format')}, not {_FORMAT}")
        try:
            info = MoodModelInfo.model_validate(payload["info"])
        except ValidationError as error:
            raise MoodModelError(f"{path}: damaged model info: {error}") from error
        if info.features_version != FEATURES_VERSION or info.feature_names != FEATURE_NAMES:
            raise MoodModelError(
                f"{path}: trained on features version {info.features_version}, "
                f"this code computes version {FEATURES_VERSION}: retrain it"
            )
        model = cls(info.settings)
        model.info = info
        model._classifier = payload["classifier"]
        return model


def classify_pictures(
    model: MoodModel, pictures: Sequence[tuple[str, Path]], batch: int = 64
) -> ClassifiedPictures:
    """Moods of ``(image_id, path)`` pictures; an unreadable one is skipped with its reason."""
    found: list[ImageMood] = []
    skipped: dict[str, str] = {}
    pending: list[tuple[str, Path, np.ndarray]] = []

    def flush() -> None:
        predictions = model.predict([image for _, _, image in pending])
        for (image_id, path, _), prediction in zip(pending, predictions, strict=True):
            found.append(ImageMood(image_id=image_id, path=path, **prediction.model_dump()))
        pending.clear()

    for image_id, path in tqdm(pictures, desc="image mood", unit="picture", leave=False):
        try:
            pending.append((image_id, path, read_picture(path)))
        except UnreadablePicture as error:
            skipped[image_id] = str(error)
        if len(pending) >= batch:
            flush()
    if pending:
        flush()
    return ClassifiedPictures(pictures=tuple(found), skipped=skipped)


def cross_validate(
    dataset: MoodDataset, settings: MoodModelSettings | None = None, folds: int = 10
) -> MoodEvaluation:
    """Stratified k-fold accuracy and adjacent accuracy (within one step on the circle)."""
    settings = settings or MoodModelSettings()
    labels = np.asarray(dataset.moods)
    smallest = min(count for count in dataset.per_mood().values() if count)
    if folds < 2 or smallest < folds:
        raise ValueError(
            f"{folds}-fold cross-validation needs at least {max(folds, 2)} pictures of each "
            f"mood present; the smallest has {smallest}"
        )
    predicted = np.empty(len(labels), dtype=object)
    fold_accuracy = []
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=settings.seed)
    template = build_classifier(settings)
    splits = splitter.split(dataset.features, labels)
    for train, test in tqdm(list(splits), desc="mood folds", unit="fold", leave=False):
        fitted = clone(template).fit(dataset.features[train], labels[train])
        predicted[test] = fitted.predict(dataset.features[test])
        fold_accuracy.append(float((predicted[test] == labels[test]).mean()))
    steps = np.array(
        [circle_distance(true, guess) for true, guess in zip(labels, predicted, strict=True)]
    )
    confusion = np.zeros((len(MOODS), len(MOODS)), dtype=int)
    for true, guess in zip(labels, predicted, strict=True):
        confusion[MOODS.index(true), MOODS.index(guess)] += 1
    present = [mood for mood, count in dataset.per_mood().items() if count]
    return MoodEvaluation(
        folds=folds,
        images=len(labels),
        training_data=dataset.training_data,
        trained_on=dataset.source,
        accuracy=round(float((steps == 0).mean()), 4),
        accuracy_std=round(float(np.std(fold_accuracy)), 4),
        adjacent_accuracy=round(float((steps <= 1).mean()), 4),
        mean_steps=round(float(steps.mean()), 4),
        chance_accuracy=round(1 / len(present), 4),
        chance_adjacent_accuracy=round(min(3, len(present)) / len(present), 4),
        per_mood_recall={
            mood: round(confusion[index, index] / confusion[index].sum(), 4)
            for index, mood in enumerate(MOODS)
            if confusion[index].sum()
        },
        confusion=tuple(tuple(int(value) for value in row) for row in confusion),
        settings=settings,
    )


def _circle_columns(classifier: Pipeline, features: np.ndarray) -> np.ndarray:
    """The classifier's probabilities rearranged into one column per mood on the circle."""
    known = classifier.predict_proba(features)
    columns = np.zeros((len(features), len(MOODS)), dtype=np.float64)
    for column, mood in enumerate(classifier.classes_):
        columns[:, MOODS.index(mood)] = known[:, column]
    return columns
