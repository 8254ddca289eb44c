"""ingest -> train -> refresh on the Celery cluster: training and inference on the ``gpu``
worker, everything else on the ``default`` one; runs and registry on the MLflow server; the
text index in PostgreSQL."""

from __future__ import annotations

import pytest

from ops.catalog.store import read_catalog
from ops.predictions.store import PredictionsStore
from ops.tracking_store import AIRFLOW_TASK_TAG, CHAMPION_ALIAS
from tests.distributed.cluster import DEFAULT_WORKER, GPU_WORKER, Cluster
from tests.distributed.conftest import TINY_TRAINING, Pipeline

pytestmark = pytest.mark.distributed

ON_GPU = {("train_scene", "train"), ("catalog_refresh", "infer")}


def test_training_and_inference_run_on_the_gpu_worker_the_rest_on_the_default_one(
    cluster: Cluster, pipeline: Pipeline
) -> None:
    where: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for dag_id, run_id in vars(pipeline).items():
        for ran in cluster.tries(dag_id, run_id):
            if ran.hostname:  # skipped before it started: ran nowhere
                where.setdefault((dag_id, ran.task_id), set()).add((ran.hostname, ran.queue))

    assert set(where) >= ON_GPU
    for task, placed in where.items():
        expected = (GPU_WORKER, "gpu") if task in ON_GPU else (DEFAULT_WORKER, "default")
        assert placed == {expected}, task
    assert len(where) > len(ON_GPU) + 5  # crawl, merge, validate, version, features, plan ...


def test_the_mlflow_server_holds_the_training_run_and_the_registered_champion(
    cluster: Cluster, pipeline: Pipeline
) -> None:
    from mlflow import MlflowClient

    from ops.scene.tracking import load_scene_model

    client = MlflowClient(cluster.mlflow_url)
    champion = client.get_model_version_by_alias("scene", CHAMPION_ALIAS)
    assert str(champion.version) == "1" and champion.run_id
    run = client.get_run(champion.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags[AIRFLOW_TASK_TAG] == f"train_scene/{pipeline.train_scene}/train"
    assert run.data.tags["dataset_rev"] == champion.tags["dataset_rev"] == "labels/scene/v1"
    assert run.data.params["epochs"] == str(TINY_TRAINING["epochs"])
    assert "val_f1" in run.data.metrics
    assert {artifact.path for artifact in client.list_artifacts(run.info.run_id)} >= {
        "ablation.json",
        "plots",
    }
    # the artifacts live where the server keeps them, and come back through it
    assert any((cluster.root / "mlflow-artifacts").rglob("MLmodel"))
    model = load_scene_model(f"models:/scene@{CHAMPION_ALIAS}", cluster.mlflow_url)
    assert model.labels == ["kiss"]

    ledger = PredictionsStore(cluster.settings).read_ledger()
    scene = ledger[ledger["task"] == "scene"]
    assert not scene.empty and set(scene["model_version"]) == {"1"}  # refresh used it


def test_the_refresh_publishes_every_catalog_item_once_in_postgres(
    cluster: Cluster, pipeline: Pipeline
) -> None:
    catalog = read_catalog(cluster.settings.catalog_path)
    ok = set(catalog.loc[catalog["status"] == "ok", "item_id"])

    assert len(ok) > 10
    assert cluster.published_item_counts() == dict.fromkeys(ok, 1)
