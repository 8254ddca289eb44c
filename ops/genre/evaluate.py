"""The genre model measured against the MFCC + SVM baseline, on the same tracks in one run.

``evaluate_genres`` trains on one labelled folder and tests on another
(``cinescope genre evaluate``); ``kfold_genres`` runs a stratified k-fold over the tracks
of one folder (the benchmark's model selection). Both split by track, so windows of one
track are never on both sides, and score per track: a track is right when the mean of
its window probabilities ranks its genre first.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict
from sklearn.model_selection import StratifiedKFold

from ops.genre.dataset import TrackSet, featurise_folder
from ops.genre.model import BaselineModel, GenreModel
from ops.genre.params import GenreSettings


class GenreScores(BaseModel):
    """Track accuracy and per-genre recall (the share of a genre's tracks found)."""

    model_config = ConfigDict(frozen=True)

    accuracy: float
    per_genre: dict[str, float]


class GenreEvaluation(BaseModel):
    """One train/test run of the model and the baseline (``genre evaluate --json``)."""

    model_config = ConfigDict(frozen=True)

    accuracy: float
    per_genre: dict[str, float]
    baseline_accuracy: float
    baseline_per_genre: dict[str, float]
    genres: list[str]
    train_tracks: int
    test_tracks: int
    train_windows: int
    test_windows: int
    unreadable: dict[str, str]
    classifiers: list[str]
    window_s: float
    hop_s: float
    seconds: float


class KFoldEvaluation(BaseModel):
    """A stratified k-fold over the tracks of one folder, model and baseline side by side."""

    model_config = ConfigDict(frozen=True)

    classifiers: list[str]
    folds: int
    seed: int
    tracks: int
    accuracy: float
    per_genre: dict[str, float]
    fold_accuracies: list[float]
    baseline_accuracy: float
    baseline_per_genre: dict[str, float]
    baseline_fold_accuracies: list[float]
    seconds: float


def evaluate_genres(
    train_dir: Path, test_dir: Path, settings: GenreSettings | None = None
) -> GenreEvaluation:
    """Train the model and the baseline on ``train_dir``, score both on ``test_dir``."""
    started = time.perf_counter()
    model = GenreModel(settings)
    train = featurise_folder(train_dir, model)
    test = featurise_folder(test_dir, model)
    unknown = sorted(set(test.genres) - set(train.genres))
    if unknown:
        raise ValueError(
            f"{test_dir} has genres the training folder lacks: {', '.join(unknown)} "
            f"(trained genres: {', '.join(sorted(set(train.genres)))})"
        )
    guesses, reference = _fit_and_guess(model, train, test)
    scores, baseline = _scores(test.genres, guesses), _scores(test.genres, reference)
    unreadable = {f"{train_dir.name}/{k}": v for k, v in train.unreadable.items()}
    unreadable |= {f"{test_dir.name}/{k}": v for k, v in test.unreadable.items()}
    return GenreEvaluation(
        accuracy=scores.accuracy,
        per_genre=scores.per_genre,
        baseline_accuracy=baseline.accuracy,
        baseline_per_genre=baseline.per_genre,
        genres=list(model.labels),
        train_tracks=len(train),
        test_tracks=len(test),
        train_windows=train.windows,
        test_windows=test.windows,
        unreadable=unreadable,
        classifiers=list(model.settings.classifiers),
        window_s=model.settings.window_s,
        hop_s=model.settings.hop_s,
        seconds=round(time.perf_counter() - started, 2),
    )


def track_folds(
    genres: Sequence[str], folds: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified folds of track indices: each track is tested in exactly one fold."""
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(genres)), list(genres)))


def kfold_genres(
    tracks: TrackSet,
    settings: GenreSettings | None = None,
    *,
    folds: int = 5,
    seed: int = 0,
) -> KFoldEvaluation:
    """Train and score the model and the baseline on each fold of ``tracks``; the scores
    pool every fold's test tracks."""
    started = time.perf_counter()
    chosen = settings or GenreSettings()
    truth: list[str] = []
    predicted: list[str] = []
    reference: list[str] = []
    fold_scores: list[float] = []
    baseline_scores: list[float] = []
    for train_index, test_index in track_folds(tracks.genres, folds, seed):
        train, test = tracks.subset(train_index), tracks.subset(test_index)
        guesses, baseline_guesses = _fit_and_guess(GenreModel(chosen), train, test)
        fold_scores.append(_scores(test.genres, guesses).accuracy)
        baseline_scores.append(_scores(test.genres, baseline_guesses).accuracy)
        truth += test.genres
        predicted += guesses
        reference += baseline_guesses
    scores = _scores(truth, predicted)
    baseline = _scores(truth, reference)
    return KFoldEvaluation(
        classifiers=list(chosen.classifiers),
        folds=folds,
        seed=seed,
        tracks=len(tracks),
        accuracy=scores.accuracy,
        per_genre=scores.per_genre,
        fold_accuracies=fold_scores,
        baseline_accuracy=baseline.accuracy,
        baseline_per_genre=baseline.per_genre,
        baseline_fold_accuracies=baseline_scores,
        seconds=round(time.perf_counter() - started, 2),
    )


def _fit_and_guess(
    model: GenreModel, train: TrackSet, test: TrackSet
) -> tuple[list[str], list[str]]:
    """Fit ``model`` and the baseline on ``train``; each one's guess for every test track."""
    model.fit_features(train.features, train.genres)
    probabilities = model.predict_proba_features(test.features)
    guesses = [model.labels[row] for row in probabilities.argmax(axis=1)]
    baseline = BaselineModel(model.settings.sample_rate)
    baseline.fit_descriptors(train.descriptors, train.genres)
    return guesses, baseline.predict_descriptors(test.descriptors)


def _scores(truth: Sequence[str], guesses: Sequence[str]) -> GenreScores:
    """Accuracy over tracks and recall per true genre, rounded to four places."""
    right = np.asarray(truth) == np.asarray(guesses)
    per_genre = {
        genre: round(float(right[np.asarray(truth) == genre].mean()), 4)
        for genre in sorted(set(truth))
    }
    return GenreScores(accuracy=round(float(right.mean()), 4), per_genre=per_genre)
