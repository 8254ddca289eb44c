"""train_scene: params -> features -> train (GPU pool/queue) -> champion/challenger gate.

Scheduled on the ``labels/scene`` Asset, or triggered by hand with params (the Airflow
UI's trigger form, or ``cinescope trigger train_scene --conf '{"epochs": 5}'``). The
params are ``TrainParams``' fields: each one a trigger gives replaces the params file's
value for this run, the whole set is validated by ``TrainParams`` before anything runs,
and the run's params are those of its MLflow run. Training runs in pool ``gpu`` on queue
``gpu`` so that, distributed, GPU workers take it; the gate emits the scene champion
Asset when it promotes a new version.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import dag, task
from airflow.sdk.exceptions import AirflowSkipException

from ops.assets import SCENE_CHAMPION, SCENE_LABELS
from ops.dag_params import params_from_model
from ops.scene.params import TrainParams
from ops.scene.results import EvaluatedModel, PreparedFeatures, TrainedModel
from ops.xcom import typed_task


@dag(
    schedule=[SCENE_LABELS],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    params=params_from_model(TrainParams),
    tags=["cinescope", "scene", "training"],
    doc_md=__doc__,
)
def train_scene() -> None:
    @task
    @typed_task
    def validated_params(*, dag_run: Any = None) -> TrainParams:
        from ops.scene.pipeline import run_params
        from ops.settings import get_settings

        given = (dag_run.conf if dag_run is not None else None) or {}
        return run_params(get_settings(), given)

    @task
    @typed_task
    def features(train_params: TrainParams) -> PreparedFeatures:
        from ops.scene.pipeline import features_step

        return features_step(params=train_params)

    @task(pool="gpu", queue="gpu", retries=2)
    @typed_task
    def train(prepared: PreparedFeatures) -> TrainedModel:
        from ops.scene.pipeline import train_step

        return train_step(features=prepared)

    @task(outlets=[SCENE_CHAMPION])
    @typed_task
    def gate(trained: TrainedModel, *, outlet_events: Any = None) -> EvaluatedModel:
        from ops.scene.pipeline import evaluate_step

        evaluated = evaluate_step(trained=trained)
        if not evaluated.gate.promoted:  # a skipped task emits no Asset event
            raise AirflowSkipException(f"champion kept: {evaluated.gate.reason}")
        if outlet_events is not None:
            outlet_events[SCENE_CHAMPION].extra = {"version": evaluated.version}
        return evaluated

    gate(train(features(validated_params())))


train_scene_dag = train_scene()
