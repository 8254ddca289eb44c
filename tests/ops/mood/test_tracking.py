"""The mood model in MLflow, against a real SQLite tracking store: the run, the version,
the champion gate, the pyfunc and the loader."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from PIL import Image

from ops.mood.circle import MOODS
from ops.mood.dataset import MoodDataset, folder_dataset
from ops.mood.model import MoodEvaluation, MoodModel, cross_validate
from ops.mood.params import MoodModelSettings
from ops.mood.standins import standin_image, write_standin_folder
from ops.mood.tracking import MOOD_MODEL, load_mood_model, register_mood_model
from ops.tracking_store import RegisteredVersion, champion_ref, tracking_uri_context

FAST = MoodModelSettings(trees=40)
Trained = tuple[Path, Path, MoodDataset, MoodEvaluation]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """A model trained on 8 moods x 6 generated pictures, and its 3-fold scores."""
    root = tmp_path_factory.mktemp("mood")
    folder = write_standin_folder(root / "pictures", 6)
    dataset = folder_dataset(folder).model_copy(update={"training_data": "generated"})
    evaluation = cross_validate(dataset, FAST, folds=3)
    path = MoodModel(FAST).fit(dataset).save(root / "model.joblib")
    return path, folder, dataset, evaluation


@pytest.fixture(scope="module")
def tracking_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


def register(trained: Trained, tracking_uri: str, rev: str) -> RegisteredVersion:
    path, folder, dataset, evaluation = trained
    return register_mood_model(
        path,
        dataset,
        evaluation,
        folder=folder,
        dataset_rev=rev,
        tracking_uri=tracking_uri,
        registry="/data/registry",
        params=FAST.model_dump(),
    )


@pytest.fixture(scope="module")
def registered(trained: Trained, tracking_uri: str) -> tuple[RegisteredVersion, RegisteredVersion]:
    """The same model registered twice on one dataset revision."""
    first = register(trained, tracking_uri, "labels/mood/v1")
    return first, register(trained, tracking_uri, "labels/mood/v1")


def test_the_first_version_is_champion_and_a_tie_keeps_it(
    registered: tuple[RegisteredVersion, RegisteredVersion], tracking_uri: str
) -> None:
    first, second = registered
    assert (first.version, first.promoted) == ("1", True)
    assert (second.version, second.promoted) == ("2", False)
    assert "does not beat champion version 1" in second.reason
    assert champion_ref(tracking_uri, MOOD_MODEL) == ("1", "labels/mood/v1", "generated")


def test_the_run_records_data_params_and_both_accuracies(
    registered: tuple[RegisteredVersion, RegisteredVersion], trained: Trained, tracking_uri: str
) -> None:
    evaluation = trained[3]
    client = MlflowClient(tracking_uri)
    run = client.get_run(registered[0].run_id)
    assert client.get_experiment(run.info.experiment_id).name == "mood"
    assert (run.data.tags["dataset_rev"], run.data.tags["training_data"]) == (
        "labels/mood/v1",
        "generated",
    )
    assert client.get_model_version(MOOD_MODEL, "1").tags["training_data"] == "generated"
    assert run.data.metrics["accuracy"] == evaluation.accuracy
    assert run.data.metrics["adjacent_accuracy"] == evaluation.adjacent_accuracy
    assert run.data.metrics["adjacent_accuracy"] >= run.data.metrics["accuracy"]
    assert {f"recall_{mood}" for mood in MOODS} <= set(run.data.metrics)
    assert (run.data.params["folds"], run.data.params["trees"]) == ("3", "40")
    dataset = run.inputs.dataset_inputs[0].dataset
    assert (dataset.name, dataset.source_type) == ("labels/mood/v1", "dvc")


def test_a_champion_of_another_revision_is_rescored_on_this_one(
    registered: tuple[RegisteredVersion, RegisteredVersion], trained: Trained, tracking_uri: str
) -> None:
    third = register(trained, tracking_uri, "labels/mood/v2")
    assert "champion re-evaluated on labels/mood/v2" in third.reason
    assert third.champion_score is not None and third.champion_score >= third.metrics["accuracy"]
    assert not third.promoted


def test_the_champion_loads_and_predicts_a_new_picture(
    registered: tuple[RegisteredVersion, RegisteredVersion], tracking_uri: str
) -> None:
    model = load_mood_model(f"models:/{MOOD_MODEL}@champion", tracking_uri)
    assert isinstance(model, MoodModel) and model.info is not None
    assert model.info.training_data == "generated"
    picture = standin_image("serene", 500, seed=9)
    probabilities = model.predict_proba([picture])
    assert probabilities.shape == (1, len(MOODS)) and np.isclose(probabilities.sum(), 1.0)


def test_the_pyfunc_answers_per_row_and_names_an_unreadable_picture(
    registered: tuple[RegisteredVersion, RegisteredVersion], tracking_uri: str, tmp_path: Path
) -> None:
    picture = tmp_path / "calm.png"
    Image.fromarray(standin_image("calm", 501, seed=9)).save(picture)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff" + bytes(40))
    with tracking_uri_context(tracking_uri):
        model = mlflow.pyfunc.load_model(f"models:/{MOOD_MODEL}/1")
    out = model.predict(pd.DataFrame({"path": [str(picture), str(broken)]}))
    assert list(out.columns) == ["path", "mood", "confidence", "probabilities", "error"]
    good, bad = out.to_dict("records")
    assert good["mood"] in MOODS and good["confidence"] == max(good["probabilities"].values())
    assert set(good["probabilities"]) == set(MOODS) and pd.isna(good["error"])
    assert pd.isna(bad["mood"]) and bad["probabilities"] == {} and "broken.jpg" in bad["error"]
