"""catalog_ingest: crawl every source (one mapped task each), merge, validate, version.

Param ``sources``: the names of sources.yaml entries to crawl (empty, the default: all).

Thin wiring only: each task calls one ``ops`` function, imported inside the
task body so that parsing this file stays cheap.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import dag, get_current_context, task

from ops.assets import CATALOG
from ops.catalog.results import CatalogValidation, CatalogVersion, IngestParams, MergeSummary
from ops.dag_params import params_from_model
from ops.ingest.staged import StagedSource
from ops.settings import get_settings
from ops.xcom import typed_task


@dag(
    schedule=get_settings().ingest_schedule,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    params=params_from_model(IngestParams),
    tags=["cinescope", "ingest"],
    doc_md=__doc__,
)
def catalog_ingest() -> None:
    @task
    def list_sources() -> list[str]:
        from ops.dag_params import model_from_params
        from ops.ingest.pipeline import list_source_names

        params = model_from_params(IngestParams, get_current_context()["params"])
        return list_source_names(chosen=params.sources)

    @task(retries=2)
    @typed_task
    def ingest(source: str) -> StagedSource:
        from ops.ingest.pipeline import ingest_source, run_folder_name

        return ingest_source(source, run_id=run_folder_name(get_current_context()["run_id"]))

    @task
    @typed_task
    def merge(staged: list[StagedSource]) -> MergeSummary:
        from ops.catalog.merge import merge_staged

        return merge_staged(staged)

    @task
    @typed_task
    def validate() -> CatalogValidation:
        from ops.catalog.lifecycle import validate_catalog_step

        return validate_catalog_step()

    @task(outlets=[CATALOG])
    @typed_task
    def version(
        merged: MergeSummary, validated: CatalogValidation, *, outlet_events: Any = None
    ) -> CatalogVersion:
        from ops.catalog.lifecycle import version_catalog

        result = version_catalog(merged=merged, validated=validated)
        if outlet_events is not None:
            outlet_events[CATALOG].extra = {"revision": result.revision, "items": result.items}
        return result

    merged = merge(ingest.expand(source=list_sources()))
    validated = validate()
    merged >> validated
    version(merged, validated)


catalog_ingest_dag = catalog_ingest()
