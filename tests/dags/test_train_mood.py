"""train_mood through Airflow (dag.test) on a small generated picture folder: it versions
the folder, registers a mood version, and the gate keeps the champion on a tie."""

from __future__ import annotations

import json

import pytest

from ops.airflow_env import run_dag
from ops.mood.pipeline import generate_demo_data, mood_dir
from ops.settings import Settings

pytestmark = pytest.mark.slow

SMALL = {"folds": 3, "trees": 40}  # 6 pictures per mood: a 6-fold evaluation at most


def test_training_registers_promotes_and_a_tie_keeps_the_champion(home: Settings) -> None:
    from mlflow import MlflowClient

    from ops.dag_params import ParamsRefused

    with pytest.raises(ParamsRefused, match="classifier"):
        run_dag("train_mood", home, {"classifier": "svm"})
    assert not home.registry_dir.exists()  # refused before anything ran

    generate_demo_data(home, per_mood=6)
    run_dag("train_mood", home, SMALL)

    client = MlflowClient(home.tracking_uri)
    champion = client.get_model_version_by_alias("mood", "champion")
    assert str(champion.version) == "1"
    run = client.get_run(champion.run_id)
    assert run.data.tags["dataset_rev"] == "labels/mood/v1"
    assert run.data.tags["training_data"] == champion.tags["training_data"] == "generated"
    assert {"accuracy", "adjacent_accuracy"} <= set(run.data.metrics)
    assert (run.data.params["trees"], run.data.params["folds"]) == ("40", "3")
    dataset = run.inputs.dataset_inputs[0].dataset
    assert (dataset.name, dataset.source_type) == ("labels/mood/v1", "dvc")
    written = json.loads((mood_dir(home) / "train.json").read_text())
    assert written["registered"]["version"] == "1" and written["pictures"] == 48

    # Same data, same params: the challenger ties, so the gate keeps version 1.
    run_dag("train_mood", home, SMALL)
    assert str(client.get_model_version_by_alias("mood", "champion").version) == "1"
    latest = client.get_run(client.get_model_version("mood", "2").run_id)
    assert latest.data.tags["gate.decision"] == "refused"
    assert latest.data.tags["dataset_rev"] == "labels/mood/v1"  # unchanged folder, same rev
