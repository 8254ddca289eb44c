"""The genre model: fit, per-track probabilities, save and load; its settings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from ops.genre.model import GenreModel, ModelNotFound
from ops.genre.params import GenreSettings
from tests.ops.genre.synth import GENRES, track


@pytest.fixture(scope="module")
def fitted() -> GenreModel:
    tracks = [track(genre, seed) for genre in GENRES for seed in range(3)]
    labels = [genre for genre in GENRES for _ in range(3)]
    return GenreModel().fit(tracks, labels)


def test_a_separable_set_is_learned_track_by_track(fitted: GenreModel) -> None:
    unseen = [track(genre, 90 + number) for number, genre in enumerate(GENRES)]
    probabilities = fitted.predict_proba(unseen)
    assert fitted.labels == tuple(sorted(GENRES))
    assert probabilities.shape == (3, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, atol=1e-6)
    assert fitted.predict(unseen) == list(GENRES)


def test_a_track_is_the_mean_of_its_windows(fitted: GenreModel) -> None:
    audio = track("march", 7, seconds=9.0)
    windows = fitted.window_probabilities(fitted.features(audio))
    assert windows.shape == (5, 3)
    np.testing.assert_allclose(fitted.predict_proba([audio])[0], windows.mean(axis=0))


def test_save_and_load_give_the_same_answers(fitted: GenreModel, tmp_path: Path) -> None:
    path = fitted.save(tmp_path / "deep" / "genre.joblib")
    loaded = GenreModel.load(path)
    audio = [track("flute", 42)]
    assert loaded.labels == fitted.labels and loaded.settings == fitted.settings
    np.testing.assert_allclose(loaded.predict_proba(audio), fitted.predict_proba(audio))
    assert [p.name for p in path.parent.iterdir()] == ["genre.joblib"]  # no temporary left


def test_a_missing_or_foreign_model_says_how_to_train_one(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound, match=r"no genre model at .*genre train --data"):
        GenreModel.load(tmp_path / "none.joblib")
    garbage = tmp_path / "garbage.joblib"
    garbage.write_bytes(b"\x00not a pickle")
    with pytest.raises(ModelNotFound, match="not a readable genre model"):
        GenreModel.load(garbage)


def test_training_needs_two_genres_and_a_trained_model_to_predict() -> None:
    with pytest.raises(ValueError, match="at least two genres"):
        GenreModel().fit([track("flute", 0), track("flute", 1)], ["flute", "flute"])
    with pytest.raises(RuntimeError, match="not trained"):
        GenreModel().predict_proba([track("flute", 0)])


def test_settings_are_checked_and_frozen() -> None:
    with pytest.raises(ValidationError, match="hop_s"):
        GenreSettings(window_s=2.0, hop_s=3.0)
    with pytest.raises(ValidationError, match="distinct"):
        GenreSettings(classifiers=("svm", "svm"))
    with pytest.raises(ValidationError):
        GenreSettings.model_validate({"classifiers": ["knn"]})
    settings = GenreSettings()
    with pytest.raises(ValidationError, match="frozen"):
        settings.__setattr__("window_s", 5.0)


@pytest.mark.parametrize(
    "classifiers", [("logreg",), ("extra_trees",), ("hist_gradient_boosting",)]
)
def test_every_candidate_classifier_trains(classifiers: tuple[str, ...]) -> None:
    settings = GenreSettings.model_validate({"classifiers": classifiers, "trees": 20})
    tracks = [track(genre, seed, seconds=4.5) for genre in GENRES for seed in range(2)]
    labels = [genre for genre in GENRES for _ in range(2)]
    model = GenreModel(settings).fit(tracks, labels)
    assert model.predict([track("chorale", 77, seconds=4.5)]) == ["chorale"]
