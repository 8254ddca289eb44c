"""The image-mood model: it learns the stand-ins, says what it learnt from, saves and loads."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pytest

from ops.mood.circle import MOODS
from ops.mood.dataset import MoodDataset, generated_dataset
from ops.mood.model import (
    MoodModel,
    MoodModelError,
    MoodModelSettings,
    classify_pictures,
    cross_validate,
)
from ops.mood.standins import standin_image, standin_images, write_standin_folder

FAST = MoodModelSettings(trees=60)


@pytest.fixture(scope="module")
def dataset() -> MoodDataset:
    return generated_dataset(20, seed=0, size=(96, 72))


@pytest.fixture(scope="module")
def model(dataset: MoodDataset) -> MoodModel:
    return MoodModel(FAST).fit(dataset)


@pytest.mark.parametrize("classifier", ["forest", "logistic"])
def test_k_fold_accuracy_is_well_above_chance_and_near_misses_count(
    dataset: MoodDataset, classifier: str
) -> None:
    settings = FAST.model_copy(update={"classifier": classifier})
    evaluation = cross_validate(dataset, settings, folds=4)
    assert evaluation.images == 160 and evaluation.folds == 4
    assert evaluation.chance_accuracy == 0.125 and evaluation.chance_adjacent_accuracy == 0.375
    assert evaluation.accuracy > 0.5
    assert evaluation.adjacent_accuracy >= evaluation.accuracy
    assert evaluation.adjacent_accuracy > 0.9
    assert sum(map(sum, evaluation.confusion)) == 160
    assert evaluation.training_data == "generated"
    assert evaluation.mean_steps < 0.6


def test_too_few_pictures_per_mood_for_the_folds_is_refused(dataset: MoodDataset) -> None:
    with pytest.raises(ValueError, match="needs at least 30 pictures of each mood"):
        cross_validate(dataset, FAST, folds=30)


def test_predictions_on_unseen_stand_ins(model: MoodModel) -> None:
    pictures = [picture for _, _, picture in standin_images(3, seed=99, size=(96, 72))]
    truth = [mood for _, mood, _ in standin_images(3, seed=99, size=(96, 72))]
    probabilities = model.predict_proba(pictures)
    assert probabilities.shape == (24, 8)
    assert np.allclose(probabilities.sum(axis=1), 1.0)
    predictions = model.predict(pictures)
    assert sum(p.mood == mood for p, mood in zip(predictions, truth, strict=True)) >= 12
    for prediction, row in zip(predictions, probabilities, strict=True):
        assert prediction.confidence == pytest.approx(row.max())
        assert MOODS[int(row.argmax())] == prediction.mood


def test_the_model_records_that_it_learnt_from_generated_stand_ins(model: MoodModel) -> None:
    assert model.info is not None
    assert model.info.name == "mood"
    assert model.info.training_data == "generated"
    assert model.info.trained_on.startswith("generated stand-ins")
    assert model.info.images == 160
    assert set(model.info.per_mood.values()) == {20}


def test_save_and_load_give_the_same_model(model: MoodModel, tmp_path: Path) -> None:
    path = model.save(tmp_path / "models" / "mood.joblib")
    assert [p.name for p in path.parent.iterdir()] == ["mood.joblib"]  # no temporary left
    loaded = MoodModel.load(path)
    pictures = [standin_image(mood, 0, seed=5) for mood in MOODS]
    assert np.array_equal(loaded.predict_proba(pictures), model.predict_proba(pictures))
    assert loaded.info == model.info
    assert loaded.settings == FAST


def test_load_refuses_what_is_not_a_usable_mood_model(model: MoodModel, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.joblib"
    garbage.write_bytes(b"not a pickle")
    with pytest.raises(MoodModelError, match="not a readable mood model"):
        MoodModel.load(garbage)
    other = tmp_path / "other.joblib"
    joblib.dump({"name": "genre"}, other)
    with pytest.raises(MoodModelError, match="not a mood model"):
        MoodModel.load(other)
    stale = tmp_path / "stale.joblib"
    payload = joblib.load(model.save(tmp_path / "mood.joblib"))
    payload["info"]["features_version"] = 0
    joblib.dump(payload, stale)
    with pytest.raises(MoodModelError, match=r"features version 0.*retrain"):
        MoodModel.load(stale)
    with pytest.raises(FileNotFoundError):
        MoodModel.load(tmp_path / "missing.joblib")


def test_an_unfitted_model_says_so() -> None:
    with pytest.raises(RuntimeError, match="not fitted"):
        MoodModel().predict_proba([standin_image("sad", 0)])
    with pytest.raises(RuntimeError, match="only a fitted"):
        MoodModel().save(Path("never.joblib"))


def test_a_mood_missing_from_training_gets_probability_zero(dataset: MoodDataset) -> None:
    keep = [index for index, mood in enumerate(dataset.moods) if mood != "sad"]
    partial = MoodDataset(
        image_ids=tuple(dataset.image_ids[i] for i in keep),
        moods=tuple(dataset.moods[i] for i in keep),
        features=dataset.features[keep],
        training_data="generated",
        source="generated stand-ins without sad",
    )
    model = MoodModel(FAST).fit(partial)
    probabilities = model.predict_proba([standin_image("sad", 0)])
    assert probabilities[0, MOODS.index("sad")] == 0.0
    assert model.info is not None and model.info.per_mood["sad"] == 0


def test_classifying_files_skips_unreadable_ones_with_the_reason(
    model: MoodModel, tmp_path: Path
) -> None:
    folder = write_standin_folder(tmp_path / "pictures", 1, seed=4, size=(96, 72))
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not a picture")
    pictures = [(path.stem, path) for path in sorted(folder.rglob("*.png"))]
    result = classify_pictures(model, [*pictures, ("broken", broken)], batch=3)
    assert [found.image_id for found in result.pictures] == [name for name, _ in pictures]
    assert set(result.skipped) == {"broken"}
    assert "not a readable picture" in result.skipped["broken"]
    assert all(0 < found.confidence <= 1 for found in result.pictures)
