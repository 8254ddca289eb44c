"""The genre model (window classifiers, track = mean of window probabilities) and the
MFCC-statistics baseline it is measured against.

A track is cut into windows, every window gets genre probabilities, and the track's are
their mean, so a track of any length is judged on all of it and a live stream can be
judged window by window with the same model. Training sees windows, but the folds that
calibrate the SVM are grouped by track, so no track has windows on both sides of them.
Saved with joblib next to its settings and labels, so it can be wrapped as the MLflow
pyfunc ``genre``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import ExtraTreesClassifier, HistGradientBoostingClassifier, VotingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from ops.atomic import atomic_path
from ops.genre.audio import frame_windows
from ops.genre.features import BATCH_WINDOWS, mfcc_statistics, window_features
from ops.genre.params import Classifier, GenreSettings

FORMAT = "cinescope-genre-v1"
BASELINE_SVM_C = 10.0  # the better of 1, 10 and 100 for the baseline on GTZAN's dev clips


class ModelNotFound(FileNotFoundError):
    """No usable genre model at a path; the message says how to train one."""


class GenreModel:
    """Window classifiers over hand-made features; a track's probabilities are the mean of
    its windows'."""

    def __init__(self, settings: GenreSettings | None = None) -> None:
        self.settings = settings or GenreSettings()
        self.labels: tuple[str, ...] = ()
        self._estimator: Pipeline | None = None

    def windows(self, audio: np.ndarray) -> np.ndarray:
        """The model's ``(K, samples)`` windows of a track decoded at its sample rate."""
        return frame_windows(audio, self.settings.window_samples, self.settings.hop_samples)

    def features(self, audio: np.ndarray) -> np.ndarray:
        """``(K, D)`` window features of one track (a batch of windows at a time)."""
        windows = self.windows(audio)
        rate = self.settings.sample_rate
        return np.concatenate(
            [
                window_features(windows[start : start + BATCH_WINDOWS], rate).matrix
                for start in range(0, len(windows), BATCH_WINDOWS)
            ]
        )

    def fit(self, tracks: Sequence[np.ndarray], labels: Sequence[str]) -> GenreModel:
        """Train on decoded tracks (mono, at ``settings.sample_rate``) and their genres."""
        return self.fit_features([self.features(track) for track in tracks], labels)

    def fit_features(self, features: Sequence[np.ndarray], labels: Sequence[str]) -> GenreModel:
        """Train on each track's ``(K, D)`` window features; every window has its track's
        genre."""
        if len(features) != len(labels):
            raise ValueError(f"{len(features)} tracks but {len(labels)} labels")
        genres = sorted(set(labels))
        if len(genres) < 2:
            raise ValueError(f"training needs at least two genres, got {genres}")
        rows = np.concatenate(features)
        sizes = [len(f) for f in features]
        targets = np.repeat(np.asarray(labels), sizes)
        groups = np.repeat(np.arange(len(features)), sizes)
        voters = [
            (name, self._classifier(name, targets, groups)) for name in self.settings.classifiers
        ]
        estimator = make_pipeline(StandardScaler(), VotingClassifier(voters, voting="soft"))
        self._estimator = estimator.fit(rows, targets)
        self.labels = tuple(str(label) for label in estimator.classes_)
        return self

    def window_probabilities(self, features: np.ndarray) -> np.ndarray:
        """``(K, D)`` window features -> ``(K, len(labels))`` probabilities."""
        return np.asarray(self._fitted().predict_proba(features))

    def predict_proba(self, tracks: Sequence[np.ndarray]) -> np.ndarray:
        """``(n_tracks, len(labels))``: each track's mean window probabilities."""
        return self.predict_proba_features([self.features(track) for track in tracks])

    def predict_proba_features(self, features: Sequence[np.ndarray]) -> np.ndarray:
        """Like :meth:`predict_proba`, from each track's window features."""
        return np.stack([self.window_probabilities(f).mean(axis=0) for f in features])

    def predict(self, tracks: Sequence[np.ndarray]) -> list[str]:
        """The most probable genre of each track."""
        return [self.labels[row] for row in self.predict_proba(tracks).argmax(axis=1)]

    def save(self, path: Path) -> Path:
        """Write the fitted model atomically (joblib); returns ``path``."""
        state = {
            "format": FORMAT,
            "settings": self.settings.model_dump(mode="json"),
            "labels": list(self.labels),
            "estimator": self._fitted(),
        }
        with atomic_path(path) as tmp:
            joblib.dump(state, tmp)
        return path

    @classmethod
    def load(cls, path: Path) -> GenreModel:
        """A model written by :meth:`save`; :class:`ModelNotFound` says what is wrong."""
        hint = "train one with `cinescope genre train --data DIR`"
        if not path.is_file():
            raise ModelNotFound(f"no genre model at {path}: {hint}")
        try:
            state = joblib.load(path)
        except Exception as error:  # joblib raises whatever unpickling a bad file raises
            message = f"{path} is not a readable genre model ({error}): {hint}"
            raise ModelNotFound(message) from error
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise ModelNotFound(f"{path} is not a {FORMAT} genre model: {hint}")
        model = cls(GenreSettings.model_validate(state["settings"]))
        model.labels = tuple(state["labels"])
        model._estimator = state["estimator"]
        return model

    def _fitted(self) -> Pipeline:
        if self._estimator is None:
            raise RuntimeError("the genre model is not trained: call fit first")
        return self._estimator

    def _classifier(self, name: Classifier, targets: np.ndarray, groups: np.ndarray) -> Any:
        settings = self.settings
        if name == "svm":
            return CalibratedClassifierCV(
                SVC(C=settings.svm_c), cv=_grouped_folds(targets, groups, settings), ensemble=False
            )
        if name == "logreg":
            return LogisticRegression(C=settings.logreg_c, max_iter=3000)
        if name == "extra_trees":
            return ExtraTreesClassifier(settings.trees, random_state=settings.seed, n_jobs=1)
        return HistGradientBoostingClassifier(random_state=settings.seed)


class BaselineModel:
    """MFCC statistics (mean and std of 20 MFCCs over the whole track) + an RBF SVM on
    standardised features: the reference the genre model must beat."""

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self._estimator: ClassifierMixin = make_pipeline(StandardScaler(), SVC(C=BASELINE_SVM_C))

    def descriptor(self, audio: np.ndarray) -> np.ndarray:
        return mfcc_statistics(audio, self.sample_rate)

    def fit_descriptors(self, descriptors: np.ndarray, labels: Sequence[str]) -> BaselineModel:
        self._estimator.fit(descriptors, list(labels))
        return self

    def predict_descriptors(self, descriptors: np.ndarray) -> list[str]:
        return [str(label) for label in self._estimator.predict(descriptors)]


def _grouped_folds(
    targets: np.ndarray, groups: np.ndarray, settings: GenreSettings
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Calibration folds that keep each track's windows together (stratified by genre)."""
    tracks = len(np.unique(groups))
    folds = StratifiedGroupKFold(
        n_splits=min(settings.calibration_folds, tracks), shuffle=True, random_state=settings.seed
    )
    return list(folds.split(np.zeros(len(targets)), targets, groups))
