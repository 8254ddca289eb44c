"""train_genre through Airflow (dag.test) on a small generated music folder: it versions
the folder, registers a genre version, and the gate keeps the champion on a tie."""

from __future__ import annotations

import json

import pytest

from ops.airflow_env import run_dag
from ops.genre.pipeline import generate_demo_data, genre_dir
from ops.sample_site.media import GENRES
from ops.settings import Settings

pytestmark = pytest.mark.slow

SMALL = {"folds": 4, "svm_c": 2.0}  # 4 tracks per genre: a 4-fold evaluation at most


def test_training_registers_promotes_and_a_tie_keeps_the_champion(home: Settings) -> None:
    from mlflow import MlflowClient

    from ops.dag_params import ParamsRefused

    with pytest.raises(ParamsRefused, match="folds"):
        run_dag("train_genre", home, {"folds": 1})
    assert not home.registry_dir.exists()  # refused before anything ran

    generate_demo_data(home, per_genre=4, seconds=6.0, genres=GENRES[:3])
    run_dag("train_genre", home, SMALL)

    client = MlflowClient(home.tracking_uri)
    champion = client.get_model_version_by_alias("genre", "champion")
    assert str(champion.version) == "1"
    run = client.get_run(champion.run_id)
    assert run.data.tags["dataset_rev"] == "labels/genre/v1"
    assert run.data.tags["training_data"] == champion.tags["training_data"] == "generated"
    assert {"accuracy", "baseline_accuracy"} <= set(run.data.metrics)
    assert (run.data.params["svm_c"], run.data.params["folds"]) == ("2.0", "4")
    dataset = run.inputs.dataset_inputs[0].dataset
    assert (dataset.name, dataset.source_type) == ("labels/genre/v1", "dvc")
    written = json.loads((genre_dir(home) / "train.json").read_text())
    assert written["registered"]["version"] == "1" and written["tracks"] == 12

    # Same data, same params: the challenger ties, so the gate keeps version 1.
    run_dag("train_genre", home, SMALL)
    assert str(client.get_model_version_by_alias("genre", "champion").version) == "1"
    latest = client.get_run(client.get_model_version("genre", "2").run_id)
    assert latest.data.tags["gate.decision"] == "refused"
    assert latest.data.tags["dataset_rev"] == "labels/genre/v1"  # unchanged folder, same rev
