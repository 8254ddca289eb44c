"""train_genre: params -> labelled music (versioned) -> train + register (GPU pool/queue)
-> champion.

Triggered by hand with params (the Airflow UI's trigger form, or ``cinescope trigger
train_genre --conf '{"folds": 10}'``): the fields of ``GenreTrainParams``, each one given
replacing the params file's ``genre:`` value for this run, the whole set validated
before anything runs. The labelled folder is ``CINESCOPE_GENRE_DATA_DIR`` (generated
stand-ins when unset), versioned as ``labels/genre/vN``; training runs in pool ``gpu``
on queue ``gpu`` like the other models' and registers a ``genre`` version, which the
gate makes champion when its k-fold accuracy beats the champion's. A new champion emits
the genre champion Asset.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import dag, task
from airflow.sdk.exceptions import AirflowSkipException

from ops.assets import GENRE_CHAMPION, GENRE_LABELS
from ops.dag_params import params_from_model
from ops.datasets.folders import LabelledFolder
from ops.genre.pipeline import GenreTrainParams, TrainedGenre
from ops.xcom import typed_task


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    params=params_from_model(GenreTrainParams),
    tags=["cinescope", "genre", "training"],
    doc_md=__doc__,
)
def train_genre() -> None:
    @task
    @typed_task
    def validated_params(*, dag_run: Any = None) -> GenreTrainParams:
        from ops.genre.pipeline import run_params
        from ops.settings import get_settings

        given = (dag_run.conf if dag_run is not None else None) or {}
        return run_params(get_settings(), given)

    @task(outlets=[GENRE_LABELS])
    @typed_task
    def labelled_music(*, outlet_events: Any = None) -> LabelledFolder:
        from ops.genre.pipeline import data_step

        labelled = data_step()
        if outlet_events is not None:
            outlet_events[GENRE_LABELS].extra = {"revision": labelled.dataset_rev}
        return labelled

    @task(pool="gpu", queue="gpu", retries=2)
    @typed_task
    def train(train_params: GenreTrainParams, labelled: LabelledFolder) -> TrainedGenre:
        from ops.genre.pipeline import train_step

        return train_step(data=labelled, params=train_params)

    @task(outlets=[GENRE_CHAMPION])
    @typed_task
    def champion(trained: TrainedGenre, *, outlet_events: Any = None) -> TrainedGenre:
        registered = trained.registered
        if not registered.promoted:  # a skipped task emits no Asset event
            raise AirflowSkipException(f"champion kept: {registered.reason}")
        if outlet_events is not None:
            outlet_events[GENRE_CHAMPION].extra = {"version": registered.version}
        return trained

    train_params = validated_params()
    labelled = labelled_music()
    train_params >> labelled  # bad params version nothing
    champion(train(train_params, labelled))


train_genre_dag = train_genre()
