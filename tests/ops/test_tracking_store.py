"""A damaged embedded MLflow store is refused, never silently re-created empty; a retried
training task leaves one registered version."""

from __future__ import annotations

import sqlite3

import pytest

from ops.refresh.tasks import SceneTask
from ops.settings import Settings
from ops.tracking_store import (
    AIRFLOW_TASK_TAG,
    TrackingStoreBroken,
    airflow_task,
    default_artifact_location,
    discard_interrupted_tries,
    ensure_experiment,
    require_intact_store,
    training_tags,
)


@pytest.mark.parametrize(("content", "what"), [(b"", "is empty (0 bytes)"), (b"junk", "not a")])
def test_empty_or_foreign_store_is_refused_and_left_as_it_is(
    home: Settings, content: bytes, what: str
) -> None:
    store = home.mlflow_dir / "mlflow.db"
    store.parent.mkdir(parents=True)
    store.write_bytes(content)

    with pytest.raises(TrackingStoreBroken) as raised:
        SceneTask().current_model(home)  # what refresh asks first

    assert str(store) in str(raised.value) and what in str(raised.value)
    assert "restore" in str(raised.value)
    assert store.read_bytes() == content


def test_missing_or_sqlite_store_is_accepted(home: Settings) -> None:
    require_intact_store(home.tracking_uri)  # not created yet: a new store
    home.mlflow_dir.mkdir(parents=True)
    sqlite3.connect(home.mlflow_dir / "mlflow.db").execute("create table t (x)").connection.close()
    require_intact_store(home.tracking_uri)
    require_intact_store("http://mlflow.internal:5000")


def test_a_retried_airflow_task_discards_only_what_its_interrupted_tries_registered(
    home: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient

    uri = home.tracking_uri
    home.mlflow_dir.mkdir(parents=True)
    client = MlflowClient(uri)
    experiment = ensure_experiment(client, "genre", default_artifact_location(uri))
    client.create_registered_model("genre")

    def registered(run_tags: dict[str, str], status: str) -> str:
        run = client.create_run(experiment, tags=run_tags)
        if status != "RUNNING":
            client.set_terminated(run.info.run_id, status)
        source = f"{run.info.artifact_uri}/model"
        return str(client.create_model_version("genre", source, run.info.run_id).version)

    assert airflow_task() is None and training_tags() == {}
    task = {"DAG_ID": "train_genre", "DAG_RUN_ID": "manual__1", "TASK_ID": "train"}
    for key, value in task.items():
        monkeypatch.setenv(f"AIRFLOW_CTX_{key}", value)
    assert training_tags() == {AIRFLOW_TASK_TAG: "train_genre/manual__1/train"}
    interrupted = registered(training_tags(), "RUNNING")  # MLflow went away before tagging
    failed = registered(training_tags(), "FAILED")
    champion = registered(training_tags(), "FAILED")
    client.set_registered_model_alias("genre", "champion", champion)
    finished = registered(training_tags(), "FINISHED")  # a stale task id: a whole training
    other_task = registered({AIRFLOW_TASK_TAG: "train_genre/manual__2/train"}, "RUNNING")
    outside_airflow = registered({}, "RUNNING")

    assert sorted(discard_interrupted_tries(client, experiment, "genre")) == [interrupted, failed]

    kept = {str(v.version) for v in client.search_model_versions("name = 'genre'")}
    assert kept == {champion, finished, other_task, outside_airflow}
    runs = client.search_runs([experiment], f"tags.{AIRFLOW_TASK_TAG} = '{airflow_task()}'")
    assert "RUNNING" not in {run.info.status for run in runs}  # interrupted tries end FAILED
