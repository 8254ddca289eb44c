"""train_scene: features -> train (GPU pool/queue) -> champion/challenger gate.

Scheduled on the ``labels/scene`` Asset, or triggered by hand. Training runs in pool
``gpu`` on queue ``gpu`` so that, distributed, GPU workers take it; it emits the scene
champion Asset when the gate promotes a new version.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import dag, task
from airflow.sdk.exceptions import AirflowSkipException

from ops.assets import SCENE_CHAMPION, SCENE_LABELS


@dag(
    schedule=[SCENE_LABELS],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["cinescope", "scene", "training"],
    doc_md=__doc__,
)
def train_scene() -> None:
    @task
    def features() -> dict:
        from ops.scene.pipeline import features_step

        return features_step()

    @task(pool="gpu", queue="gpu")
    def train(_: dict) -> dict:
        from ops.scene.pipeline import train_step

        record = train_step()
        return {k: record[k] for k in ("run_id", "version", "dataset_rev", "metrics")}

    @task(outlets=[SCENE_CHAMPION])
    def gate(_: dict, *, outlet_events: Any = None) -> dict:
        from ops.scene.pipeline import evaluate_step

        result = evaluate_step()
        if not result["gate"]["promoted"]:  # a skipped task emits no Asset event
            raise AirflowSkipException(f"champion kept: {result['gate']['reason']}")
        if outlet_events is not None:
            outlet_events[SCENE_CHAMPION].extra = {"version": result["version"]}
        return result["gate"]

    gate(train(features()))


train_scene_dag = train_scene()
