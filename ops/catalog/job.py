"""The whole ingest job without Airflow: the same steps the ``catalog_ingest`` DAG runs."""

from __future__ import annotations

from collections.abc import Sequence

from ops.catalog.lifecycle import validate_catalog_step, version_catalog
from ops.catalog.merge import merge_staged
from ops.catalog.results import CatalogVersion
from ops.catalog.store import catalog_lock
from ops.ingest.pipeline import Progress, ingest_source, list_source_names, new_run_id
from ops.settings import Settings, get_settings


def run_ingest_job(
    sources: Sequence[str] = (),
    settings: Settings | None = None,
    progress: Progress | None = None,
) -> CatalogVersion:
    """Ingest the given sources (default: all), then merge, validate and version.

    Sources are crawled outside any lock; merge, validate and version run as one unit under
    the catalog lock, so a concurrent ingest waits (and says so through ``progress``)
    rather than slipping unvalidated rows into this run's revision.
    """
    settings = settings or get_settings()
    run_id = new_run_id()
    names = list_source_names(settings, sources)
    staged = [ingest_source(n, run_id=run_id, settings=settings, progress=progress) for n in names]

    report = progress or (lambda phase, done, total: None)
    waited: list[str] = []

    def report_wait(holder: str) -> None:
        waited.append(holder)
        report(holder, 0, 1)

    with catalog_lock(settings, on_wait=report_wait):
        for holder in waited:
            report(holder, 1, 1)
        merged = merge_staged(staged, settings)
        validated = validate_catalog_step(settings, run_name=run_id)
        return version_catalog(settings, merged=merged, validated=validated)
