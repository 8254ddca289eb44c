"""Faults the cluster survives: a worker killed mid-shard, the scheduler restarted mid-run,
two refreshes at once, the MLflow server gone for a moment in the middle of training.

Each test leaves every service running again. The MLflow one comes last: should its
training beat the champion, the new champion would start a refresh of its own.
"""

from __future__ import annotations

import re
import time

import psycopg
import pytest

from ops.catalog.store import read_catalog
from ops.index.build import index_versions
from ops.predictions.store import PredictionsStore
from ops.tracking_store import AIRFLOW_TASK_TAG, CHAMPION_ALIAS
from tests.distributed.cluster import GPU_WORKER, Cluster, TaskTry, wait_until
from tests.distributed.conftest import TINY_TRAINING, Pipeline

pytestmark = pytest.mark.distributed

OCR_AGAIN = {"tasks": ["ocr"], "force": ["ocr"]}  # one shard, the slowest task: tens of seconds
SCENE_AGAIN = {"tasks": ["scene"], "force": ["scene"]}


def _tries_of(cluster: Cluster, dag_id: str, run_id: str, task_id: str) -> list[TaskTry]:
    return [ran for ran in cluster.tries(dag_id, run_id) if ran.task_id == task_id]


def test_a_worker_killed_in_the_middle_of_a_shard_is_retried_and_every_item_indexed_once(
    cluster: Cluster, pipeline: Pipeline
) -> None:
    run_id = cluster.trigger("catalog_refresh", OCR_AGAIN)
    wait_until(  # the shard has written its first item, not its last
        lambda: "ocr-0000 [1/" in cluster.task_log("catalog_refresh", run_id, "infer", 0),
        300,
        "the shard's first item",
        cluster,
    )
    cluster.services[GPU_WORKER].kill()
    killed = cluster.task_log("catalog_refresh", run_id, "infer", 0)
    assert not re.search(r"ocr-0000 \[(\d+)/\1\]", killed)  # its last item was not reached
    cluster.restart(GPU_WORKER)  # as its supervisor would (compose: restart: unless-stopped)

    assert cluster.wait_for_run("catalog_refresh", run_id) == "success"
    infer = _tries_of(cluster, "catalog_refresh", run_id, "infer")
    assert [ran.state for ran in infer][-1] == "success"
    assert infer[0].state != "success" and infer[-1].try_number > 1
    assert {ran.hostname for ran in infer} == {GPU_WORKER}
    log = cluster.task_log("catalog_refresh", run_id, "infer", 0)
    assert log.count("ocr-0000 [1/") >= 2  # the retry started the shard over

    catalog = read_catalog(cluster.settings.catalog_path)
    ok = set(catalog.loc[catalog["status"] == "ok", "item_id"])
    assert cluster.published_item_counts() == dict.fromkeys(ok, 1)
    store = PredictionsStore(cluster.settings)
    ledger = store.read_ledger()
    ocr = ledger[ledger["task"] == "ocr"]
    assert ocr["item_id"].is_unique and not ocr.empty
    rows = store.read_predictions("ocr")
    assert not rows.duplicated(["item_id", "start_s", "end_s", "label"]).any()


def test_the_scheduler_restarted_in_the_middle_of_a_run_and_the_run_completes(
    cluster: Cluster, pipeline: Pipeline
) -> None:
    run_id = cluster.trigger("catalog_refresh", SCENE_AGAIN)
    wait_until(
        lambda: any(
            ran.task_id == "plan" and ran.state == "success"
            for ran in cluster.tries("catalog_refresh", run_id)
        ),
        300,
        "the plan",
        cluster,
    )
    cluster.services["scheduler"].kill()
    left = [ran.task_id for ran in cluster.tries("catalog_refresh", run_id) if ran.state is None]
    assert "publish" in left  # the rest of the run is the new scheduler's to schedule
    time.sleep(3)
    cluster.restart("scheduler")

    assert cluster.wait_for_run("catalog_refresh", run_id) == "success"
    states = {ran.task_id: ran.state for ran in cluster.tries("catalog_refresh", run_id)}
    assert states["publish"] == "success"
    assert set(states.values()) <= {"success", "skipped"}


