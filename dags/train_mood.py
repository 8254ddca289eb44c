"""train_mood: params -> labelled pictures (versioned) -> train + register (GPU pool/queue)
-> champion.

Triggered by hand with params (the Airflow UI's trigger form, or ``cinescope trigger
train_mood --conf '{"folds": 5}'``): the fields of ``MoodTrainParams``, each one given
replacing the params file's ``mood:`` value for this run, the whole set validated before
anything runs. The labelled folder is ``CINESCOPE_MOOD_DATA_DIR`` (generated stand-ins
when unset), versioned as ``labels/mood/vN``; training runs in pool ``gpu`` on queue
``gpu`` like the other models' and registers a ``mood`` version, which the gate makes
champion when its k-fold accuracy beats the champion's. A new champion emits the mood
champion Asset.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import dag, task
from airflow.sdk.exceptions import AirflowSkipException

from ops.assets import MOOD_CHAMPION, MOOD_LABELS
from ops.dag_params import params_from_model
from ops.datasets.folders import LabelledFolder
from ops.mood.pipeline import MoodTrainParams, TrainedMood
from ops.xcom import typed_task


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    params=params_from_model(MoodTrainParams),
    tags=["cinescope", "mood", "training"],
    doc_md=__doc__,
)
def train_mood() -> None:
    @task
    @typed_task
    def validated_params(*, dag_run: Any = None) -> MoodTrainParams:
        from ops.mood.pipeline import run_params
        from ops.settings import get_settings

        given = (dag_run.conf if dag_run is not None else None) or {}
        return run_params(get_settings(), given)

    @task(outlets=[MOOD_LABELS])
    @typed_task
    def labelled_pictures(*, outlet_events: Any = None) -> LabelledFolder:
        from ops.mood.pipeline import data_step

        labelled = data_step()
        if outlet_events is not None:
            outlet_events[MOOD_LABELS].extra = {"revision": labelled.dataset_rev}
        return labelled

    @task(pool="gpu", queue="gpu", retries=2)
    @typed_task
    def train(train_params: MoodTrainParams, labelled: LabelledFolder) -> TrainedMood:
        from ops.mood.pipeline import train_step

        return train_step(data=labelled, params=train_params)

    @task(outlets=[MOOD_CHAMPION])
    @typed_task
    def champion(trained: TrainedMood, *, outlet_events: Any = None) -> TrainedMood:
        registered = trained.registered
        if not registered.promoted:  # a skipped task emits no Asset event
            raise AirflowSkipException(f"champion kept: {registered.reason}")
        if outlet_events is not None:
            outlet_events[MOOD_CHAMPION].extra = {"version": registered.version}
        return trained

    train_params = validated_params()
    labelled = labelled_pictures()
    train_params >> labelled  # bad params version nothing
    champion(train(train_params, labelled))


train_mood_dag = train_mood()
