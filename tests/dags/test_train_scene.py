"""scene_labels -> train_scene through Airflow (dag.test) on a small generated dataset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ops.airflow_env import run_dag
from ops.scene.pipeline import generate_demo_labels, scene_dir
from ops.settings import Settings

pytestmark = pytest.mark.slow

SMALL = """scene:
  labels: [kiss]
  frames_per_segment: 1
  image_size: 32
  width_multiplier: 0.125
  epochs: 2
  batch_size: 16
  ablation: false
"""


@pytest.fixture
def labelled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A data root with small training params and a versioned generated dataset."""
    params = tmp_path / "params.yaml"
    params.write_text(SMALL)
    monkeypatch.setenv("CINESCOPE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CINESCOPE_SCENE_PARAMS_FILE", str(params))
    settings = Settings()
    generate_demo_labels(settings, titles=6)
    run_dag("scene_labels", settings)
    return settings


def test_labels_then_training_registers_and_promotes(labelled: Settings) -> None:
    from mlflow import MlflowClient

    settings = labelled
    run_dag("train_scene", settings)

    client = MlflowClient(settings.tracking_uri)
    champion = client.get_model_version_by_alias("scene", "champion")
    assert str(champion.version) == "1"
    run = client.get_run(champion.run_id)
    assert run.data.tags["dataset_rev"] == "labels/scene/v1"
    assert run.data.tags["training_data"] == champion.tags["training_data"] == "generated"
    assert "val_f1" in run.data.metrics and "decision_threshold_kiss" in run.data.metrics
    assert (scene_dir(settings) / "metrics.json").is_file()

    # Same data, same seed: the challenger ties, so the gate keeps version 1.
    run_dag("train_scene", settings)
    assert str(client.get_model_version_by_alias("scene", "champion").version) == "1"
    latest = client.get_run(client.get_model_version("scene", "2").run_id)
    assert latest.data.tags["gate.decision"] == "refused"


def test_a_manual_runs_params_reach_its_mlflow_run_and_bad_ones_run_nothing(
    labelled: Settings,
) -> None:
    from airflow.sdk.exceptions import ParamValidationError
    from mlflow import MlflowClient

    from ops.airflow_env import load_dag
    from ops.dag_params import ParamsRefused
    from ops.scene.params import TrainParams

    settings = labelled

    with pytest.raises(ParamsRefused, match="at least one of use_frames and use_audio"):
        run_dag("train_scene", settings, {"use_frames": False, "use_audio": False})
    dag = load_dag("train_scene")
    assert set(dag.params) == set(TrainParams.model_fields)  # the UI's trigger form
    with pytest.raises(ParamValidationError, match="epochs"):  # Airflow checks the schema too
        dag.test(run_conf={"epochs": 0})
    assert not (scene_dir(settings) / "prepared").exists()

    run_dag("train_scene", settings, {"epochs": 1, "lr": 0.002, "seed": 7, "ablation": True})

    client = MlflowClient(settings.tracking_uri)
    champion = client.get_model_version_by_alias("scene", "champion")
    run = client.get_run(champion.run_id)
    given = {"epochs": "1", "lr": "0.002", "seed": "7", "ablation": "True"}
    assert {key: run.data.params[key] for key in given} == given
    assert run.data.params["image_size"] == "32"  # the rest from the params file
    dataset = run.inputs.dataset_inputs[0].dataset
    assert (dataset.name, dataset.source_type) == ("labels/scene/v1", "dvc")
    assert json.loads(dataset.source)["rev"] == "labels/scene/v1"
    children = client.search_runs(
        [run.info.experiment_id], f"tags.mlflow.parentRunId = '{run.info.run_id}'"
    )
    assert sorted(child.info.run_name for child in children) == ["audio", "both", "frames"]
    assert all("val_f1" in child.data.metrics for child in children)
