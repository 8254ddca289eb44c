"""Train/test evaluation against the baseline, and splits that never leak a track."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from ops.genre.dataset import featurise_folder
from ops.genre.evaluate import evaluate_genres, kfold_genres, track_folds
from ops.genre.model import GenreModel
from tests.ops.genre.synth import RATE, write


def test_a_separable_synthetic_set_is_learned(genre_dirs: tuple[Path, Path]) -> None:
    result = evaluate_genres(*genre_dirs)
    assert result.accuracy == 1.0
    assert result.per_genre == {"chorale": 1.0, "flute": 1.0, "march": 1.0}
    assert set(result.baseline_per_genre) == set(result.per_genre)
    assert 0 <= result.baseline_accuracy <= 1
    assert (result.train_tracks, result.test_tracks) == (12, 6)
    assert result.test_windows == 6 * 3  # 6-s tracks: windows at 0, 1.5 and 3 s


def test_unreadable_tracks_are_skipped_with_their_reason(
    genre_dirs: tuple[Path, Path], tmp_path: Path
) -> None:
    test = shutil.copytree(genre_dirs[1], tmp_path / "test")
    (test / "flute" / "broken.wav").write_bytes(b"RIFF....WAVEfmt garbage")
    result = evaluate_genres(genre_dirs[0], test)
    assert result.test_tracks == 6
    assert list(result.unreadable) == ["test/flute/broken.wav"]


def test_genres_unknown_to_training_are_refused(
    genre_dirs: tuple[Path, Path], tmp_path: Path
) -> None:
    test = shutil.copytree(genre_dirs[1], tmp_path / "test")
    (test / "flute").rename(test / "polka")
    with pytest.raises(ValueError, match="genres the training folder lacks: polka"):
        evaluate_genres(genre_dirs[0], test)


def test_each_track_is_tested_in_exactly_one_fold() -> None:
    genres = [g for g in ("a", "b", "c") for _ in range(5)]
    folds = track_folds(genres, 5, seed=0)
    tested = np.concatenate([test for _, test in folds])
    assert sorted(tested.tolist()) == list(range(15))
    for train, test in folds:
        assert not set(train) & set(test)
        assert sorted(genres[i] for i in test) == ["a", "b", "c"]  # stratified


def test_kfold_splits_by_track_so_track_identity_cannot_leak(tmp_path: Path) -> None:
    """Each track is its own texture and its label is random: a model that saw windows of
    a test track scores far above chance; split by track, it cannot."""
    rng = np.random.default_rng(0)
    for number in range(16):
        t = np.arange(4 * RATE) / RATE
        tone = np.sin(2 * np.pi * rng.uniform(150, 3000) * t)
        noise = rng.normal(0, rng.uniform(0.05, 0.5), t.size)
        audio = (0.3 * (tone + noise) / np.abs(tone + noise).max()).astype(np.float32)
        write(tmp_path / "ab"[number % 2] / f"{number}.wav", audio)
    tracks = featurise_folder(tmp_path, GenreModel())
    leaky = GenreModel().fit_features(tracks.features, tracks.genres)
    seen = leaky.predict_proba_features(tracks.features).argmax(axis=1)
    assert np.mean(np.asarray(leaky.labels)[seen] == np.asarray(tracks.genres)) == 1.0
    assert kfold_genres(tracks, folds=4, seed=0).accuracy <= 0.75
