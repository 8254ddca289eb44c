"""catalog_refresh: plan -> inference over shards -> merge -> build indexes -> check -> publish.

Runs daily and whenever the catalog or a model's champion changes. Planning is
incremental (only new or changed items, or tasks whose champion moved), shards are sized
by media duration, and each shard's output appears atomically. The new predictions and
indexes go live only after the prediction checks pass; otherwise the previous index
stays live. Thin wiring only: every task calls one ``ops.refresh.job`` function.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowSkipException

from ops.assets import CATALOG, SCENE_CHAMPION, SEARCH_INDEX
from ops.settings import get_settings


@dag(
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable(get_settings().refresh_schedule, timezone="UTC"),
        assets=(CATALOG | SCENE_CHAMPION),
    ),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["cinescope", "refresh", "inference", "index"],
    doc_md=__doc__,
)
def catalog_refresh() -> None:
    @task
    def plan() -> dict:
        from ops.ingest.pipeline import run_folder_name
        from ops.refresh.job import plan_step

        return plan_step(run_folder_name(get_current_context()["run_id"]))

    @task
    def shards(planned: dict) -> list[dict]:
        return [{"run_id": planned["run_id"], **shard} for shard in planned["shards"]]

    @task(pool="gpu", queue="gpu", retries=2, max_active_tis_per_dagrun=4)
    def infer(shard: dict) -> dict:
        from ops.refresh.job import infer_step

        return infer_step(shard["run_id"], shard)

    @task(trigger_rule="none_failed")
    def merge(planned: dict, _: Any) -> dict:
        from ops.refresh.job import merge_step

        return merge_step(planned)

    @task
    def build(merged: dict) -> dict:
        from ops.refresh.job import NothingChanged, build_step

        try:
            return build_step(merged)
        except NothingChanged as exc:  # check and publish are skipped too: no Asset event
            raise AirflowSkipException(str(exc)) from exc

    @task
    def check(built: dict) -> dict:
        from ops.refresh.job import check_step

        return check_step(built)

    @task(outlets=[SEARCH_INDEX])
    def publish(checked: dict, *, outlet_events: Any = None) -> dict:
        from ops.refresh.job import publish_step

        published = publish_step(checked)
        if outlet_events is not None:
            outlet_events[SEARCH_INDEX].extra = {
                "version": published["index_version"],
                "predictions_version": published["predictions_version"],
            }
        return published

    planned = plan()
    inferred = infer.expand(shard=shards(planned))
    publish(check(build(merge(planned, inferred))))


catalog_refresh_dag = catalog_refresh()
