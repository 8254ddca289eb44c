"""catalog_refresh: plan -> inference over shards -> merge -> build indexes -> check -> publish.

Runs daily and whenever the catalog or a model's champion changes. Planning is
incremental (only new or changed items, or tasks whose champion moved), shards are sized
by media duration, and each shard's output appears atomically. The new predictions and
indexes go live only after the prediction checks pass; otherwise the previous index
stays live. Thin wiring only: every task calls one ``ops.refresh.job`` function.

Params (a manual run): ``tasks``, the inference tasks to plan (default: all; the others
keep their predictions), and ``force``, tasks whose items are all inferred again.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowSkipException

from ops.assets import CATALOG, SCENE_CHAMPION, SEARCH_INDEX
from ops.dag_params import params_from_model
from ops.refresh.results import (
    BuiltIndex,
    CheckedIndex,
    InferredShard,
    MergedPredictions,
    PlannedShard,
    PublishedRefresh,
    RefreshParams,
    RefreshPlanned,
)
from ops.settings import get_settings
from ops.xcom import typed_task


@dag(
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable(get_settings().refresh_schedule, timezone="UTC"),
        assets=(CATALOG | SCENE_CHAMPION),
    ),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    params=params_from_model(RefreshParams),
    tags=["cinescope", "refresh", "inference", "index"],
    doc_md=__doc__,
)
def catalog_refresh() -> None:
    @task
    @typed_task
    def plan() -> RefreshPlanned:
        from ops.dag_params import model_from_params
        from ops.ingest.pipeline import run_folder_name
        from ops.refresh.job import plan_step

        context = get_current_context()
        params = model_from_params(RefreshParams, context["params"])
        return plan_step(run_folder_name(context["run_id"]), params)

    @task
    @typed_task
    def shards(planned: RefreshPlanned) -> list[PlannedShard]:
        """What ``infer`` fans out over: Airflow maps over a task's whole result only
        ("cannot map over XCom with custom key"), never over one field of it."""
        return planned.shards

    @task(
        pool="gpu",
        queue="gpu",
        retries=2,
        max_active_tis_per_dagrun=get_settings().refresh_parallel_shards,
    )
    @typed_task
    def infer(planned: RefreshPlanned, shard: PlannedShard) -> InferredShard:
        from ops.refresh.job import infer_step

        return infer_step(planned, shard)

    @task(trigger_rule="none_failed")
    @typed_task
    def merge(planned: RefreshPlanned) -> MergedPredictions:
        from ops.refresh.job import merge_step

        return merge_step(planned)

    @task
    @typed_task
    def build(merged: MergedPredictions) -> BuiltIndex:
        from ops.refresh.job import NothingChanged, build_step

        try:
            return build_step(merged)
        except NothingChanged as exc:  # check and publish are skipped too: no Asset event
            raise AirflowSkipException(str(exc)) from exc

    @task
    @typed_task
    def check(built: BuiltIndex) -> CheckedIndex:
        from ops.refresh.job import check_step

        return check_step(built)

    @task(outlets=[SEARCH_INDEX])
    @typed_task
    def publish(checked: CheckedIndex, *, outlet_events: Any = None) -> PublishedRefresh:
        from ops.refresh.job import publish_step

        published = publish_step(checked)
        if outlet_events is not None:
            outlet_events[SEARCH_INDEX].extra = {
                "version": published.index_version,
                "predictions_version": published.predictions_version,
            }
        return published

    planned = plan()
    inferred = infer.partial(planned=planned).expand(shard=shards(planned))
    merged = merge(planned)
    inferred >> merged
    publish(check(build(merged)))


catalog_refresh_dag = catalog_refresh()