def test_two_refreshes_at_once_one_waits_and_nothing_is_built_twice(
    cluster: Cluster, pipeline: Pipeline
) -> None:
    from mlflow import MlflowClient

    from ops.scene.tracking import load_scene_model, register_scene_model

    # a new scene champion (the same weights, registered again): every video is due again
    client = MlflowClient(cluster.mlflow_url)
    champion = client.get_model_version_by_alias("scene", CHAMPION_ALIAS)
    register_scene_model(
        load_scene_model(f"models:/scene/{champion.version}", cluster.mlflow_url),
        dataset_rev=champion.tags["dataset_rev"],
        training_data="generated",
        tracking_uri=cluster.mlflow_url,
        champion=True,
    )
    built_before = {version.name for version in index_versions(cluster.settings)}
    runs = [cluster.trigger("catalog_refresh"), cluster.trigger("catalog_refresh")]

    seen: set[tuple[str, ...]] = set()

    def both_ended() -> bool:
        states = tuple(sorted(cluster.run_state("catalog_refresh", run_id) for run_id in runs))
        seen.add(states)
        return all(state == "success" for state in states)

    wait_until(both_ended, 600, "both refreshes", cluster, every_s=0.5)
    assert ("queued", "running") in seen  # max_active_runs=1: one waits for the other
    assert ("running", "running") not in seen

    times = {run_id: cluster.run_times("catalog_refresh", run_id) for run_id in runs}
    first, second = sorted(runs, key=times.__getitem__)
    assert times[first][1] <= times[second][0]  # the second started after the first ended
    built = {
        run_id: {ran.state for ran in _tries_of(cluster, "catalog_refresh", run_id, "build")}
        for run_id in runs
    }
    assert built == {first: {"success"}, second: {"skipped"}}  # the second had nothing to do
    built_after = {version.name for version in index_versions(cluster.settings)}
    assert len(built_after - built_before) == 1


def test_mlflow_gone_in_the_middle_of_training_the_task_retries_and_registers_once(
    cluster: Cluster, pipeline: Pipeline
) -> None:
    from mlflow import MlflowClient

    mlflow_db = cluster.databases.names["mlflow"]
    count_versions = "SELECT count(*) FROM model_versions WHERE name = 'scene'"
    with (
        psycopg.connect(cluster.databases.url("mlflow")) as blocker,
        psycopg.connect(cluster.databases.url("mlflow"), autocommit=True) as watcher,
    ):
        before = watcher.execute(count_versions).fetchone()
        # Hold version tags still: the try registers its version, then waits on its first
        # tag, and that is when the server goes (the moment a retry could register twice).
        blocker.execute("LOCK TABLE model_version_tags IN SHARE MODE")
        run_id = cluster.trigger("train_scene", TINY_TRAINING)
        wait_until(
            lambda: (
                watcher.execute(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = %s AND wait_event_type = 'Lock'",
                    (mlflow_db,),
                ).fetchone()
                == (1,)
            ),
            600,
            "the training to tag its registered version",
            cluster,
        )
        registered = watcher.execute(count_versions).fetchone()
        cluster.services["mlflow"].kill()
        blocker.rollback()
    assert before is not None and registered == (before[0] + 1,)  # this try's version

    wait_until(
        lambda: any(
            ran.state in ("up_for_retry", "failed") or ran.try_number > 1
            for ran in _tries_of(cluster, "train_scene", run_id, "train")
        ),
        120,
        "the training try to fail",
        cluster,
    )
    time.sleep(3)  # unreachable for a moment
    cluster.restart("mlflow")

    assert cluster.wait_for_run("train_scene", run_id) == "success"
    train = _tries_of(cluster, "train_scene", run_id, "train")
    assert train[0].state != "success" and train[-1].state == "success"
    assert {ran.hostname for ran in train} == {GPU_WORKER}

    client = MlflowClient(cluster.mlflow_url)
    task = f"train_scene/{run_id}/train"
    experiment = client.get_experiment_by_name("scene")
    assert experiment is not None
    tagged = client.search_runs([experiment.experiment_id], f"tags.{AIRFLOW_TASK_TAG} = '{task}'")
    runs = [run for run in tagged if "mlflow.parentRunId" not in run.data.tags]  # one a try
    statuses = [run.info.status for run in runs]
    assert statuses.count("FINISHED") == 1 and set(statuses) == {"FAILED", "FINISHED"}
    versions = [
        version
        for version in client.search_model_versions("name = 'scene'")
        if version.run_id in {run.info.run_id for run in runs}
    ]
    assert len(versions) == 1  # registered once, by the try that finished
    finished = next(run for run in runs if run.info.status == "FINISHED")
    assert versions[0].run_id == finished.info.run_id
    assert client.get_model_version("scene", versions[0].version).tags["dataset_rev"]
