"""catalog_ingest: crawl every source (one mapped task each), merge, validate, version.

Thin wiring only: each task calls one ``ops`` function, imported inside the
task body so that parsing this file stays cheap.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import dag, get_current_context, task

from ops.assets import CATALOG
from ops.settings import get_settings


@dag(
    schedule=get_settings().ingest_schedule,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["cinescope", "ingest"],
    doc_md=__doc__,
)
def catalog_ingest() -> None:
    @task
    def list_sources() -> list[str]:
        from ops.ingest.pipeline import list_source_names

        return list_source_names()

    @task(retries=2)
    def ingest(source: str) -> dict:
        from ops.ingest.pipeline import ingest_source, run_folder_name

        run_id = run_folder_name(get_current_context()["run_id"])
        return ingest_source(source, run_id=run_id).to_dict()

    @task
    def merge(staged: list[dict]) -> dict:
        from ops.catalog.merge import merge_staged

        # one read of every mapped result: iterating reads them one by one until Airflow
        # answers "XCom not found" past the last, and logs that answer as an error
        return merge_staged(staged[:])

    @task
    def validate(merged: dict) -> dict:
        from ops.catalog.lifecycle import validate_catalog_step

        return validate_catalog_step() | {"merge": merged}

    @task(outlets=[CATALOG])
    def version(validated: dict, *, outlet_events: Any = None) -> dict:
        from ops.catalog.lifecycle import version_catalog

        result = version_catalog(summary=validated)
        if outlet_events is not None:
            outlet_events[CATALOG].extra = {
                "revision": result["revision"],
                "items": result["items"],
            }
        return {k: result[k] for k in ("changed", "revision", "commit", "items")}

    staged = ingest.expand(source=list_sources())
    version(validate(merge(staged)))


catalog_ingest_dag = catalog_ingest()
