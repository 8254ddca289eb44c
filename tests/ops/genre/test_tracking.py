"""The genre model in MLflow, against a real SQLite tracking store: the run, the version,
the champion gate, the pyfunc and the loader."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient

from ops.genre.dataset import TrackSet, featurise_folder
from ops.genre.evaluate import KFoldEvaluation, kfold_genres
from ops.genre.model import GenreModel
from ops.genre.predict import GenreClassifier
from ops.genre.standins import write_standin_folder
from ops.genre.tracking import GENRE_MODEL, load_genre_classifier, register_genre_model
from ops.sample_site.media import GENRES, make_music
from ops.tracking_store import RegisteredVersion, champion_ref, tracking_uri_context

pytest.importorskip("silero_vad", reason="the music gate needs silero-vad (pip install silero-vad)")

THREE = GENRES[:3]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TrackSet, KFoldEvaluation]:
    """A model trained on 3 generated genres x 4 tracks of 6 s, and its 4-fold scores."""
    root = tmp_path_factory.mktemp("genre")
    folder = write_standin_folder(root / "music", 4, seconds=6.0, genres=THREE)
    model = GenreModel()
    tracks = featurise_folder(folder, model)
    evaluation = kfold_genres(tracks, model.settings, folds=4)
    model.fit_features(tracks.features, tracks.genres)
    return model.save(root / "model.joblib"), tracks, evaluation


@pytest.fixture(scope="module")
def tracking_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


def register(
    trained: tuple[Path, TrackSet, KFoldEvaluation], tracking_uri: str, rev: str
) -> RegisteredVersion:
    path, tracks, evaluation = trained
    return register_genre_model(
        path,
        tracks,
        evaluation,
        dataset_rev=rev,
        training_data="generated",
        tracking_uri=tracking_uri,
        registry="/data/registry",
        params={"svm_c": 1.0},
    )


@pytest.fixture(scope="module")
def registered(
    trained: tuple[Path, TrackSet, KFoldEvaluation], tracking_uri: str
) -> tuple[RegisteredVersion, RegisteredVersion]:
    """The same model registered twice on one dataset revision."""
    return register(trained, tracking_uri, "labels/genre/v1"), register(
        trained, tracking_uri, "labels/genre/v1"
    )


def test_the_first_version_is_champion_and_a_tie_keeps_it(
    registered: tuple[RegisteredVersion, RegisteredVersion], tracking_uri: str
) -> None:
    first, second = registered
    assert (first.version, first.promoted) == ("1", True)
    assert (second.version, second.promoted) == ("2", False)
    assert "does not beat champion version 1" in second.reason
    assert second.champion_score == first.metrics["accuracy"]
    assert champion_ref(tracking_uri, GENRE_MODEL) == ("1", "labels/genre/v1", "generated")
    client = MlflowClient(tracking_uri)
    assert client.get_model_version(GENRE_MODEL, "2").tags["gate.decision"] == "refused"


def test_the_run_records_data_params_and_scores(
    registered: tuple[RegisteredVersion, RegisteredVersion],
    trained: tuple[Path, TrackSet, KFoldEvaluation],
    tracking_uri: str,
) -> None:
    first, _ = registered
    evaluation = trained[2]
    client = MlflowClient(tracking_uri)
    run = client.get_run(first.run_id)
    assert client.get_experiment(run.info.experiment_id).name == "genre"
    assert run.data.tags["dataset_rev"] == "labels/genre/v1"
    assert run.data.tags["training_data"] == "generated"
    version = client.get_model_version(GENRE_MODEL, "1")
    assert version.tags["training_data"] == "generated"
    assert "generated stand-ins" in version.description
    assert run.data.metrics["accuracy"] == evaluation.accuracy
    assert run.data.metrics["baseline_accuracy"] == evaluation.baseline_accuracy
    assert run.data.params["genres"] == ",".join(sorted(THREE))
    assert (run.data.params["folds"], run.data.params["svm_c"]) == ("4", "1.0")
    dataset = run.inputs.dataset_inputs[0].dataset
    assert (dataset.name, dataset.source_type) == ("labels/genre/v1", "dvc")
    assert json.loads(dataset.profile)["num_rows"] == 12
    with tracking_uri_context(tracking_uri):
        evaluation_file = mlflow.artifacts.load_dict(f"runs:/{first.run_id}/evaluation.json")
    assert evaluation_file["fold_accuracies"] == evaluation.fold_accuracies


def test_a_champion_of_another_revision_is_rescored_on_this_one(
    registered: tuple[RegisteredVersion, RegisteredVersion],
    trained: tuple[Path, TrackSet, KFoldEvaluation],
    tracking_uri: str,
) -> None:
    """The champion has seen every track it is re-scored on: the challenger's k-fold
    accuracy must beat that, and here does not."""
    third = register(trained, tracking_uri, "labels/genre/v2")
    assert not third.promoted
    assert "champion re-evaluated on labels/genre/v2" in third.reason
    assert third.champion_score is not None and third.champion_score >= third.metrics["accuracy"]


def test_the_champion_loads_and_classifies_a_new_track(
    registered: tuple[RegisteredVersion, RegisteredVersion], tracking_uri: str, tmp_path: Path
) -> None:
    classifier = load_genre_classifier(f"models:/{GENRE_MODEL}@champion", tracking_uri)
    assert isinstance(classifier, GenreClassifier)
    song = tmp_path / "new.wav"
    song.write_bytes(make_music(99, seed=5, genre="ragtime", seconds=6.0, container="wav"))
    answer = classifier.classify_file(song)
    assert answer.music and answer.genre in THREE
    assert set(answer.probabilities) == set(THREE)


def test_the_pyfunc_answers_per_row_and_names_an_unreadable_file(
    registered: tuple[RegisteredVersion, RegisteredVersion], tracking_uri: str, tmp_path: Path
) -> None:
    song = tmp_path / "song.wav"
    song.write_bytes(make_music(98, seed=5, genre="baroque", seconds=6.0, container="wav"))
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x10\x00\x00\x00WAVE" + bytes(64))
    with tracking_uri_context(tracking_uri):
        model = mlflow.pyfunc.load_model(f"models:/{GENRE_MODEL}/1")
    out = model.predict(pd.DataFrame({"path": [str(song), str(broken)]}))
    assert list(out.columns) == ["path", "music", "genre", "probabilities", "error"]
    good, bad = out.to_dict("records")
    assert good["music"] and good["genre"] in THREE and pd.isna(good["error"])
    assert not bad["music"] and pd.isna(bad["genre"]) and bad["probabilities"] == {}
    assert "broken.wav" in bad["error"]


def test_no_champion_without_a_store_or_a_version(tmp_path: Path, tracking_uri: str) -> None:
    missing = f"sqlite:///{tmp_path / 'none' / 'mlflow.db'}"
    assert champion_ref(missing, GENRE_MODEL) is None
    assert not (tmp_path / "none").exists()
    assert champion_ref(tracking_uri, "never-registered") is None
