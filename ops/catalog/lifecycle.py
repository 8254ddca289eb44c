"""The catalog's validate and version steps (the DAG tasks and CLI commands call these)."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ops.atomic import atomic_open
from ops.catalog.counts import catalog_counts
from ops.catalog.results import CatalogValidation, CatalogVersion, MergeSummary, RunSummary
from ops.catalog.schema import ITEM_SCHEMA, QUARANTINE_SCHEMA
from ops.catalog.store import (
    catalog_lock,
    mark_unversioned,
    mark_validated,
    mark_versioned,
    needs_validation,
    needs_version,
    read_catalog,
    read_quarantine,
    rows_to_validate,
    write_catalog,
    write_quarantine,
)
from ops.settings import Settings, get_settings

# Crawl timestamps change on every run; a dataset revision records content, not visits.
VOLATILE_COLUMNS = {"catalog.parquet": ["last_seen"], "quarantine.parquet": ["at"]}
# Row order carries no meaning, so a revision sorts on the identifying columns: the same
# content then gives the same bytes, and an unchanged catalog never makes a new revision.
SNAPSHOT_ORDER = {
    "catalog.parquet": ["source", "item_id"],
    "quarantine.parquet": ["source", "stage", "url", "item_id", "check", "reason"],
}


def validate_catalog_step(
    settings: Settings | None = None, run_name: str | None = None
) -> CatalogValidation:
    """Run the GX suites over the rows merged since the last validation (every row when no
    merge recorded any: a validation on demand); quarantine failures; keep the report.

    Rows no merge changed keep the outcome of the validation that last saw them, so an
    ingest that changed nothing runs no suite at all, and one that changed k rows checks k.
    """
    from ops.validation.catalog_suite import validate_catalog

    settings = settings or get_settings()
    run_name = run_name or datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    with catalog_lock(settings):
        only = rows_to_validate(settings)
        catalog = read_catalog(settings.catalog_path)
        outcome = validate_catalog(catalog, settings, run_name=run_name, only=only)
        quarantine = read_quarantine(settings.quarantine_path)
        redone = quarantine["stage"] == "validate"
        if only is not None:
            redone &= quarantine["item_id"].isin(only)
        if outcome.statistics["rows_checked"] or redone.any():
            kept = quarantine[~redone]
            parts = [p for p in (kept, outcome.quarantine) if len(p)]
            quarantine = pd.concat(parts, ignore_index=True) if parts else kept
            mark_unversioned(settings)
            write_catalog(outcome.catalog, settings.catalog_path)
            write_quarantine(quarantine, settings.quarantine_path)
        mark_validated(settings)
    return CatalogValidation(
        success=outcome.success,
        statistics=outcome.statistics,
        report=str(outcome.report_html) if outcome.report_html else "",
        counts=catalog_counts(outcome.catalog, quarantine),
    )


def _snapshot(catalog: pd.DataFrame, quarantine: pd.DataFrame, folder: Path) -> dict[str, Path]:
    """Write the versioned form of the tables (volatile columns dropped) into ``folder``."""
    tables = {
        "catalog.parquet": (catalog, ITEM_SCHEMA),
        "quarantine.parquet": (quarantine, QUARANTINE_SCHEMA),
    }
    files = {}
    for name, (frame, schema) in tables.items():
        kept = [field for field in schema if field.name not in VOLATILE_COLUMNS[name]]
        ordered = frame[[f.name for f in kept]].sort_values(SNAPSHOT_ORDER[name], kind="stable")
        table = pa.Table.from_pandas(ordered, schema=pa.schema(kept), preserve_index=False)
        files[name] = folder / name
        pq.write_table(table, files[name])
    return files


def version_catalog(
    settings: Settings | None = None,
    merged: MergeSummary | None = None,
    validated: CatalogValidation | None = None,
) -> CatalogVersion:
    """Commit the catalog to the DVC data registry when its content changed.

    ``merged`` and ``validated`` (what this run did before) are recorded with the
    revision. Holds the catalog lock, and validates first when a merge wrote rows since
    the last validation, so a revision never records rows that validation has not seen.
    Tables that neither merge nor validation changed since the last revision are not
    snapshotted at all: the registry is only asked for its latest revision.
    """
    from ops.datasets.registry import DataRegistry

    settings = settings or get_settings()
    registry = DataRegistry.from_settings(settings)
    created = None
    with catalog_lock(settings):
        if needs_validation(settings):
            validated = validate_catalog_step(settings)
        summary = RunSummary(merge=merged, validation=validated)
        catalog = read_catalog(settings.catalog_path)
        quarantine = read_quarantine(settings.quarantine_path)
        counts = catalog_counts(catalog, quarantine)
        latest = None if needs_version(settings) else registry.latest("catalog")
        if latest is None:
            with tempfile.TemporaryDirectory(dir=settings.home) as tmp:
                files = _snapshot(catalog, quarantine, Path(tmp))
                created = registry.commit(
                    "catalog",
                    files,
                    message=f"catalog: {counts.describe()}",
                    metadata={
                        "counts": counts.model_dump(),
                        "summary": summary.model_dump(mode="json"),
                    },
                )
            mark_versioned(settings)
            latest = created or registry.latest("catalog")
    result = CatalogVersion(
        changed=created is not None,
        revision=latest.tag if latest else None,
        commit=latest.commit if latest else None,
        items=len(catalog),
        counts=counts,
        summary=summary,
    )
    with atomic_open(settings.reports_dir / "ingest" / "latest.json") as handle:
        handle.write(result.model_dump_json(indent=2))
    return result


def last_catalog_version(settings: Settings) -> CatalogVersion | None:
    """What the last ingest run did (written by :func:`version_catalog`), if one ran."""
    path = settings.reports_dir / "ingest" / "latest.json"
    if not path.is_file():
        return None
    return CatalogVersion.model_validate_json(path.read_text(encoding="utf-8"))
